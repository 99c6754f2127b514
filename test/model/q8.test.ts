/**
 * q8_0 weights (quantized at load, wasm backend). Tolerance: q8_0 rounds every weight to
 * 1/254 of its block's max and the kernel quantizes activations the same way, so logits move
 * by about 1% of their scale; greedy tokens on the trained default model and bits per byte
 * must stay (almost) where f32 puts them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/node.js';
import { goldenCases } from '../helpers/goldens.js';

describe('q8_0 at load', () => {
  it('the default model: bits per byte within 0.03 of f32, greedy text agrees at first, a third of the bytes', async () => {
    const f32 = await loadModel(undefined, { backend: 'wasm', threads: 1 });
    const q8 = await loadModel(undefined, { backend: 'wasm', threads: 1, dtype: 'q8_0' });
    expect(q8.fingerprint).toBe(f32.fingerprint);
    expect(q8.info.dtype).toBe('q8_0');
    expect(q8.info.weightBytes).toBeLessThan(f32.info.weightBytes * 0.3);
    const opts = { maxTokens: 40, temperature: 0, ignoreEos: true };
    const a = await f32.createSession().generate('The quick brown fox', opts).finished;
    const b = await q8.createSession().generate('The quick brown fox', opts).finished;
    // A 5M-parameter byte model has small top-1 margins: quantization noise may flip a late
    // token, after which greedy paths part. The first 16 bytes must agree.
    expect(b.text.slice(0, 16)).toBe(a.text.slice(0, 16));
    const text = readFileSync(new URL('../../models/default/heldout-sample.txt', import.meta.url), 'utf8').slice(0, 4000);
    const [ea, eb] = [await f32.evaluate(text), await q8.evaluate(text)];
    expect(Math.abs(eb.bitsPerByte - ea.bitsPerByte)).toBeLessThan(0.03);
    await f32.dispose(); await q8.dispose();
  }, 120_000);

  it('golden models give the same greedy tokens (rows not a multiple of 32 stay f16)', async () => {
    for (const c of goldenCases().slice(0, 4)) {
      const m = await loadModel(c.dir, { backend: 'wasm', threads: 1, dtype: 'q8_0' });
      const r = await m.createSession().generate(c.greedyPrompt, { temperature: 0, maxTokens: c.greedyTokens.length, ignoreEos: true });
      const ids: number[] = [];
      for await (const t of r) ids.push(t.id);
      expect(ids).toEqual(c.greedyTokens);
      await m.dispose();
    }
  }, 60_000);

  it('the reference backend refuses q8_0 with E_BACKEND; auto picks wasm', async () => {
    await expect(loadModel(undefined, { backend: 'reference', dtype: 'q8_0' })).rejects.toMatchObject({ code: 'E_BACKEND', message: expect.stringMatching(/q8_0/) });
    const m = await loadModel(undefined, { dtype: 'q8_0', threads: 1 });
    expect(m.backend).toBe('wasm');
    await m.dispose();
  });
});
