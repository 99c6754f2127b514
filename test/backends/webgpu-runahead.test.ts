/**
 * Decode with the next token sampled on the GPU, one step ahead of the host (Backend.deviceSampling,
 * SessionImpl.decodeAhead). What must hold:
 * - the same tokens as the wasm backend and as webgpu's one-read-back-per-token path (the same backend
 *   with `deviceSampling` removed), greedy and seeded top-k / top-p sampling;
 * - wherever generation stops (EOS, a stop string, maxTokens, a consumer that breaks, an abort), the
 *   session is where the one-read-back path leaves it: equal saveState bytes (state tensors, KV caches,
 *   position, pending token, rng, held logits) and equal continuations;
 * - a device draw that disagrees with the host's rule is redone, never streamed;
 * - sample_top_k.wgsl itself picks what src/api/sampler.ts picks on crafted rows (ties, +∞, NaN, top-p);
 * - with argmaxInHead (the greedy draw from the head's per-workgroup best rows: matvec_argmax_*, argmax_sample),
 *   the same logits bit for bit, the same token words and the same tokens and state as without it.
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
import { sampleToken, type Rng, type SamplerParams } from '../../src/api/sampler.js';
import { adapterMissing } from '../helpers/webgpu.js';
import {
  collect, expectConcurrentSessionsAlone, expectDeviceSamplerRule, expectDisagreementRedone, expectHybridCachesCutBack, expectStopsMatch, redos, SAMPLERS,
} from '../helpers/runahead.js';

vi.setConfig({ testTimeout: 180_000 });
const probe = await acquireDevice({ allowFallback: true });
const reason = adapterMissing('webgpu run-ahead tests', probe);
const shaderF16 = !('unavailable' in probe) && probe.shaderF16;
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
  // argmaxInHead: the head's product written by matvec_argmax_* (8 rows of W a workgroup, each workgroup's best
  // (key, row) beside the logits) and the draw over those pairs (argmax_sample.wgsl). Crafted rows reach the
  // head as W·x with x = e0 (W's column 0 is the row, the rest 0: ±∞ · 1 + 0 · 0 keeps ±∞, NaN stays NaN), so
  // the logits the draw sees are the row's. Against the same product and draw with the switch off
  // (matvec_f32x4 / _f16x8 or, the norm held before it, matvec_multi_norm_*, then top_k_sample over the row):
  // the logits bit for bit and the token words (count, id, value bits, choice) equal; and the choice is
  // sampler.ts's greedy rule on the logits read back. Vocabularies 1, 7, 1003 (not multiples of 8) and 5001
  // (626 pairs: more than the draw's 256 threads); batch rows > 1 decline to the old path.
  const GREEDY: SamplerParams = { temperature: 0, topK: 1, topP: 1 };
  it('argmaxInHead: the draw from the head\'s best rows equals top_k_sample over the logits and sampler.ts: ties, +∞, NaN, −∞, −0, f32 / f16, norm folded or not', async () => {
    const m = await loadModel(MODELS.mamba, { backend: 'webgpu' });
    const b = backendOf(m);
    const ds = b.deviceSampling;
    expect(b.argmaxInHead).toBe(true); // default on: faster on the H100 for both 130M models (BENCHMARKS.md, sixth session)
    let seed = 11;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const K = 8;
    const x = b.upload(Float32Array.from({ length: K }, (_, i) => (i === 0 ? 1 : 0)), [1, K]);
    const gamma = b.upload(new Float32Array(K).fill(1), [K]);
    const words = (r: { id: number; ids: Int32Array; values: Float32Array }) => [r.id, ...r.ids, ...new Uint32Array(r.values.buffer)];
    let cases = 0;
    for (const V of [1, 7, 1003, 5001]) {
      const rows: Float32Array[] = [
        Float32Array.from({ length: V }, () => rand() * 8 - 4), // plain
        Float32Array.from({ length: V }, () => Math.round(rand() * 3)), // many ties: the lowest id of the largest
        Float32Array.from({ length: V }, (_, i) => (i % 97 === 5 ? Infinity : i % 5 === 0 ? NaN : rand())), // +∞ (ties) and NaN
        Float32Array.from({ length: V }, (_, i) => (i < V - 3 ? -Infinity : -rand())), // nearly all −∞
        Float32Array.from({ length: V }, (_, i) => (i === V - 1 ? -Infinity : NaN)), // no candidate at all
        Float32Array.from({ length: V }, (_, i) => (i % 2 ? 0 : -0)), // −0 ties with +0: id 0
      ];
      for (const dtype of shaderF16 ? ['f32', 'f16'] as const : ['f32'] as const) {
        for (const row of rows) {
          const col = new Float32Array(V * K);
          row.forEach((v, i) => { col[i * K] = v; });
          const W = b.upload(col, [V, K], dtype);
          for (const norm of [false, true]) {
            const got: { logits: Float32Array; token: { id: number; ids: Int32Array; values: Float32Array }; draws: number }[] = [];
            for (const on of [true, false]) {
              b.argmaxInHead = on;
              const d0 = b.stats.argmaxDraws;
              const xin = norm ? b.rmsNorm(x, gamma, 1e-5) : x; // held: folded into the head (V ≤ 16,384)
              const logits = b.matmul(xin, W);
              const t = ds.sample(logits, GREEDY, 0);
              const token = await ds.read(t);
              ds.release(t);
              got.push({ logits: await b.read(logits), token, draws: b.stats.argmaxDraws - d0 });
              b.free(logits);
              if (norm) b.free(xin);
            }
            const what = `V ${V} ${dtype} norm ${norm} row ${rows.indexOf(row)}`;
            expect(got.map((g) => g.draws), what).toEqual([1, 0]);
            expect(new Uint32Array(got[0].logits.buffer), what).toEqual(new Uint32Array(got[1].logits.buffer));
            expect(words(got[0].token), what).toEqual(words(got[1].token));
            const hasCandidate = got[0].logits.some((v) => v > -Infinity);
            expect(got[0].token.id, what).toBe(hasCandidate ? sampleToken(got[0].logits, GREEDY, {} as Rng) : -1);
            if (dtype === 'f32' && !norm) expect(Array.from(got[0].logits, (v) => (Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v)), what).toEqual(Array.from(row, (v) => (Number.isNaN(v) ? 'NaN' : v + 0))); // −0 · 1 + 0 · 0 = +0
            cases++;
          }
          b.free(W);
        }
      }
    }
    expect(cases).toBe(4 * 6 * 2 * (shaderF16 ? 2 : 1));
    // Batch rows > 1: not a head the draw can read (the product is dispatched as before, the draw over its row).
    b.argmaxInHead = true;
    const W = b.upload(Float32Array.from({ length: 300 * K }, () => rand()), [300, K]);
    const x2 = b.upload(Float32Array.from({ length: 2 * K }, () => rand()), [2, K]);
    const both = b.matmul(x2, W);
    const row1 = b.sliceRows(both, 1, 1);
    const d0 = b.stats.argmaxDraws;
    const t = ds.sample(row1, GREEDY, 0);
    const token = await ds.read(t);
    ds.release(t);
    expect(b.stats.argmaxDraws - d0).toBe(0);
    expect(token.id).toBe(sampleToken(await b.read(row1), GREEDY, {} as Rng));
    b.argmaxInHead = false;
    await m.dispose();
  });

  // The switch in whole generations: greedy tokens and saved state equal with it on and off, recorded steps
  // (their head's best rows in each output-ring slot) one and two steps ahead, the same dispatches a token.
  // Vocab 256 folds the final norm into the head (matvec_argmax_norm_*); 16,411 does not (matvec_argmax_* after
  // rms_norm); the bamba hybrid's steps are not recorded (KV caches): its head is taken where the draw finds it held.
  const ARGMAX_MODELS: [string, Parameters<typeof loadModel>[0], ('f32' | 'f16')[]][] = [
    ['mamba', MODELS.mamba, shaderF16 ? ['f32', 'f16'] : ['f32']],
    ['mamba2', MODELS.mamba2, ['f32']],
    ['mamba2, vocab 16,411', randomModelFiles({ modelType: 'mamba2', vocabSize: 16411, hiddenSize: 32, numLayers: 2, stateSize: 16, headDim: 16, nGroups: 1, chunkSize: 64, useBias: false, seed: 12 }), shaderF16 ? ['f16'] : ['f32']],
    ['bamba hybrid', new URL('../fixtures/hybrid/bamba/', import.meta.url).pathname, ['f32']],
  ];
  for (const [name, src, dtypes] of ARGMAX_MODELS) for (const dtype of dtypes) {
    it(`argmaxInHead: ${name}, ${dtype}: the same greedy tokens, state and dispatches a token as without it; sampled draws after them unchanged`, async () => {
      const was = SessionImpl.runAheadDepth;
      try {
        for (const depth of name === 'mamba' ? [1, 2] : [1]) {
          SessionImpl.runAheadDepth = depth;
          const runs: { ids: number[]; state: Uint8Array; dispatches: number; draws: number; sampled: number[]; sampledDraws: number }[] = [];
          for (const on of [false, true]) {
            const m = await loadModel(src, { backend: 'webgpu', dtype });
            const b = backendOf(m);
            b.argmaxInHead = on;
            const s = m.createSession();
            await s.prefill([4, 2, 9]);
            const d0 = b.stats.dispatches, a0 = b.stats.argmaxDraws;
            const r = await collect(s, [], { temperature: 0, seed: 1, maxTokens: 12, ignoreEos: true });
            const draws = b.stats.argmaxDraws - a0;
            // A sampled draw after greedy ones (the recorded head still writes its best rows; the draw reads the logits).
            const sampled = await collect(s, [3], { temperature: 0.9, topK: 5, seed: 3, maxTokens: 8, ignoreEos: true });
            runs.push({ ids: r.ids, state: await s.saveState(), dispatches: b.stats.dispatches - d0, draws, sampled: sampled.ids, sampledDraws: b.stats.argmaxDraws - a0 - draws });
            await s.dispose();
            await m.dispose();
          }
          const [off, on] = runs;
          expect(on.ids).toHaveLength(12);
          expect(on.ids, `depth ${depth}`).toEqual(off.ids);
          expect(on.state).toEqual(off.state);
          expect(on.dispatches).toBe(off.dispatches);
          expect(off.draws).toBe(0);
          expect(on.draws).toBeGreaterThanOrEqual(11); // every device draw (the first token comes from the prefill's logits)
          expect(on.sampled).toEqual(off.sampled);
          expect(on.sampledDraws).toBe(0);
        }
      } finally {
        SessionImpl.runAheadDepth = was;
      }
    });
  }
});
