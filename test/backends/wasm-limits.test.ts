/** The CPU backend's limits and failures: thread counts, the 4 GiB memory, a worker that dies. */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/node.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { writeSafetensors } from '../helpers/safetensors-writer.js';

const files = () => randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 64, numLayers: 2, stateSize: 8, seed: 4 });

describe('wasm backend limits', () => {
  it('threads ≤ 0 and absurd counts are rejected; large ones capped with a note', async () => {
    await expect(loadModel(files(), { backend: 'wasm', threads: 0 })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(loadModel(files(), { backend: 'wasm', threads: -3 })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await expect(loadModel(files(), { backend: 'wasm', threads: 100000 })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    const m = await loadModel(files(), { backend: 'wasm', threads: 40 });
    expect(m.backendInfo.threads).toBe(16);
    expect(m.backendInfo.note).toMatch(/capped from 40 to 16/);
    await m.dispose();
  }, 60_000);

  it('a model too big for a 32-bit memory is E_MEMORY naming its size and suggesting a smaller dtype', async () => {
    const config = { model_type: 'mamba', vocab_size: 1_000_000, hidden_size: 1024, num_hidden_layers: 1, state_size: 16 };
    const tiny = { 'config.json': new TextEncoder().encode(JSON.stringify(config)), 'model.safetensors': writeSafetensors({}) };
    const err = await loadModel(tiny, { backend: 'wasm', threads: 1 }).catch((e) => e);
    expect(err.code).toBe('E_MEMORY');
    expect(err.message).toMatch(/needs \d+ bytes.*4 ?GiB|32-bit WebAssembly memory/);
    expect(err.message).toMatch(/f16' or 'q8_0/);
  });

  it('a worker that dies between calls: the next call still runs (the pool replaces it) with the same logits; the model disposes cleanly', async () => {
    const m = await loadModel(randomModelFiles({ modelType: 'mamba', vocabSize: 4096, hiddenSize: 256, numLayers: 1, stateSize: 8, seed: 2 }), { backend: 'wasm', threads: 2 });
    const ids = [[1, 2, 3, 4, 5, 6, 7, 8]];
    const before = await m.forward(ids);
    const pool = (m as unknown as { parts: { backend: { exec: { killWorkerForTest(): void } } } }).parts.backend.exec;
    pool.killWorkerForTest();
    await new Promise((r) => setTimeout(r, 50)); // let the kill land
    const after = await m.forward(ids);
    expect(after.logits).toEqual(before.logits);
    await m.dispose();
    expect(before.logits.length).toBe(8 * 4096);
  }, 60_000);
});
