/**
 * Decode with the next token sampled on the GPU, one step ahead of the host (Backend.deviceSampling,
 * SessionImpl.decodeAhead). What must hold:
 * - the same tokens as the wasm backend and as webgpu's one-read-back-per-token path (the same backend
 *   with `deviceSampling` removed), greedy and seeded top-k / top-p sampling;
 * - wherever generation stops (EOS, a stop string, maxTokens, a consumer that breaks, an abort), the
 *   session is where the one-read-back path leaves it: equal saveState bytes (state tensors, KV caches,
 *   position, pending token, rng, held logits) and equal continuations;
 * - a device draw that disagrees with the host's rule is redone, never streamed;
 * - sample_top_k.wgsl itself picks what src/api/sampler.ts picks on crafted rows (ties, +∞, NaN, top-p).
 * Run-ahead vs one-read-back on webgpu run the same kernels on the same inputs, so their states are
 * compared byte for byte; against wasm only tokens are compared (f32 rounding differs by ~1e-6, far
 * from the margins between these random models' top logits — checked: the runs agree exactly).
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import type { Model } from '../../src/api/types.js';
import { acquireDevice } from '../../src/backends/webgpu/device.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { SessionImpl } from '../../src/api/session.js';
import { adapterMissing } from '../helpers/webgpu.js';
import {
  collect, expectConcurrentSessionsAlone, expectDeviceSamplerRule, expectDisagreementRedone, expectHybridCachesCutBack, expectStopsMatch, redos, SAMPLERS,
} from '../helpers/runahead.js';

vi.setConfig({ testTimeout: 180_000 });
const probe = await acquireDevice({ allowFallback: true });
const reason = adapterMissing('webgpu run-ahead tests', probe);
if (!('unavailable' in probe)) probe.device.destroy();

const backendOf = (m: Model) => (m as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;

/** The same model on webgpu without deviceSampling: the host samples every token from a read-back. */
async function withoutRunAhead(src: Parameters<typeof loadModel>[0]): Promise<Model> {
  const m = await loadModel(src, { backend: 'webgpu' });
  Object.defineProperty(backendOf(m), 'deviceSampling', { value: undefined });
  return m;
}

describe.skipIf(reason !== null)('webgpu run-ahead decode', () => {
  const MODELS = {
    mamba: randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 24, numLayers: 2, stateSize: 8, seed: 23 }),
    mamba2: randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 32, numLayers: 2, stateSize: 8, headDim: 8, chunkSize: 64, seed: 22 }),
  };

  for (const [name, files] of Object.entries(MODELS)) for (const depth of [1, 2]) {
    describe(`${name}, ${depth} step${depth > 1 ? 's' : ''} ahead`, () => {
      let ahead: Model, plain: Model, wasm: Model;
      beforeAll(async () => {
        const was = SessionImpl.runAheadDepth;
        SessionImpl.runAheadDepth = depth;
        ahead = await loadModel(files, { backend: 'webgpu' });
        plain = await withoutRunAhead(files);
        wasm = await loadModel(files, { backend: 'wasm', threads: 1 });
        return async () => { SessionImpl.runAheadDepth = was; await ahead.dispose(); await plain.dispose(); await wasm.dispose(); };
      });

      it('greedy and seeded sampling give the tokens of wasm and of the one-read-back path; same saved state', async () => {
        expect(backendOf(ahead).deviceSampling).toBeDefined();
        for (const { opts } of SAMPLERS) {
          const o = { ...opts, maxTokens: 21, ignoreEos: true };
          const [sa, sp, sw] = [ahead.createSession(), plain.createSession(), wasm.createSession()];
          const a = await collect(sa, [1, 2, 3], o);
          const p = await collect(sp, [1, 2, 3], o);
          const w = await collect(sw, [1, 2, 3], o);
          expect(a.ids).toHaveLength(21);
          expect(a.ids).toEqual(p.ids);
          expect(a.ids).toEqual(w.ids);
          expect(redos(sa)).toBe(0); // the device's f32 draw agreed with the host's f64 rule on every token
          expect(await sa.saveState()).toEqual(await sp.saveState());
          // Continuing (with an odd-length prompt, then an empty one) stays in step too.
          const more = { ...opts, seed: undefined, maxTokens: 7, ignoreEos: true };
          for (const prompt of [[9, 8, 7], []]) {
            const a2 = await collect(sa, prompt, more);
            expect(a2.ids).toEqual((await collect(sp, prompt, more)).ids);
            expect(a2.ids).toEqual((await collect(sw, prompt, more)).ids);
          }
          expect(await sa.saveState()).toEqual(await sp.saveState());
          await Promise.all([sa.dispose(), sp.dispose(), sw.dispose()]);
        }
      });

      it('a stop at EOS, a stop string, maxTokens, a break or an abort leaves the state of the one-read-back path', async () => {
        await expectStopsMatch(ahead, plain);
      });

      it('a token reads back only its id and candidates, and the run-ahead snapshot is one device copy (the state is one block)', async () => {
        const b = backendOf(ahead);
        const s = ahead.createSession();
        await s.prefill([1, 2]);
        const c0 = b.stats.copies, r0 = b.stats.readBytes, w0 = b.stats.writeBuffers;
        const r = await collect(s, [], { temperature: 0, seed: 1, maxTokens: 12, ignoreEos: true });
        expect(r.ids).toHaveLength(12);
        // Read back per decoded token: the chosen id and its k = 1 candidate (4 words), nothing else
        // (the first token is drawn from the prefill's logits, already on the host).
        expect(b.stats.readBytes - r0).toBe(11 * 4 * 4);
        // Per run-ahead token: the snapshot, the token's read-back copy and the recorded step's copy of
        // the sampled id into its id buffer (WebGpuBackend.recordStep); plus the closing undo.
        expect(b.stats.copies - c0).toBeLessThanOrEqual(3 * 12 + 1 + depth);
        // Greedy: every token's sampling parameters are the same bytes, written once (WebGpuBackend.lastParams);
        // the rest are the first step's host id and the recording's and undo's own (not one a token: 12 tokens).
        expect(b.stats.writeBuffers - w0).toBeLessThanOrEqual(5);
        await s.dispose();
      });

      it('a device draw that disagrees with the host rule is redone before streaming: same tokens, same state', async () => {
        await expectDisagreementRedone(ahead, plain, backendOf(ahead).deviceSampling);
      });
    });
  }

  // The ring of recorded-step outputs (WebGpuBackend.stepOutputs): with at least depth + 1 outputs the
  // device sampler reads the head's row in place, one dispatch a token fewer than the logits copy that
  // stepOutputs 1 (or a ring shorter than the steps in flight) keeps; the tokens and the state after
  // (held logits included) are the same, also after an abort (expectStopsMatch reads inflight[0]'s row).
  for (const [name, files] of Object.entries(MODELS)) {
    it(`${name}: the sampler reads the recorded step's output ring in place (stepOutputs ≥ depth + 1), else copies it; same tokens and state`, async () => {
      const was = SessionImpl.runAheadDepth;
      try {
        for (const depth of [1, 2]) {
          SessionImpl.runAheadDepth = depth;
          const runs: { ids: number[]; state: Uint8Array; dispatches: number; steps: number }[] = [];
          for (const outputs of [4, 1, depth]) { // depth: one short of the depth + 1 steps in flight
            const m = await loadModel(files, { backend: 'webgpu' });
            const b = backendOf(m);
            b.stepOutputs = outputs;
            const internals = m as unknown as { recordDecodeStep: (...a: unknown[]) => unknown };
            const inner = internals.recordDecodeStep.bind(m);
            let steps = 0;
            internals.recordDecodeStep = (...a: unknown[]) => { steps++; return inner(...a); };
            const s = m.createSession();
            await s.prefill([4, 2]);
            const d0 = b.stats.dispatches;
            const r = await collect(s, [], { temperature: 0.8, topK: 5, topP: 0.9, seed: 3, maxTokens: 14, ignoreEos: true });
            runs.push({ ids: r.ids, state: await s.saveState(), dispatches: b.stats.dispatches - d0, steps });
            if (outputs === 4) {
              const p = await withoutRunAhead(files);
              await expectStopsMatch(m, p);
              await p.dispose();
            }
            await s.dispose();
            await m.dispose();
          }
          expect(runs[0].steps).toBeGreaterThan(10);
          for (const r of runs.slice(1)) {
            expect(r.ids).toEqual(runs[0].ids);
            expect(r.state).toEqual(runs[0].state);
            expect(r.steps).toBe(runs[0].steps);
            expect(r.dispatches - runs[0].dispatches, `depth ${depth}`).toBe(runs[0].steps); // the copy, once a step
          }
        }
      } finally {
        SessionImpl.runAheadDepth = was;
      }
    });
  }

  it('three sessions of one model generating at once give what each gives alone', async () => {
    const m = await loadModel(MODELS.mamba2, { backend: 'webgpu' });
    await expectConcurrentSessionsAlone(m);
    await m.dispose();
  });

  it('hybrid with attention (bamba fixture): KV caches are cut back with the run-ahead step', async () => {
    const dir = new URL('../fixtures/hybrid/bamba/', import.meta.url).pathname;
    const a = await loadModel(dir, { backend: 'webgpu' });
    const p = await withoutRunAhead(dir);
    await expectHybridCachesCutBack(a, p);
    await a.dispose();
    await p.dispose();
  });

  it('sample_top_k.wgsl picks what sampler.ts picks: ties, +∞, NaN, −∞, top-p, every k up to 256; fused with top_k in one dispatch (fuseSampling) and as two', async () => {
    const m = await loadModel(MODELS.mamba, { backend: 'webgpu' });
    const b = backendOf(m);
    expect(b.fuseSampling).toBe(true);
    for (const fused of [true, false]) {
      b.fuseSampling = fused;
      const d0 = b.stats.dispatches;
      const t = b.deviceSampling.sample(b.upload(new Float32Array(300).fill(1), [1, 300]), { temperature: 0.5, topK: 4, topP: 1 }, 0.5);
      expect((await b.deviceSampling.read(t)).ids).toEqual(Int32Array.of(0, 1, 2, 3)); // ties: lower ids first
      b.deviceSampling.release(t);
      expect(b.stats.dispatches - d0).toBe(fused ? 1 : 2);
      await expectDeviceSamplerRule(b, b.deviceSampling, 1000, 256);
    }
    b.fuseSampling = true;
    await m.dispose();
  });
});
