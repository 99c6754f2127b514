/**
 * Embeddings read from disk piece by piece (TensorGetter.uploadWhole → Backend.uploadFrom, hashed
 * on the way by Hasher.stream): the same weights, fingerprint and logits, bit for bit, as the same
 * files handed over in memory (read whole, uploaded whole). The model's embedding spans several
 * 1M-value pieces so that piece boundaries are crossed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadModel } from '../../src/node.js';
import { Hasher, OrderedHasher } from '../../src/api/fingerprint.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { goldenGguf } from '../gguf/helpers.js';
import { WasmBackend } from '../../src/backends/wasm/index.js';

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const ids = [[5, 4099 - 1, 17, 300], [2, 9, 1000, 4000]];

function folder(modelType: 'mamba' | 'mamba2', fileDType: 'F32' | 'F16'): { dir: string; files: Record<string, Uint8Array> } {
  const files = randomModelFiles({ modelType, vocabSize: 4099, hiddenSize: 512, numLayers: 1, stateSize: 16, headDim: 64, nGroups: 1, chunkSize: 64, tieWordEmbeddings: modelType === 'mamba', seed: 9, dtype: fileDType });
  const dir = mkdtempSync(join(tmpdir(), 'mamba-edge-pieces-'));
  for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
  return { dir, files };
}

afterEach(() => vi.restoreAllMocks());

describe('embeddings uploaded piece by piece from disk equal the whole-file load', { timeout: 60_000 }, () => {
  for (const [modelType, fileDType, dtype] of [['mamba', 'F32', 'f32'], ['mamba', 'F16', 'f16'], ['mamba2', 'F32', 'q8_0'], ['mamba2', 'F16', 'q8_0']] as const) {
    it(`${modelType} ${fileDType} file → ${dtype} (${modelType === 'mamba' ? 'tied' : 'untied'} head)`, async () => {
      const { dir, files } = folder(modelType, fileDType);
      const streams = vi.spyOn(OrderedHasher.prototype, 'streamNext');
      const progress: number[] = [];
      let total = -1;
      const fromDisk = await loadModel(dir, { backend: 'wasm', threads: 1, dtype, onProgress: (p) => { if (p.file === 'model.safetensors') { progress.push(p.loaded); total = p.total; } } });
      // The embedding (and the untied head) among the matrices that went in pieces (the others: in_proj, out_proj, ...).
      const streamed = streams.mock.calls.filter((_, i) => streams.mock.results[i].value !== null).map(([n]) => n);
      expect(streamed).toContain('backbone.embeddings.weight');
      if (modelType === 'mamba2') expect(streamed).toContain('lm_head.weight');
      expect(streamed).toContain('backbone.layers.0.mixer.out_proj.weight');
      streams.mockClear();
      const fromMemory = await loadModel(files, { backend: 'wasm', threads: 1, dtype });
      expect(streams).not.toHaveBeenCalled();
      try {
        expect(fromDisk.fingerprint).toBe(fromMemory.fingerprint);
        expect(progress).toEqual([...progress].sort((a, b) => a - b));
        expect(progress.at(-1)).toBe(total); // every tensor byte counted once, pieces included
        const [a, b] = [(await fromDisk.forward(ids)).logits, (await fromMemory.forward(ids)).logits];
        expect(bits(a)).toEqual(bits(b));
      } finally {
        await fromDisk.dispose();
        await fromMemory.dispose();
      }
    });
  }

  for (const dtype of ['f32', 'q8_0'] as const) {
    it(`a GGUF ${dtype} file on disk: the embedding ${dtype === 'q8_0' ? 'as its q8_0 blocks' : 'in pieces'}, equal to the bytes loaded whole`, async () => {
      const { dir } = folder('mamba', 'F32');
      const bytes = goldenGguf(dir, dtype);
      const path = join(dir, 'model.gguf');
      writeFileSync(path, bytes);
      const streams = vi.spyOn(Hasher.prototype, 'stream');
      const encoded = vi.spyOn(WasmBackend.prototype, 'uploadEncoded');
      const pieces = vi.spyOn(WasmBackend.prototype, 'uploadFrom');
      const fromDisk = await loadModel(path, { backend: 'wasm', threads: 1 });
      const isEmbedding = (shape: readonly number[]) => shape.length === 2 && shape[0] >= 4099 && shape[1] === 512;
      if (dtype === 'f32') {
        expect(streams).toHaveBeenCalled();
        expect(pieces.mock.calls.some(([shape]) => isEmbedding(shape))).toBe(true);
      } else {
        // q8_0: the embedding's blocks go to the backend as they are (hashed as they pass), never decoded to f32 pieces.
        expect(encoded.mock.calls.some(([, shape, dt]) => isEmbedding(shape) && dt === 'q8_0')).toBe(true);
        expect(pieces.mock.calls.some(([shape]) => isEmbedding(shape))).toBe(false);
      }
      const fromMemory = await loadModel(bytes, { backend: 'wasm', threads: 1 });
      try {
        expect(fromDisk.info.dtype).toBe(dtype);
        expect(fromDisk.fingerprint).toBe(fromMemory.fingerprint);
        const [a, b] = [(await fromDisk.forward(ids)).logits, (await fromMemory.forward(ids)).logits];
        expect(bits(a)).toEqual(bits(b));
      } finally {
        await fromDisk.dispose();
        await fromMemory.dispose();
      }
    });
  }
});

describe('Hasher.stream', () => {
  it('equals update of the joined parts (parts of 4-byte multiples, an odd last part)', () => {
    const data = Uint8Array.from({ length: 1003 }, (_, i) => (i * 37 + 11) & 255);
    const whole = new Hasher().update(data).hex();
    const h = new Hasher();
    const s = h.stream();
    for (const [a, b] of [[0, 400], [400, 404], [404, 1000], [1000, 1003]]) s.push(data.subarray(a, b));
    s.end();
    expect(h.hex()).toBe(whole);
    expect(() => { const t = new Hasher().stream(); t.push(data.subarray(0, 3)); t.push(data.subarray(3, 7)); }).toThrow();
  });
});
