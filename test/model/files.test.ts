/** Model folders in their other shapes: sharded weights, half-precision files, tokenizer.json. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import { parseSafetensors, toFloat32 } from '../../src/formats/safetensors.js';
import { writeSafetensors, type WriterTensor } from '../helpers/safetensors-writer.js';
import { randomModelFiles } from '../../tools/random-model.js';

const shape = { modelType: 'mamba2', vocabSize: 272, hiddenSize: 24, numLayers: 2, stateSize: 4, headDim: 8, seed: 12 } as const;

function tensorsOf(bytes: Uint8Array): Record<string, WriterTensor> {
  const st = parseSafetensors(bytes, 'model.safetensors');
  return Object.fromEntries([...st.tensors].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, data: toFloat32(t) }]));
}

describe('model files', () => {
  it('sharded weights (model.safetensors.index.json) load to the same model', async () => {
    const files = randomModelFiles(shape);
    const all = Object.entries(tensorsOf(files['model.safetensors']));
    const half = Math.ceil(all.length / 2);
    const shards = [all.slice(0, half), all.slice(half)];
    const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap = Object.fromEntries(shards.flatMap((s, i) => s.map(([n]) => [n, names[i]])));
    const sharded = {
      'config.json': files['config.json'],
      'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap })),
      [names[0]]: writeSafetensors(Object.fromEntries(shards[0])),
      [names[1]]: writeSafetensors(Object.fromEntries(shards[1])),
    };
    const a = await loadModel(files, { backend: 'reference' });
    const b = await loadModel(sharded, { backend: 'reference' });
    expect(b.fingerprint).toBe(a.fingerprint);
    const ids = [[1, 2, 3, 200]];
    expect((await b.forward(ids)).logits).toEqual((await a.forward(ids)).logits);
  });

  it('F16 and BF16 checkpoints load; the fingerprint follows the stored weights', async () => {
    const f32 = await loadModel(randomModelFiles(shape), { backend: 'reference' });
    for (const dtype of ['F16', 'BF16'] as const) {
      const m = await loadModel(randomModelFiles({ ...shape, dtype }), { backend: 'reference' });
      expect(m.fingerprint).not.toBe(f32.fingerprint); // rounded weights are different weights
      const [la, lb] = [(await f32.forward([[5, 6, 7]])).logits, (await m.forward([[5, 6, 7]])).logits];
      const maxDiff = la.reduce((mx, v, i) => Math.max(mx, Math.abs(v - lb[i])), 0);
      expect(maxDiff).toBeLessThan(dtype === 'F16' ? 0.05 : 0.5);
    }
  });

  it('a tokenizer.json model encodes, generates and decodes text', async () => {
    const tokenizerJson = readFileSync(new URL('../fixtures/tokenizer-tiny/tokenizer.json', import.meta.url));
    const files = { ...randomModelFiles(shape), 'tokenizer.json': new Uint8Array(tokenizerJson) };
    const m = await loadModel(files, { backend: 'reference' });
    expect(m.tokenizer.kind).toBe('tokenizer.json');
    const ids = m.tokenizer.encode('héllo 😀');
    expect(m.tokenizer.decode(ids)).toBe('héllo 😀');
    const s = m.createSession();
    const pieces: string[] = [];
    for await (const t of s.generate('hello', { maxTokens: 12, seed: 3, ignoreEos: true })) pieces.push(t.text);
    const r = await s.generate('', { maxTokens: 1, seed: 4, ignoreEos: true }).finished;
    expect(typeof pieces.join('')).toBe('string');
    expect(r.completionTokens).toBe(1);
    // A model whose embedding is smaller than the tokenizer's vocabulary is refused.
    const tooSmall = { ...randomModelFiles({ ...shape, vocabSize: 260 }), 'tokenizer.json': new Uint8Array(tokenizerJson) };
    await expect(loadModel(tooSmall, { backend: 'reference' })).rejects.toMatchObject({ code: 'E_FORMAT' });
  });
});
