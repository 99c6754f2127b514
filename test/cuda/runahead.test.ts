/**
 * Decode on the cuda backend with the next token sampled on the GPU, one or two steps ahead of the host
 * (CudaBackend.deviceSampling, SessionImpl.decodeAhead), each step the session's recorded CUDA graph
 * (ModelImpl.recordDecodeStep → RecordedStep.run with the device-sampled token's ids). What must hold, as
 * for webgpu (test/backends/webgpu-runahead.test.ts):
 * - the same tokens as the wasm backend and as cuda's one-read-back-per-token path (the same backend with
 *   `deviceSampling` removed: the same recorded graph, replayed with host ids), greedy and seeded sampling;
 * - wherever generation stops (EOS, a stop string, maxTokens, a break, an abort), the session is where the
 *   one-read-back path leaves it: equal saveState bytes and equal continuations;
 * - the steps run ahead are the recorded graph fed on the device: one step ahead, the step graph with its draw
 *   (deviceSampling.recordSampled: two captures a session, then one launchGraph a token and no snapshot copies),
 *   two steps ahead the recorded step (replayFrom) with separate sampling and snapshots; both leave the bytes of
 *   the path without the step graph;
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
import { Rng, sampleToken, type SamplerParams } from '../../src/api/sampler.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { SessionImpl } from '../../src/api/session.js';
import type { ModelImpl } from '../../src/api/model.js';
import type { SampledStep, Tensor } from '../../src/backends/backend.js';
import {
  collect, expectConcurrentSessionsAlone, expectDeviceSamplerRule, expectDisagreementRedone, expectHybridCachesCutBack, expectStopsMatch, redos, ruleInF32, SAMPLERS,
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

/** The same model on cuda without the step graph (deviceSampling.recordSampled): the recorded step, then sampling and snapshot launches. */
async function withoutStepGraph(src: Parameters<typeof loadModel>[0]): Promise<Model> {
  const m = await loadModel(src, { backend: 'cuda' });
  delete (backendOf(m).deviceSampling as { recordSampled?: unknown }).recordSampled;
  return m;
}

/**
 * The model on cuda with the step graph's ping-pong (MAMBA_EDGE_CUDA_PINGPONG, read when the backend is made) on or
 * off; on only where the addon build takes separate state sources (checked by the callers).
 */
async function withPingPong(src: Parameters<typeof loadModel>[0], on: boolean): Promise<Model> {
  const was = process.env.MAMBA_EDGE_CUDA_PINGPONG;
  process.env.MAMBA_EDGE_CUDA_PINGPONG = on ? 'on' : 'off';
  try {
    return await loadModel(src, { backend: 'cuda' });
  } finally {
    if (was === undefined) delete process.env.MAMBA_EDGE_CUDA_PINGPONG;
    else process.env.MAMBA_EDGE_CUDA_PINGPONG = was;
  }
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
      let ahead: Model, plain: Model, wasm: Model, older: Model;
      let loaded: Promise<void> | null = null;
      const load = () => (loaded ??= (async () => {
        ahead = await loadModel(files, { backend: 'cuda' });
        plain = await withoutRunAhead(files);
        older = await withoutStepGraph(files);
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
        expect(backendOf(ahead).deviceSampling!.recordSampled).toBeDefined(); // this build has the step graph
        const calls = countCalls(ahead, ['replayFrom', 'replay', 'beginCapture', 'launchGraph', 'topKSample', 'topKSampleFrom']);
        for (const { opts } of SAMPLERS) {
          const o = { ...opts, maxTokens: 21, ignoreEos: true };
          const [sa, sp, sw, so] = [ahead.createSession(), plain.createSession(), wasm.createSession(), older.createSession()];
          const before = { ...calls };
          const a = await collect(sa, [1, 2, 3], o);
          const p = await collect(sp, [1, 2, 3], o);
          const w = await collect(sw, [1, 2, 3], o);
          const old = await collect(so, [1, 2, 3], o);
          expect(a.ids).toHaveLength(21);
          expect(a.ids).toEqual(p.ids);
          expect(a.ids).toEqual(w.ids);
          expect(a.ids).toEqual(old.ids);
          expect(redos(sa)).toBe(0); // the device's f32 draw agreed with the host's f64 rule on every token
          // 20 decode steps (the first token comes from the prefill): the first fed a host id, the rest the
          // previous step's token on the device. One step ahead: the step graph, captured twice (its two
          // alternating copies), then one launch a token, the draw inside it. Two ahead: one recording, replayFrom.
          if (depth === 1) {
            expect(calls.beginCapture - before.beginCapture).toBe(2);
            expect(calls.launchGraph - before.launchGraph).toBeGreaterThanOrEqual(19);
            expect(calls.replayFrom - before.replayFrom).toBe(0);
            expect(calls.topKSample - before.topKSample).toBe(0);
            // Recorded, not launched per token; greedy: no sampling kernel at all (the head GEMV's argmax epilogue).
            const inHead = opts.temperature === 0 && process.env.MAMBA_EDGE_CUDA_ARGMAXGEMV !== 'off';
            expect(calls.topKSampleFrom - before.topKSampleFrom).toBe(inHead ? 0 : 2);
          } else {
            expect(calls.beginCapture - before.beginCapture).toBe(1);
            expect(calls.replayFrom - before.replayFrom).toBeGreaterThanOrEqual(19);
          }
          expect(await sa.saveState()).toEqual(await sp.saveState());
          expect(await so.saveState()).toEqual(await sp.saveState());
          const more = { ...opts, seed: undefined, maxTokens: 7, ignoreEos: true };
          for (const prompt of [[9, 8, 7], []]) {
            const a2 = await collect(sa, prompt, more);
            expect(a2.ids).toEqual((await collect(sp, prompt, more)).ids);
            expect(a2.ids).toEqual((await collect(sw, prompt, more)).ids);
          }
          expect(await sa.saveState()).toEqual(await sp.saveState());
          await Promise.all([sa.dispose(), sp.dispose(), sw.dispose(), so.dispose()]);
        }
      }));

      it('a stop at EOS, a stop string, maxTokens, a break or an abort leaves the state of the one-read-back path', at(async () => {
        await expectStopsMatch(ahead, plain, [older]);
      }));

      it('a token reads back only its id and candidates; the run-ahead snapshot is one device copy (the state is one block); memory returns', at(async () => {
        const b = backendOf(ahead);
        const s = ahead.createSession();
        await s.prefill([1, 2]);
        const calls = countCalls(ahead, ['copy', 'downloadAsync', 'launchGraph', 'writeAsync']);
        const r = await collect(s, [], { temperature: 0, seed: 1, maxTokens: 12, ignoreEos: true });
        expect(r.ids).toHaveLength(12);
        // One read-back per decode step (its token's words), at most `depth` of them for steps dropped at the end.
        expect(calls.downloadAsync).toBeGreaterThanOrEqual(11);
        expect(calls.downloadAsync).toBeLessThanOrEqual(11 + depth);
        if (depth === 1) {
          // The step graph: one launch a token, no copies but the closing undo, no parameters written when greedy.
          expect(calls.launchGraph).toBeGreaterThanOrEqual(10);
          expect(calls.copy).toBeLessThanOrEqual(1);
          expect(calls.writeAsync).toBe(0);
        } else {
          // Per step: the logits row kept for an abort (sliceRows) and, run ahead, the state snapshot; plus the closing undo.
          expect(calls.copy).toBeLessThanOrEqual(2 * (11 + depth) + 1);
        }
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

  it('the step graph (recordSampled): its undo point is the state before its latest run; stale tokens and other shapes are refused (undo copy and ping-pong)', async () => {
    for (const files of Object.values(MODELS)) for (const pp of [false, true]) {
      const m = await withPingPong(files, pp);
      const b = backendOf(m);
      expect(b.pingPong).toBe(pp);
      const ds = b.deviceSampling!;
      const s = m.createSession();
      await s.prefill([1, 2, 3]);
      const state = (s as unknown as { state: Tensor[] }).state;
      const impl = m as unknown as ModelImpl;
      let unit!: SampledStep;
      // Ping-pong: the state is in the session's tensors only once settled (which also ends what undo can reach).
      const readState = () => {
        unit.settle?.();
        return Promise.all(state.map((t) => b.read(t)));
      };
      for (const params of [{ temperature: 0, topK: 1, topP: 1 }, { temperature: 0.8, topK: 7, topP: 0.9 }] satisfies SamplerParams[]) {
        unit = impl.sampledStep(state, [], params)!;
        expect(unit).not.toBeNull();
        expect(typeof unit.settle).toBe(pp ? 'function' : 'undefined');
        expect(impl.sampledStep(state, [], { ...params, topP: 0.5 })).toBe(unit); // same shape: the same unit
        const before = await readState();
        const r1 = unit.run(Int32Array.of(5), params, 0.25);
        // Ping-pong: r1's row and draw read before the settle below (after it, r2 runs r1's capture again).
        const early = pp ? { row: await b.read(r1.logits), got: await ds.read(r1.token) } : null;
        const after1 = await readState();
        expect(after1).not.toEqual(before);
        if (pp) expect(() => unit.undo(r1.token)).toThrow(/settled/); // its input block may be overwritten by the settle
        const r2 = unit.run(ds.ids(r1.token), params, 0.75);
        // r1's row survives r2 (the two alternating captures), and its draw is the sampler's rule on that row.
        const row1 = early?.row ?? await b.read(r1.logits);
        const got1 = early?.got ?? await ds.read(r1.token);
        // (f32 on the device vs f64 on the host: within rounding of a boundary, the kernels' f32 rule.)
        expect([sampleToken(row1, params, { nextFloat: () => 0.25 } as unknown as Rng), ruleInF32(row1, params, 0.25)]).toContain(got1.id);
        expect(() => unit.undo(r1.token)).toThrow(/latest/);
        expect(() => unit.run(ds.ids(r1.token), params, 0)).toThrow(/overwrote/); // r2's draw overwrote r1's words
        expect(() => unit.run(Int32Array.of(1), { temperature: 0.5, topK: 3, topP: 1 }, 0)).toThrow(/recorded for/);
        expect(() => unit.run(Int32Array.of(1 << 20), params, 0)).toThrow(/vocabulary/);
        unit.undo(r2.token);
        expect(await readState()).toEqual(after1); // back to before r2
        await ds.read(r2.token);
        ds.release(r1.token);
        ds.release(r2.token);
        // Re-run r2's input from the restored state: the same token and the same state as the first time.
        // (Ping-pong: no settle between a run and its undo; r3's row stands for its state, r4 runs the same capture.)
        const r3 = unit.run(Int32Array.of(got1.id), params, 0.75);
        const after3 = pp ? null : await readState();
        const row3 = pp ? await b.read(r3.logits) : null;
        unit.undo(r3.token);
        expect(await readState()).toEqual(after1);
        const r4 = unit.run(Int32Array.of(got1.id), params, 0.75);
        expect((await ds.read(r4.token)).id).toBe((await ds.read(r3.token)).id);
        if (row3) expect(await b.read(r4.logits)).toEqual(row3);
        const after4 = await readState();
        if (after3) expect(after4).toEqual(after3);
        else expect(after4).not.toEqual(after1);
        ds.release(r3.token);
        ds.release(r4.token);
      }
      await s.dispose();
      await m.dispose();
    }
  });

  // MAMBA_EDGE_CUDA_PINGPONG=on (the step graph reads the state from one block and writes the other, no undo copy)
  // against off (the undo copy): the same kernels' arithmetic on the same inputs, so tokens and saveState bytes equal.
  for (const [name, files] of Object.entries(MODELS)) {
    describe(`${name}, ping-pong step graph against the undo copy`, () => {
      let pp: Model, undo: Model;
      let loaded: Promise<void> | null = null;
      const load = () => (loaded ??= (async () => {
        pp = await withPingPong(files, true);
        undo = await withPingPong(files, false);
      })());
      const at = (fn: () => Promise<void>) => async () => {
        await load();
        const was = SessionImpl.runAheadDepth;
        SessionImpl.runAheadDepth = 1; // the step graph is the one-step-ahead path
        try { await fn(); } finally { SessionImpl.runAheadDepth = was; }
      };

      it('greedy and sampled generates give the same tokens and saved state; a second generate after the first too; at most one copy a generate', at(async () => {
        expect(backendOf(pp).pingPong).toBe(true);
        expect(backendOf(undo).pingPong).toBe(false);
        const calls = countCalls(pp, ['copy', 'launchGraph', 'beginCapture']);
        for (const { opts } of SAMPLERS) {
          const o = { ...opts, maxTokens: 17, ignoreEos: true };
          const [sp, su] = [pp.createSession(), undo.createSession()];
          for (const s of [sp, su]) await s.prefill([1, 2, 3]); // (its last-row copy not counted below)
          const before = { ...calls };
          const a = await collect(sp, [], o);
          const u = await collect(su, [], o);
          expect(a.ids).toHaveLength(17);
          expect(a.ids).toEqual(u.ids);
          expect(redos(sp)).toBe(0);
          expect(calls.beginCapture - before.beginCapture).toBe(2); // the two captures, once
          expect(calls.launchGraph - before.launchGraph).toBeGreaterThanOrEqual(15);
          // Neither an undo copy a token nor a settle a token: at most the one closing settle (16 steps run: even, none).
          expect(calls.copy - before.copy).toBeLessThanOrEqual(1);
          expect(await sp.saveState()).toEqual(await su.saveState());
          const more = { ...opts, seed: undefined, maxTokens: 6, ignoreEos: true };
          for (const prompt of [[9, 8, 7], [], [4]]) { // odd and even counts of standing runs, a prefill in between
            const a2 = await collect(sp, prompt, more);
            expect(a2.ids).toEqual((await collect(su, prompt, more)).ids);
            expect(await sp.saveState()).toEqual(await su.saveState());
          }
          await Promise.all([sp.dispose(), su.dispose()]);
        }
      }));

      it('a stop at EOS, a stop string, maxTokens, a break or an abort mid-run-ahead leaves the state of the undo copy', at(async () => {
        await expectStopsMatch(pp, undo);
      }));

      it('a device draw that disagrees with the host rule is redone from the block the state is in: same tokens, same state', at(async () => {
        await expectDisagreementRedone(pp, undo, backendOf(pp).deviceSampling!);
      }));

      it('with the conv kernels (CONVEPI off: conv1dStepBatch) and the convs folded into their readers (CONVGEMV on: convShift, scanDtStep\'s shift, ssdConvStep): same tokens and state', at(async () => {
        const bs = [backendOf(pp), backendOf(undo)];
        const was = bs.map((b) => [b.convEpilogue, b.convFold] as const);
        try {
          for (const [epi, fold] of [[false, false], [false, true]] as const) {
            for (const b of bs) { b.convEpilogue = epi; b.convFold = fold; }
            const [sp, su] = [pp.createSession(), undo.createSession()]; // new sessions: their step graphs captured with these paths
            for (const o of [{ temperature: 0.9, topK: 5, seed: 5, maxTokens: 12, ignoreEos: true }, { temperature: 0, seed: 1, maxTokens: 7, ignoreEos: true }]) {
              const a = await collect(sp, [3, 1], o);
              expect(a.ids, `CONVEPI ${epi} CONVGEMV ${fold}`).toEqual((await collect(su, [3, 1], o)).ids);
              expect(await sp.saveState()).toEqual(await su.saveState());
            }
            await Promise.all([sp.dispose(), su.dispose()]);
          }
        } finally {
          bs.forEach((b, i) => { [b.convEpilogue, b.convFold] = was[i]; });
        }
      }));
    });
  }

  it('the greedy draw in the head GEMV\'s epilogue picks what sampler.ts picks: ties to the lower id, +∞, NaN, −∞, none finite; again on replay', async () => {
    const m = await loadModel(MODELS.mamba, { backend: 'cuda' });
    const b = backendOf(m);
    const ds = b.deviceSampling!;
    const V = 3001; // odd, over hundreds of blocks
    let seed = 9;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const rows = [
      Float32Array.from({ length: V }, () => rand() * 8 - 4),
      Float32Array.from({ length: V }, () => Math.round(rand() * 3)), // ties for the largest, far apart in id
      Float32Array.from({ length: V }, (_, i) => (i % 5 === 0 ? NaN : i % 7 === 0 ? -Infinity : rand())),
      Float32Array.from({ length: V }, (_, i) => (i === 2000 || i === 2999 ? Infinity : rand())),
      Float32Array.from({ length: V }, (_, i) => (i === 1777 ? -1e-30 : i % 2 ? -Infinity : NaN)), // one finite entry
      new Float32Array(V).fill(NaN),
    ];
    const greedy = { temperature: 0, topK: 1, topP: 1 };
    const calls = countCalls(m, ['topKSampleFrom', 'decodeGemv']);
    for (const row of rows) {
      const { graph, cfg } = (m as unknown as ModelImpl).parts;
      const state = b.zerosBlock(graph.stateShapes(cfg, 1));
      // The "step": zero weights and the crafted row as the bias, so the head GEMV writes exactly that row.
      const x = b.upload(Float32Array.from({ length: 8 }, () => rand()), [1, 8]);
      const w = b.upload(new Float32Array(8 * V), [V, 8]);
      const bias = b.upload(row, [V]);
      const unit = ds.recordSampled!(state, Int32Array.of(0), () => b.matmul(x, w, bias), greedy)!;
      expect(unit).not.toBeNull();
      for (let rep = 0; rep < 3; rep++) { // the epilogue's scratch is reset by its last block for the next launch
        const { token, logits } = unit.run(Int32Array.of(0), greedy, 0);
        const back = await b.read(logits); // the row itself (NaN bits may come back canonical)
        expect(back.every((v, i) => v === row[i] || (Number.isNaN(v) && Number.isNaN(row[i])))).toBe(true);
        const got = await ds.read(token);
        const want = row.some((v) => v > -Infinity) ? sampleToken(row, greedy, { nextFloat: () => 0 } as unknown as Rng) : -1;
        expect(got.id, `row ${rows.indexOf(row)}`).toBe(want);
        expect(got.ids.length).toBe(want >= 0 ? 1 : 0);
        if (want >= 0) expect(Object.is(got.values[0], row[want])).toBe(true);
        ds.release(token);
      }
      unit.release();
      b.free(...state, x, w, bias);
    }
    expect(calls.topKSampleFrom).toBe(process.env.MAMBA_EDGE_CUDA_ARGMAXGEMV === 'off' ? rows.length : 0);
    await m.dispose();
  });

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
