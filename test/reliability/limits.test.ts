/**
 * maxMemoryBytes covers everything a model allocates, and a refusal says what would fit:
 * weights (at load), every open session's state, prefill working memory, forward outputs.
 */
import { describe, expect, it } from 'vitest';
import { loadModel, MambaEdgeError } from '../../src/node.js';
import type { ModelImpl } from '../../src/api/model.js';
import { randomModelFiles } from '../../tools/random-model.js';

const files = () => randomModelFiles({ modelType: 'mamba', vocabSize: 300, hiddenSize: 16, numLayers: 2, stateSize: 8, seed: 5 });

async function measure() {
  const m = (await loadModel(files(), { backend: 'reference' })) as ModelImpl;
  const sizes = { weights: m.info.weightBytes, state: m.info.stateBytes, working: m.chunkBytes(1) };
  await m.dispose();
  return sizes;
}

function memoryError(f: () => unknown): MambaEdgeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MambaEdgeError);
    expect((e as MambaEdgeError).code).toBe('E_MEMORY');
    return e as MambaEdgeError;
  }
  throw new Error('expected E_MEMORY');
}

describe('maxMemoryBytes', () => {
  it('counts every open session: the one too many is refused, naming how many fit; disposing one makes room', async () => {
    const { weights, state, working } = await measure();
    const m = await loadModel(files(), { backend: 'reference', maxMemoryBytes: weights + 3 * state + working });
    const sessions = [m.createSession(), m.createSession(), m.createSession()];
    const e = memoryError(() => m.createSession());
    expect(e.message).toMatch(/held by 3 open session\(s\)/);
    expect(e.message).toMatch(/room for 0 more session\(s\)/);
    await sessions[0].dispose();
    const again = m.createSession();
    expect(await again.prefill([1, 2, 3])).toHaveLength(300);
    await m.dispose();
  });

  it('a session opened before others still prefills only if its working memory fits', async () => {
    const { weights, state, working } = await measure();
    // Room for two sessions' states and one prefill's working memory.
    const m = await loadModel(files(), { backend: 'reference', maxMemoryBytes: weights + 2 * state + working });
    const a = m.createSession();
    const b = m.createSession();
    expect(await a.prefill([1, 2])).toHaveLength(300);
    expect(await b.prefill([3, 4])).toHaveLength(300);
    await m.dispose();
  });

  it('model.forward refuses an input too long and says the longest that fits; that length runs', async () => {
    const { weights } = await measure();
    const m = await loadModel(files(), { backend: 'reference', maxMemoryBytes: weights + 2_000_000 });
    const e = await m.forward([new Array(5000).fill(1)]).catch((x) => x);
    expect(e.code).toBe('E_MEMORY');
    const longest = Number(/at most (\d+) tokens per row fit in a batch of 1/.exec(e.message)?.[1]);
    expect(longest).toBeGreaterThan(0);
    expect(longest).toBeLessThan(5000);
    const ok = await m.forward([new Array(longest).fill(1)]);
    expect(ok.shape).toEqual([1, longest, 300]);
    await expect(m.forward([new Array(longest + 1).fill(1)])).rejects.toMatchObject({ code: 'E_MEMORY' });
    await m.dispose();
  });

  it('session.forward says the longest call that fits; prefill of any length still runs in bounded memory', async () => {
    const { weights, state } = await measure();
    const m = await loadModel(files(), { backend: 'reference', maxMemoryBytes: weights + state + 1_500_000 });
    const s = m.createSession();
    const e = await s.forward(new Array(4000).fill(2)).catch((x) => x);
    expect(e.code).toBe('E_MEMORY');
    const longest = Number(/at most (\d+) tokens fit in one session\.forward call/.exec(e.message)?.[1]);
    expect(longest).toBeGreaterThan(0);
    expect(await s.forward(new Array(longest).fill(2))).toHaveLength(longest * 300);
    expect(await s.prefill(new Array(4000).fill(2))).toHaveLength(300);
    await m.dispose();
  });

  it('a backend\'s prefillChunkMultiple is halved until a chunk fits under maxMemoryBytes, never below the graph\'s chunk; prefill equals the unchunked result', async () => {
    const { weights, state, working } = await measure(); // working: one 256-token chunk
    const asIf16 = (m: ModelImpl) => Object.defineProperty(m.parts.backend, 'prefillChunkMultiple', { value: 16, configurable: true });
    const free = (await loadModel(files(), { backend: 'reference' })) as ModelImpl;
    asIf16(free);
    expect(free.prefillChunkTokens()).toBe(16 * 256);
    // room for a chunk of 3 graph chunks: the multiple goes 16 → 8 → 4 → 2
    const tight = (await loadModel(files(), { backend: 'reference', maxMemoryBytes: weights + state + 3 * working })) as ModelImpl;
    asIf16(tight);
    expect(tight.prefillChunkTokens()).toBe(2 * 256);
    expect(tight.chunkBytes(1)).toBeLessThanOrEqual(3 * working);
    const least = (await loadModel(files(), { backend: 'reference', maxMemoryBytes: weights + state + working })) as ModelImpl;
    asIf16(least);
    expect(least.prefillChunkTokens()).toBe(256);
    const prompt = Array.from({ length: 700 }, (_, i) => (i * 37) % 300);
    const [a, b] = await Promise.all([free, tight].map((m) => m.createSession().prefill(prompt)));
    let worst = 0;
    a.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - b[i])); });
    expect(worst).toBeLessThanOrEqual(1e-4); // 4096- vs 512-token chunks: the same recurrence, f32 sums regrouped
    for (const m of [free, tight, least]) await m.dispose();
  });
});
