/**
 * Decode on the cuda backend with the next token sampled on the GPU, one or two steps ahead of the host
 * (CudaBackend.deviceSampling, SessionImpl.decodeAhead), each step the session's recorded CUDA graph
 * (ModelImpl.recordDecodeStep → RecordedStep.run with the device-sampled token's ids). What must hold, as
 * for webgpu (test/backends/webgpu-runahead.test.ts):
 * - the same tokens as the wasm backend and as cuda's one-read-back-per-token path (the same backend with
 *   `deviceSampling` removed: the same recorded graph, replayed with host ids), greedy and seeded sampling;
 * - wherever generation stops (EOS, a stop string, maxTokens, a break, an abort), the session is where the
 *   one-read-back path leaves it: equal saveState bytes and equal continuations;
 * - the steps run ahead are the recorded graph fed on the device (replayFrom), one recording per session;
 * - a device draw that disagrees with the host rule is redone, never streamed;
 * - topKSample picks what src/api/sampler.ts picks on crafted rows (ties, +∞, NaN, −∞, top-p, k up to 1024).
 * The two cuda paths run the same kernels on the same inputs, so their states are compared byte for byte;
 * against wasm only tokens (f32 sums in another order; these random models' top logits are far apart).
 */
import { describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import type { Model } from '../../src/api/types.js';
import type { CudaBackend } from '../../src/backends/cuda/index.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { SessionImpl } from '../../src/api/session.js';
import {
  collect, expectConcurrentSessionsAlone, expectDeviceSamplerRule, expectDisagreementRedone, expectHybridCachesCutBack, expectStopsMatch, redos, SAMPLERS,
} from '../helpers/runahead.js';
import { cudaUnavailable, skipNote } from './available.js';

vi.setConfig({ testTimeout: 120_000 });
skipNote('run-ahead tests');

const backendOf = (m: Model) => (m as unknown as { parts: { backend: CudaBackend } }).parts.backend;

/** The same model on cuda without deviceSampling: the host samples every token from a read-back. */
async function withoutRunAhead(src: Parameters<typeof loadModel>[0]): Promise<Model> {
  const m = await loadModel(src, { backend: 'cuda' });
  Object.defineProperty(backendOf(m), 'deviceSampling', { value: undefined });
  return m;
}

/** Counts a backend's addon calls by name (its Device's methods, wrapped). */
function countCalls(m: Model, names: string[]): Record<string, number> {
  const dev = (backendOf(m) as unknown as { dev: Record<string, (...a: unknown[]) => unknown> }).dev;
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const n of names) {
    const f = dev[n];
    // An own property over the prototype's (the addon's methods are read-only there, so plain assignment throws).
    Object.defineProperty(dev, n, { value: (...a: unknown[]) => { counts[n]++; return f.apply(dev, a); }, configurable: true, writable: true });
  }
  return counts;
}

describe.skipIf(cudaUnavailable !== null)('cuda run-ahead decode', () => {
  const MODELS = {
    mamba: randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 24, numLayers: 2, stateSize: 8, seed: 23 }),
    mamba2: randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 32, numLayers: 2, stateSize: 8, headDim: 8, chunkSize: 64, seed: 22 }),
  };

  for (const [name, files] of Object.entries(MODELS)) for (const depth of [1, 2]) {
    describe(`${name}, ${depth} step${depth > 1 ? 's' : ''} ahead`, () => {
      // Loaded by the first case, and the depth set around each case (not in beforeAll hooks: the bundled
      // GPU-machine runner, tools/cuda-check/vitest-shim.ts, runs those all up front).
      let ahead: Model, plain: Model, wasm: Model;
      let loaded: Promise<void> | null = null;
      const load = () => (loaded ??= (async () => {
        ahead = await loadModel(files, { backend: 'cuda' });
        plain = await withoutRunAhead(files);
        wasm = await loadModel(files, { backend: 'wasm', threads: 1 });
      })());
      const at = (fn: () => Promise<void>) => async () => {
        await load();
        const was = SessionImpl.runAheadDepth;
        SessionImpl.runAheadDepth = depth;
        try { await fn(); } finally { SessionImpl.runAheadDepth = was; }
      };

      it('greedy and seeded sampling give the tokens of wasm and of the one-read-back path; same saved state; the recorded step is fed on the device', at(async () => {
        expect(backendOf(ahead).deviceSampling).toBeDefined();
        const calls = countCalls(ahead, ['replayFrom', 'replay', 'beginCapture']);
        for (const { opts } of SAMPLERS) {
          const o = { ...opts, maxTokens: 21, ignoreEos: true };
          const [sa, sp, sw] = [ahead.createSession(), plain.createSession(), wasm.createSession()];
          const before = { ...calls };
          const a = await collect(sa, [1, 2, 3], o);
          const p = await collect(sp, [1, 2, 3], o);
          const w = await collect(sw, [1, 2, 3], o);
          expect(a.ids).toHaveLength(21);
          expect(a.ids).toEqual(p.ids);
          expect(a.ids).toEqual(w.ids);
          expect(redos(sa)).toBe(0); // the device's f32 draw agreed with the host's f64 rule on every token
          // 20 decode steps (the first token comes from the prefill): the first fed a host id, the rest the
          // previous step's token on the device; one recording for the session.
          expect(calls.beginCapture - before.beginCapture).toBe(1);
          expect(calls.replayFrom - before.replayFrom).toBeGreaterThanOrEqual(19);
          expect(await sa.saveState()).toEqual(await sp.saveState());
          const more = { ...opts, seed: undefined, maxTokens: 7, ignoreEos: true };
          for (const prompt of [[9, 8, 7], []]) {
            const a2 = await collect(sa, prompt, more);
            expect(a2.ids).toEqual((await collect(sp, prompt, more)).ids);
            expect(a2.ids).toEqual((await collect(sw, prompt, more)).ids);
          }
          expect(await sa.saveState()).toEqual(await sp.saveState());
          await Promise.all([sa.dispose(), sp.dispose(), sw.dispose()]);
        }
      }));

      it('a stop at EOS, a stop string, maxTokens, a break or an abort leaves the state of the one-read-back path', at(async () => {
        await expectStopsMatch(ahead, plain);
      }));

      it('a token reads back only its id and candidates; the run-ahead snapshot is one device copy (the state is one block); memory returns', at(async () => {
        const b = backendOf(ahead);
        const s = ahead.createSession();
        await s.prefill([1, 2]);
        const calls = countCalls(ahead, ['copy', 'downloadAsync']);
        const r = await collect(s, [], { temperature: 0, seed: 1, maxTokens: 12, ignoreEos: true });
        expect(r.ids).toHaveLength(12);
        // One read-back per decode step (its token's words), at most `depth` of them for steps dropped at the end.
        expect(calls.downloadAsync).toBeGreaterThanOrEqual(11);
        expect(calls.downloadAsync).toBeLessThanOrEqual(11 + depth);
        // Per step: the logits row kept for an abort (sliceRows) and, run ahead, the state snapshot; plus the closing undo.
        expect(calls.copy).toBeLessThanOrEqual(2 * (11 + depth) + 1);
        // Tokens, kept rows and snapshots go back to the pool: a second generation takes no new device memory.
        const bytes = b.deviceBytes;
        await collect(s, [], { temperature: 0, maxTokens: 12, ignoreEos: true });
        expect(b.deviceBytes).toBe(bytes);
        await s.dispose();
      }));

      it('a device draw that disagrees with the host rule is redone before streaming: same tokens, same state', at(async () => {
        await expectDisagreementRedone(ahead, plain, backendOf(ahead).deviceSampling!);
      }));
    });
  }

  it('three sessions of one model generating at once give what each gives alone', async () => {
    const m = await loadModel(MODELS.mamba2, { backend: 'cuda' });
    await expectConcurrentSessionsAlone(m);
    await m.dispose();
  });

  it('hybrid with attention (bamba fixture, KV caches: the unrecorded step): caches are cut back with the run-ahead step', async () => {
    const dir = new URL('../fixtures/hybrid/bamba/', import.meta.url).pathname;
    const a = await loadModel(dir, { backend: 'cuda' });
    const p = await withoutRunAhead(dir);
    await expectHybridCachesCutBack(a, p);
    await a.dispose();
    await p.dispose();
  });

  it('topKSample picks what sampler.ts picks: ties, +∞, NaN, −∞, top-p, k up to 1024; no finite logit: no token', async () => {
    const m = await loadModel(MODELS.mamba, { backend: 'cuda' });
    const b = backendOf(m);
    const ds = b.deviceSampling!;
    await expectDeviceSamplerRule(b, ds, 3000, 1024);
    expect(ds.supports({ temperature: 1, topK: 1025, topP: 1 })).toBe(false);
    expect(ds.supports({ temperature: 1, topK: 0, topP: 1 })).toBe(false);
    const none = b.upload(new Float32Array(3000).fill(NaN), [1, 3000]);
    const t = ds.sample(none, { temperature: 0, topK: 1, topP: 1 }, 0);
    expect((await ds.read(t)).id).toBe(-1);
    await expect(ds.read(t)).rejects.toMatchObject({ code: 'E_ARGUMENT' }); // read twice
    ds.release(t);
    ds.release(t); // idempotent
    b.free(none);
    await m.dispose();
  });
});
