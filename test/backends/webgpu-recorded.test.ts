/**
 * Recorded decode steps on the webgpu backend (WebGpuBackend.recordStep): a session whose one-token
 * steps replay the recorded commands (the same pipelines, bind groups and workgroup counts, encoded
 * again without the graph) must give the very same logits, bit for bit, as one that runs the graph
 * op by op — the same kernels on the same buffers in the same order. Exact equality, no tolerance:
 * any difference is a bug. One exception, compared within f32 rounding instead: with norms folded
 * into the projections after them (WebGpuBackend.foldNorms, the default), the op-by-op step copies
 * the head's input row first (Model.run's sliceRows), so its final norm runs alone, while the
 * recorded step's head folds it in — the same sums in another order. Also: a recorded step fed a token sampled on the device
 * (`deviceSampling.ids(token)`, the id read where sample_top_k wrote it) equals one fed the same
 * id from the host; steps with KV caches are not recorded; a recording refuses bad ids and can be
 * released.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import type { LoadDType, Model, Session } from '../../src/api/types.js';
import type { RecordedStep } from '../../src/backends/backend.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import { acquireDevice } from '../../src/backends/webgpu/device.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import { GOLDEN_DIR } from '../helpers/goldens.js';
import { adapterMissing } from '../helpers/webgpu.js';
import { expectClose } from './op-suite.js';
import { randomModelFiles } from '../../tools/random-model.js';
import type { SamplerParams } from '../../src/api/sampler.js';

// On a cold Mesa shader cache (a fresh CI machine) lavapipe's LLVM takes minutes for a few fused decode kernels
// (mamba1_in_proj_xp_f16x8 alone ~100 s on 2 cores; BENCHMARKS.md, eighth session), compiled at their first dispatch.
vi.setConfig({ testTimeout: 600_000 });
const probe = await acquireDevice({ allowFallback: true });
const reason = adapterMissing('webgpu recorded-step tests', probe);
const shaderF16 = !('unavailable' in probe) && probe.shaderF16;
if (!('unavailable' in probe)) probe.device.destroy();

const HYBRID_DIR = new URL('../fixtures/hybrid/', import.meta.url).pathname;
const backendOf = (m: Model) => (m as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
/** The session's recorded step: a RecordedStep, null (the backend declined), undefined (never asked). */
const recordedOf = (m: Model, s: Session) =>
  (m as unknown as { recorded: WeakMap<object, RecordedStep | null> }).recorded.get((s as unknown as { state: object }).state);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);

/** Prefill, then `steps` greedy one-token steps: every step's logits. */
async function decode(m: Model, prompt: number[], steps: number): Promise<{ logits: Float32Array[]; session: Session }> {
  const session = m.createSession();
  const logits = [await session.prefill(prompt)];
  for (let i = 0; i < steps; i++) logits.push(await session.step(argmax(logits[logits.length - 1])));
  return { logits, session };
}

const opened: Model[] = [];
afterAll(async () => { for (const m of opened) await m.dispose(); });
async function open(src: string | Record<string, Uint8Array>, dtype: LoadDType, recorded: boolean, foldNorms = false): Promise<Model> {
  const m = await loadModel(src, { backend: 'webgpu', dtype });
  backendOf(m).recordSteps = recorded;
  backendOf(m).foldNorms = foldNorms;
  opened.push(m);
  return m;
}

const GREEDY: SamplerParams = { temperature: 0, topK: 1, topP: 1 };
const DTYPES: LoadDType[] = shaderF16 ? ['f32', 'f16', 'q8_0'] : ['f32', 'q8_0'];

describe.skipIf(reason !== null)('webgpu recorded decode steps equal op-by-op decode, bit for bit', () => {
  const CASES: [string, string][] = [
    [join(GOLDEN_DIR, 'm1-untied-bias'), 'Mamba-1, in_proj bias, untied head'],
    [join(GOLDEN_DIR, 'm1-tied'), 'Mamba-1, tied head'],
    [join(GOLDEN_DIR, 'm2-g5-untied-bias'), 'Mamba-2, 5 groups, in_proj bias'],
    [join(GOLDEN_DIR, 'm2-g1-tied'), 'Mamba-2, 1 group, tied head'],
  ];
  for (const [dir, what] of CASES) {
    for (const dtype of DTYPES) {
      it(`${what}, ${dtype}`, async () => {
        const prompt = [1, 7, 3, 11, 5];
        const mr = await open(dir, dtype, true);
        const mp = await open(dir, dtype, false);
        const rec = await decode(mr, prompt, 6);
        const plain = await decode(mp, prompt, 6);
        expect(recordedOf(mp, plain.session)).toBeNull(); // declined: recordSteps off
        expect(recordedOf(mr, rec.session)?.ops).toBeGreaterThan(0);
        rec.logits.forEach((l, i) => expect(bits(l), `step ${i}`).toEqual(bits(plain.logits[i])));
        await rec.session.dispose();
        await plain.session.dispose();
        // Norms folded (the default): within f32 rounding (the head's norm is folded in on one side only).
        const folded = await decode(await open(dir, dtype, true, true), prompt, 6);
        folded.logits.forEach((l, i) => expectClose(l, plain.logits[i], 1e-5, `folded, step ${i}`));
      });
    }
  }

  // Odd widths and a vocabulary that is not a multiple of anything (odd sizes through every kernel).
  for (const modelType of ['mamba', 'mamba2'] as const) {
    it(`${modelType}, odd vocab 1031, d_model 96`, async () => {
      const files = randomModelFiles({ modelType, vocabSize: 1031, hiddenSize: 96, numLayers: 3, stateSize: 16, headDim: 32, nGroups: 1, chunkSize: 64, useBias: false, seed: 9 });
      const rec = await decode(await open(files, 'f32', true), [5, 6, 7], 8);
      const plain = await decode(await open(files, 'f32', false), [5, 6, 7], 8);
      rec.logits.forEach((l, i) => expect(bits(l), `step ${i}`).toEqual(bits(plain.logits[i])));
    });
  }

  // argmaxInHead: the recorded step's head is matvec_argmax_* (8 rows a workgroup, best rows beside the logits);
  // the logits the API reads (session.step, the recorded step's output) are the plain head's, bit for bit —
  // the same dot products and sums per row (lavapipe; see webgpu-runahead.test.ts for the draw itself).
  for (const modelType of ['mamba', 'mamba2'] as const) {
    it(`${modelType}, argmaxInHead: the recorded step's logits equal the plain head's bit for bit (vocab 1031, norm folded and not)`, async () => {
      const files = randomModelFiles({ modelType, vocabSize: 1031, hiddenSize: 96, numLayers: 2, stateSize: 16, headDim: 32, nGroups: 1, chunkSize: 64, useBias: false, seed: 19 });
      for (const foldNorms of [true, false]) {
        const mOn = await loadModel(files, { backend: 'webgpu', dtype: 'f32' }); // disposed here, not kept to the end (lavapipe's room)
        const mOff = await loadModel(files, { backend: 'webgpu', dtype: 'f32' });
        for (const m of [mOn, mOff]) backendOf(m).foldNorms = foldNorms;
        backendOf(mOn).argmaxInHead = true;
        const on = await decode(mOn, [5, 6, 7], 5);
        const off = await decode(mOff, [5, 6, 7], 5);
        expect(recordedOf(mOn, on.session)?.ops).toBeGreaterThan(0);
        expect(backendOf(mOn).stats.argmaxHeads).toBe(1); // the recording's head (the prefill's head is not greedy-drawn)
        on.logits.forEach((l, i) => expect(bits(l), `step ${i}, foldNorms ${foldNorms}`).toEqual(bits(off.logits[i])));
        await on.session.dispose();
        await off.session.dispose();
        await mOn.dispose();
        await mOff.dispose();
      }
    });
  }

  // Mamba-2's in_proj as one dispatch over the fused weight (WebGpuBackend.fuseInProj; needs its parts'
  // outputs 256-byte aligned: I = 64, G·N = 64 here) against the two merged dispatches of before: the
  // same dot products of the same rows, but B, C and dt's rows read x normed on the fly
  // (matvec_x_norm.wgsl's xv) instead of the copy workgroup 0 stored — the same expression in two
  // shaders. Lavapipe gives the same bits; NVIDIA's Vulkan compiler contracts them into FMAs differently
  // per shader (H100, 2026-12-06: last-bit differences in about half the logits), so the check is
  // relative 1e-5: a few f32 ulps (6e-8 each) summed over the 32-wide dot products, far below any bug
  // (a wrong row or a missed norm moves logits by > 1e-2). Batch-1 steps recorded and op by op, f32 and f16.
  for (const dtype of shaderF16 ? ['f32', 'f16'] as const : ['f32'] as const) {
    it(`mamba2, in_proj in one dispatch (fuseInProj) equals the split in_proj, ${dtype}`, async () => {
      const files = randomModelFiles({ modelType: 'mamba2', vocabSize: 515, hiddenSize: 32, numLayers: 2, stateSize: 32, headDim: 8, nGroups: 2, chunkSize: 16, useBias: false, seed: 5 });
      const runs: Float32Array[][] = [];
      for (const [fuse, recorded] of [[true, true], [false, true], [true, false]] as const) {
        const m = await open(files, dtype, recorded, true);
        backendOf(m).fuseInProj = fuse;
        const d0 = backendOf(m).stats.dispatches;
        const r = await decode(m, [5, 6, 7], 6);
        if (recorded) expect(recordedOf(m, r.session)?.ops).toBeGreaterThan(0);
        expect(backendOf(m).stats.dispatches).toBeGreaterThan(d0);
        runs.push(r.logits);
        await r.session.dispose();
        await m.dispose(); // at once: lavapipe's process runs out of room with every model of this file held open
      }
      runs[1].forEach((l, i) => expectClose(l, runs[0][i], 1e-5, `fuse off, step ${i}`));
      // op-by-op steps copy the head's row first (Model.run's sliceRows): the final norm runs alone there, so f32 rounding
      runs[2].forEach((l, i) => expectClose(l, runs[0][i], 1e-5, `op by op, step ${i}`));
    });
  }

  // Mamba-1's x_proj as split-K partial sums inside the in_proj dispatch (WebGpuBackend.xProjPartials, the
  // default): the scan step adds the ⌈I / 16⌉ blocks' sums where x_proj's own dispatch summed all I
  // products in one tree — f32 rounding of an I-term dot product (a few ulps, 6e-8 each, relative to
  // its magnitude; measured ≤ 2e-6 on lavapipe), so within 1e-5 of the four-dispatch path, as the folded norms above; recorded and op
  // by op (norms unfolded on both sides) bit for bit, and a second recorded run gives the same bits (the
  // blocks are summed in a fixed order). I = 72 (4 full blocks and one of 8), 3 layers, f32 and f16.
  for (const dtype of shaderF16 ? ['f32', 'f16'] as const : ['f32'] as const) {
    it(`mamba, x_proj's partial sums in the in_proj dispatch (xProjPartials): one dispatch a layer fewer, ${dtype}`, async () => {
      const files = randomModelFiles({ modelType: 'mamba', vocabSize: 777, hiddenSize: 48, expand: 1.5, numLayers: 3, stateSize: 16, useBias: false, seed: 21 });
      const on = await stepsWith(files, dtype, true, (b) => { b.xProjPartials = true; });
      const again = await stepsWith(files, dtype, true, (b) => { b.xProjPartials = true; });
      const plain = await stepsWith(files, dtype, false, (b) => { b.xProjPartials = true; });
      const off = await stepsWith(files, dtype, true, (b) => { b.xProjPartials = false; });
      on.dispatches.forEach((d, i) => expect(d, `step ${i}`).toBe(off.dispatches[i] - 3));
      on.logits.forEach((l, i) => expect(bits(l), `again, step ${i}`).toEqual(bits(again.logits[i])));
      on.logits.forEach((l, i) => expect(bits(l), `op by op, step ${i}`).toEqual(bits(plain.logits[i])));
      on.logits.forEach((l, i) => expectClose(l, off.logits[i], 1e-5, `x_proj's own dispatch, step ${i}`));
    });
  }

  /** Prefill, then `steps` greedy steps on a fresh model: every step's logits and dispatches (WebGpuBackend switches set by `set`). */
  async function stepsWith(files: Record<string, Uint8Array>, dtype: LoadDType, recorded: boolean, set: (b: WebGpuBackend) => void, steps = 4) {
    const m = await open(files, dtype, recorded);
    set(backendOf(m));
    const session = m.createSession();
    const logits = [await session.prefill([5, 6, 7])];
    const dispatches: number[] = [];
    for (let i = 0; i < steps; i++) {
      const d0 = backendOf(m).stats.dispatches;
      logits.push(await session.step(argmax(logits[logits.length - 1])));
      dispatches.push(backendOf(m).stats.dispatches - d0);
    }
    if (recorded) expect(recordedOf(m, session)?.ops).toBeGreaterThan(0);
    await session.dispose();
    await m.dispose(); // at once (lavapipe's room)
    return { logits, dispatches };
  }

  // foldHeadNorm: a vocabulary above the 16,384 rows up to which a norm is folded by default, so the final
  // norm is a dispatch of its own unless the switch is on. Folded, every head workgroup computes the
  // norm's 1/rms itself (include/norm_fold.wgsl) where rms_norm.wgsl summed the squares once in another
  // order: within f32 rounding (1e-5 of max(1, |logit|), as the folded-norm cases above), not bit for bit.
  for (const dtype of shaderF16 ? ['f32', 'f16'] as const : ['f32'] as const) {
    it(`foldHeadNorm: the final norm inside the head (vocab 16,411): one dispatch a step fewer, recorded and op by op, ${dtype}`, async () => {
      const files = randomModelFiles({ modelType: 'mamba2', vocabSize: 16411, hiddenSize: 32, numLayers: 2, stateSize: 16, headDim: 16, nGroups: 1, chunkSize: 64, useBias: false, seed: 12 });
      const off = await stepsWith(files, dtype, true, (b) => { b.foldNorms = true; b.foldHeadNorm = false; });
      const on = await stepsWith(files, dtype, true, (b) => { b.foldNorms = true; b.foldHeadNorm = true; });
      const onPlain = await stepsWith(files, dtype, false, (b) => { b.foldNorms = true; b.foldHeadNorm = true; });
      on.dispatches.forEach((d, i) => expect(d, `step ${i}`).toBe(off.dispatches[i] - 1));
      on.logits.forEach((l, i) => expectClose(l, off.logits[i], 1e-5, `folded head norm, step ${i}`));
      onPlain.logits.forEach((l, i) => expectClose(l, on.logits[i], 1e-5, `op by op, step ${i}`));
    });
  }

  it('the switches read the environment: MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM, _STEP_OUTPUTS, _XPROJ_PARTIALS, _ARGMAX_HEAD (bad values: E_ARGUMENT)', async () => {
    const names = ['MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM', 'MAMBA_EDGE_WEBGPU_STEP_OUTPUTS', 'MAMBA_EDGE_WEBGPU_XPROJ_PARTIALS', 'MAMBA_EDGE_WEBGPU_ARGMAX_HEAD'];
    const saved = names.map((n) => process.env[n]);
    const make = async () => {
      const b = await createWebGpuBackend({ allowFallback: true }) as WebGpuBackend;
      const got = { foldHeadNorm: b.foldHeadNorm, stepOutputs: b.stepOutputs, xProjPartials: b.xProjPartials, argmaxInHead: b.argmaxInHead };
      await b.dispose();
      return got;
    };
    try {
      for (const n of names) delete process.env[n];
      expect(await make()).toEqual({ foldHeadNorm: false, stepOutputs: 4, xProjPartials: true, argmaxInHead: true });
      Object.assign(process.env, { MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM: 'on', MAMBA_EDGE_WEBGPU_STEP_OUTPUTS: '1', MAMBA_EDGE_WEBGPU_XPROJ_PARTIALS: '0', MAMBA_EDGE_WEBGPU_ARGMAX_HEAD: 'on' });
      expect(await make()).toEqual({ foldHeadNorm: true, stepOutputs: 1, xProjPartials: false, argmaxInHead: true });
      Object.assign(process.env, { MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM: '0', MAMBA_EDGE_WEBGPU_STEP_OUTPUTS: '', MAMBA_EDGE_WEBGPU_XPROJ_PARTIALS: '1', MAMBA_EDGE_WEBGPU_ARGMAX_HEAD: 'off' });
      expect(await make()).toEqual({ foldHeadNorm: false, stepOutputs: 4, xProjPartials: true, argmaxInHead: false });
      const badValues: [string, string][] = [
        ['MAMBA_EDGE_WEBGPU_ARGMAX_HEAD', 'greedy'], ['MAMBA_EDGE_WEBGPU_XPROJ_PARTIALS', 'sometimes'],
        ['MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM', 'yes please'], ['MAMBA_EDGE_WEBGPU_STEP_OUTPUTS', '0'],
      ];
      for (const [name, bad] of badValues) {
        process.env[name] = bad;
        await expect(make()).rejects.toMatchObject({ code: 'E_ARGUMENT', message: expect.stringContaining(name) });
        delete process.env[name];
      }
      process.env.MAMBA_EDGE_WEBGPU_STEP_OUTPUT = '2'; // misspelt: named, with the switches that exist
      await expect(make()).rejects.toMatchObject({ code: 'E_ARGUMENT', message: expect.stringMatching(/MAMBA_EDGE_WEBGPU_STEP_OUTPUT: not a known switch.*MAMBA_EDGE_WEBGPU_STEP_OUTPUTS/) });
    } finally {
      delete process.env.MAMBA_EDGE_WEBGPU_STEP_OUTPUT;
      names.forEach((n, i) => { if (saved[i] === undefined) delete process.env[n]; else process.env[n] = saved[i]; });
    }
  });

  it('two sessions of one model keep separate recordings (each its own state); dispose returns the memory', async () => {
    const m = await open(join(GOLDEN_DIR, 'm1-tied'), 'f32', true);
    const a = await decode(m, [2, 4, 6], 4);
    const b = await decode(m, [9, 8], 4);
    const again = await decode(await open(join(GOLDEN_DIR, 'm1-tied'), 'f32', false), [2, 4, 6], 4);
    a.logits.forEach((l, i) => expect(bits(l)).toEqual(bits(again.logits[i])));
    expect(bits(b.logits[4])).not.toEqual(bits(a.logits[4]));
    const counts = () => backendOf(m).deviceCounts.buffers;
    const recordings = () => (backendOf(m) as unknown as { recordings: Set<unknown> }).recordings.size;
    expect(recordings()).toBe(2);
    const before = counts();
    await a.session.dispose();
    expect(recordings()).toBe(1);
    expect(counts()).toBe(before - 1); // its buffers went back to the pool; only its parameters' uniform buffer is gone
    await b.session.dispose();
    expect(recordings()).toBe(0);
  });

  it('a device-sampled token fed to a recorded step equals the same id from the host', async () => {
    const files = randomModelFiles({ modelType: 'mamba2', vocabSize: 515, hiddenSize: 64, numLayers: 2, stateSize: 16, headDim: 16, nGroups: 1, chunkSize: 64, useBias: true, seed: 3 });
    for (const modelType of ['mamba2', 'mamba'] as const) {
      const src = modelType === 'mamba2' ? files : randomModelFiles({ modelType, vocabSize: 515, hiddenSize: 64, numLayers: 2, stateSize: 16, useBias: true, seed: 3 });
      const m = await open(src, 'f32', true);
      const b = backendOf(m);
      const ds = b.deviceSampling;
      // Two sessions at the same point, each with its step recorded by its first token.
      const [sa, sb] = [m.createSession(), m.createSession()];
      for (const s of [sa, sb]) { await s.prefill([3, 1, 4]); await s.step(1); }
      const [stepA, stepB] = [recordedOf(m, sa)!, recordedOf(m, sb)!];
      expect(stepA).not.toBe(stepB);
      const x = Int32Array.of(7);
      // A: the next id from the device, straight into the next run.
      let token = ds.sample(stepA.run(x), GREEDY, 0);
      const logitsA: Float32Array[] = [];
      const chosen: number[] = [];
      for (let i = 0; i < 3; i++) {
        const out = stepA.run(ds.ids(token));
        chosen.push((await ds.read(token)).id);
        ds.release(token);
        logitsA.push(await b.read(out));
        token = ds.sample(out, GREEDY, 0);
      }
      ds.release(token);
      // B: the same ids from the host.
      const first = await b.read(stepB.run(x));
      expect(chosen[0]).toBe(argmax(first));
      for (let i = 0; i < 3; i++) {
        const l = await b.read(stepB.run(Int32Array.of(chosen[i])));
        expect(bits(l), `${modelType} step ${i}`).toEqual(bits(logitsA[i]));
        if (i < 2) expect(chosen[i + 1]).toBe(argmax(l));
      }
      await sa.dispose();
      await sb.dispose();
    }
  });

  it('a recorded step refuses a token outside the vocabulary (E_TOKEN) and a wrong count (E_ARGUMENT); released, it refuses to run', async () => {
    const m = await open(join(GOLDEN_DIR, 'm1-tied'), 'f32', true);
    const { session } = await decode(m, [1, 2], 1);
    const step = recordedOf(m, session)!;
    expect(() => step.run(Int32Array.of(m.config.vocabSize))).toThrow(expect.objectContaining({ code: 'E_TOKEN' }));
    expect(() => step.run(Int32Array.of(-1))).toThrow(expect.objectContaining({ code: 'E_TOKEN' }));
    expect(() => step.run(Int32Array.of(1, 2))).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
    await session.dispose(); // releases the recording
    expect(() => step.run(Int32Array.of(1))).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
    step.release(); // again: nothing
  });

  it('Jamba (attention with a KV cache, MoE): decode steps are not recorded and decode as before', async () => {
    const dir = join(HYBRID_DIR, 'jamba');
    const rec = await decode(await open(dir, 'f32', true), [1, 2, 3], 3);
    const plain = await decode(await open(dir, 'f32', false), [1, 2, 3], 3);
    rec.logits.forEach((l, i) => expect(bits(l)).toEqual(bits(plain.logits[i])));
  });
});
