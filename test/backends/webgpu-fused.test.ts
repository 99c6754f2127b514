/**
 * The webgpu backend's fused Mamba-1 decode op (Backend.mambaMixerStep) against the graph's unfused
 * ops on the reference backend (src/models/mamba.ts `mamba.mixer`, then the residual add): output
 * and both states after each of several tokens, batch 2, odd widths, conv kernels 4 and 3, with and
 * without the conv / in_proj biases. And whole models: a decode step takes 3 (Mamba-1 with x_proj's
 * partial sums in the in_proj dispatch, xProjPartials; 4 without) / 3 (Mamba-2; 5 without its folds)
 * dispatches per layer with the norm, and the step logits equal the full forward's (the goldens check
 * the same on HF fixtures).
 *
 * Also swiglu and relu2 against the reference.
 *
 * Tolerance 1e-4 relative to max(1, |value|), as in webgpu.test.ts (f32 accumulation order, WGSL exp).
 * xProjPartials changes only the order x_proj's I products are summed in (blocks of 16 channels, then
 * the blocks) — f32 rounding of a few ulps of an I-term sum, inside that bound (on lavapipe the logits of
 * 3-layer models after 7 tokens moved ≤ 2e-6 relative, f32 and f16 weights, I = 72 and 192).
 */
import { describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import type { Backend, Tensor, WeightDType } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { mamba, type MambaConfig, type MambaLayer } from '../../src/models/mamba.js';
import { mamba2, type Mamba2Config, type Mamba2Layer } from '../../src/models/mamba2.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { expectClose } from './op-suite.js';
import { rng } from '../helpers/sequences.js';
import { adapterMissing } from '../helpers/webgpu.js';

const created = await createWebGpuBackend({ allowFallback: true });
const reason = adapterMissing('webgpu fused tests', created);
const gpu = (reason ? null : created) as WebGpuBackend | null;
vi.setConfig({ testTimeout: 120_000 });

const TOL = 1e-4;

interface Shape { B: number; D: number; I: number; N: number; R: number; K: number; convBias: boolean; inBias: boolean; dtype?: WeightDType; inDtype?: WeightDType }

/** The same random layer on a backend, as mamba.prepareLayer lays it out. */
function layer(b: Backend, s: Shape, seed: number, xDtype: WeightDType = 'f32', inDtype: WeightDType = 'f32'): MambaLayer {
  const r = rng(seed);
  const t = (shape: number[], scale = 0.3, dtype: WeightDType = 'f32') =>
    b.upload(Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => r() * scale), shape, dtype);
  return {
    inProjX: t([s.I, s.D], 0.3, inDtype), inProjZ: t([s.I, s.D], 0.3, inDtype),
    inProjXBias: s.inBias ? t([s.I]) : null, inProjZBias: s.inBias ? t([s.I]) : null,
    convWeight: t([s.I, s.K], 0.5), convBias: s.convBias ? t([s.I]) : null,
    xProjDt: t([s.R, s.I], 0.3, xDtype), xProjB: t([s.N, s.I], 0.3, xDtype), xProjC: t([s.N, s.I], 0.3, xDtype),
    dtProjWeight: t([s.I, s.R], 0.3, xDtype), dtProjBias: t([s.I], 1),
    A: b.upload(Float32Array.from({ length: s.I * s.N }, () => -Math.exp(r())), [s.I, s.N]), D: t([s.I], 1),
    outProj: t([s.D, s.I]), outProjBias: null, innerNorms: null,
  };
}

describe.skipIf(gpu === null)('webgpu fused Mamba-1 decode step', () => {
  const shapes: Shape[] = [
    { B: 2, D: 12, I: 22, N: 5, R: 3, K: 4, convBias: true, inBias: false },
    { B: 1, D: 16, I: 70, N: 16, R: 1, K: 3, convBias: false, inBias: true },
    { B: 3, D: 8, I: 130, N: 4, R: 5, K: 1, convBias: true, inBias: true },
    // f16 x_proj / dt_proj (R = 6: rows of dt_proj start mid-word), q8_0 with R = 32 (one block per dt_proj row).
    { B: 2, D: 16, I: 40, N: 8, R: 6, K: 4, convBias: true, inBias: false, dtype: 'f16' },
    { B: 1, D: 32, I: 64, N: 16, R: 32, K: 4, convBias: true, inBias: false, dtype: 'q8_0' },
    // x_proj's partial sums (xProjPartials): batch 8 with I = 37 (3 blocks of 16, the last of 5 channels),
    // f16 in_proj (mamba1_in_proj_xp_f16x8) and f16 x_proj with I = 46, R + 2N = 138 > 128 (one thread a
    // value adds the blocks), and I = 7 < one block.
    { B: 8, D: 16, I: 37, N: 6, R: 3, K: 4, convBias: true, inBias: false },
    { B: 3, D: 24, I: 46, N: 7, R: 4, K: 4, convBias: false, inBias: false, dtype: 'f16', inDtype: 'f16' },
    { B: 2, D: 8, I: 50, N: 4, R: 130, K: 3, convBias: true, inBias: false },
    { B: 5, D: 12, I: 7, N: 5, R: 2, K: 2, convBias: true, inBias: false },
    // I = 2100: 132 blocks, so a scan workgroup takes G = 2 groups of 16 channels in turn (the last one past I)
    { B: 2, D: 8, I: 2100, N: 4, R: 2, K: 4, convBias: true, inBias: false },
  ];
  for (const s of shapes) for (const partials of [true, false]) {
    it(`equals the unfused graph ops on the reference: ${JSON.stringify(s)}, xProjPartials ${partials}`, async () => {
      const g = gpu!;
      g.xProjPartials = partials;
      // q8_0: the reference stores no q8_0, so the oracle is the same backend's unfused ops (which
      // webgpu.test.ts checks against the reference op by op).
      const ref: Backend = s.dtype === 'q8_0' ? g : new ReferenceBackend();
      const wg = layer(g, s, 7, s.dtype, s.inDtype), wr = layer(ref, s, 7, s.dtype, s.inDtype);
      const cfg = { normEps: 1e-5 } as MambaConfig;
      const r = rng(99);
      const init = (n: number) => Float32Array.from({ length: n }, () => r() * 0.5);
      const conv0 = init(s.B * s.I * (s.K - 1)), ssm0 = init(s.B * s.I * s.N);
      const sg = [g.upload(conv0, [s.B, s.I, s.K - 1]), g.upload(ssm0, [s.B, s.I, s.N])];
      const sr = [ref.upload(conv0, [s.B, s.I, s.K - 1]), ref.upload(ssm0, [s.B, s.I, s.N])];
      for (let step = 0; step < 3; step++) {
        const x = init(s.B * s.D), h = init(s.B * s.D);
        const xs = [s.B, 1, s.D];
        const d0 = g.stats.dispatches;
        const out = g.mambaMixerStep({ ...wg, x: g.upload(x, xs), residual: g.upload(h, xs), convState: sg[0], ssmState: sg[1] });
        expect(out).not.toBeNull();
        const got = await g.read(out as Tensor);
        // in_proj + conv + x_proj's partials, scan step, out_proj (q8_0 x_proj or an in_proj bias: x_proj's own dispatches)
        if (partials && !s.inBias && s.dtype !== 'q8_0') expect(g.stats.dispatches - d0).toBe(3);
        const mixed = mamba.mixer({ backend: ref, cfg, weights: wr, state: sr, step: true }, ref.upload(x, xs));
        const want = ref.add(ref.upload(h, xs), mixed);
        expectClose(got, await ref.read(want), TOL, `out, token ${step}`);
        expectClose(await g.read(sg[0]), await ref.read(sr[0]), TOL, `conv state, token ${step}`);
        expectClose(await g.read(sg[1]), await ref.read(sr[1]), TOL, `ssm state, token ${step}`);
      }
    });
  }

  it('declines what it does not take (batch > 8, T > 1): the graph then runs the unfused ops', () => {
    const g = gpu!;
    const s: Shape = { B: 1, D: 16, I: 32, N: 4, R: 2, K: 4, convBias: true, inBias: false };
    const st = [g.zeros([9, s.I, s.K - 1]), g.zeros([9, s.I, s.N])];
    const x9 = g.zeros([9, 1, s.D]);
    expect(g.mambaMixerStep({ ...layer(g, s, 1), x: x9, residual: x9, convState: st[0], ssmState: st[1] })).toBeNull();
    const x2 = g.zeros([1, 2, s.D]);
    expect(g.mambaMixerStep({ ...layer(g, s, 1), x: x2, residual: x2, convState: st[0], ssmState: st[1] })).toBeNull();
  });

  it('a model decode step: 4 dispatches per layer, norm included, and step logits equal the full forward', async () => {
    const files = randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 24, numLayers: 3, stateSize: 6 });
    // embedding + 3 × (norm + in_proj + conv step in one + x_proj + dt_proj with scan + out_proj
    // with residual) + lm_head with the final norm folded in (the recorded step reads the head's row
    // in place: no copy of it). Unfused: 8 per layer.
    // With x_proj's partial sums in the in_proj dispatch (xProjPartials, the default): 3 per layer.
    await expectDecodeSteps(files, [5, 17, 3, 60, 2], 1 + 3 * 3 + 1, (b) => { b.xProjPartials = true; });
    await expectDecodeSteps(files, [5, 17, 3, 60, 2], 1 + 3 * 4 + 1, (b) => { b.xProjPartials = false; });
  });

  it('a model decode step with I = 36 (not a multiple of 16), f16: 3 dispatches per layer, logits equal the full forward', async () => {
    const files = randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 24, expand: 1.5, numLayers: 2, stateSize: 5, seed: 4 });
    const on = (b: WebGpuBackend) => { b.xProjPartials = true; };
    await expectDecodeSteps(files, [9, 1, 200, 4], 1 + 2 * 3 + 1, on);
    await expectDecodeSteps(files, [9, 1, 200, 4], 1 + 2 * 3 + 1, on, 'f16');
  });
});

/**
 * A session over `files` (vocabulary 256) on webgpu steps through `ids`: each step makes exactly
 * `dispatches` dispatches and its logits equal the full forward's at that position.
 */
async function expectDecodeSteps(files: Record<string, Uint8Array>, ids: number[], dispatches: number, set?: (b: WebGpuBackend) => void, dtype?: 'f16'): Promise<void> {
  const m = await loadModel(files, { backend: 'webgpu', ...(dtype ? { dtype } : {}) });
  const b = (m as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
  set?.(b);
  const full = await m.forward([ids]);
  const V = 256;
  const s = m.createSession();
  for (let t = 0; t < ids.length; t++) {
    const d0 = b.stats.dispatches;
    const logits = await s.step(ids[t]);
    expect(b.stats.dispatches - d0).toBe(dispatches);
    expectClose(logits, full.logits.subarray(t * V, (t + 1) * V), TOL, `logits, token ${t}`);
  }
  await m.dispose();
}

interface Shape2 { B: number; D: number; H: number; P: number; G: number; N: number; K: number; convBias: boolean; inBias: boolean; groupSize?: number; dtMax?: number }

/** A random Mamba-2 layer as mamba2.prepareLayer lays it out. */
function layer2(b: Backend, s: Shape2, seed: number): Mamba2Layer {
  const r = rng(seed);
  const I = s.H * s.P, GN = s.G * s.N;
  const t = (shape: number[], scale = 0.3) => b.upload(Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => r() * scale), shape);
  return {
    inProjZ: t([I, s.D]), inProjX: t([I, s.D]), inProjB: t([GN, s.D]), inProjC: t([GN, s.D]), inProjDt: t([s.H, s.D]),
    inProjBias: s.inBias ? { z: t([I]), x: t([I]), B: t([GN]), C: t([GN]), dt: t([s.H]) } : null,
    convX: t([I, s.K], 0.5), convB: t([GN, s.K], 0.5), convC: t([GN, s.K], 0.5),
    convBias: s.convBias ? { x: t([I]), B: t([GN]), C: t([GN]) } : null,
    dtBias: t([s.H], 1), A: b.upload(Float32Array.from({ length: s.H }, () => -Math.exp(r())), [s.H]), D: t([s.H], 1),
    norm: t([I], 1), outProj: t([s.D, I]), outProjBias: null,
  } as Mamba2Layer;
}

describe.skipIf(gpu === null)('webgpu fused Mamba-2 decode step', () => {
  const shapes: Shape2[] = [
    { B: 2, D: 12, H: 3, P: 5, G: 1, N: 6, K: 4, convBias: true, inBias: false },
    { B: 1, D: 16, H: 4, P: 8, G: 2, N: 16, K: 3, convBias: false, inBias: true, groupSize: 16 },
    // The gated norm folded into out_proj (matvec_gnorm): batch 2 × 4 norm groups of 8 = its 8-slot limit.
    { B: 2, D: 16, H: 4, P: 8, G: 2, N: 16, K: 4, convBias: true, inBias: false, groupSize: 8 },
    { B: 3, D: 20, H: 6, P: 7, G: 3, N: 5, K: 2, convBias: true, inBias: true, dtMax: 0.2 },
  ];
  for (const s of shapes) {
    it(`equals the unfused graph ops on the reference: ${JSON.stringify(s)}`, async () => {
      const g = gpu!;
      const ref = new ReferenceBackend();
      const wg = layer2(g, s, 3), wr = layer2(ref, s, 3);
      const I = s.H * s.P, GN = s.G * s.N;
      const cfg = {
        normEps: 1e-5, normGroupSize: s.groupSize, intermediateSize: I, numHeads: s.H, headDim: s.P, nGroups: s.G, stateSize: s.N,
        chunkSize: 8, timeStepLimit: [0.001, s.dtMax ?? Infinity],
      } as unknown as Mamba2Config;
      const r = rng(98);
      const init = (n: number) => Float32Array.from({ length: n }, () => r() * 0.5);
      const shapesOf = [[s.B, I, s.K - 1], [s.B, GN, s.K - 1], [s.B, GN, s.K - 1], [s.B, s.H, s.P, s.N]];
      const st0 = shapesOf.map((sh) => init(sh.reduce((x, y) => x * y, 1)));
      const sg = shapesOf.map((sh, i) => g.upload(st0[i], sh));
      const sr = shapesOf.map((sh, i) => ref.upload(st0[i], sh));
      for (let step = 0; step < 3; step++) {
        const x = init(s.B * s.D), h = init(s.B * s.D);
        const xs = [s.B, 1, s.D];
        const out = mamba2.fusedStep!({ backend: g, cfg, weights: wg, state: sg, step: true }, g.upload(x, xs), g.upload(h, xs));
        expect(out).not.toBeNull();
        const mixed = mamba2.mixer({ backend: ref, cfg, weights: wr, state: sr, step: true }, ref.upload(x, xs));
        const want = ref.add(ref.upload(h, xs), mixed);
        expectClose(await g.read(out as Tensor), await ref.read(want), TOL, `out, token ${step}`);
        for (let i = 0; i < 4; i++) expectClose(await g.read(sg[i]), await ref.read(sr[i]), TOL, `state ${i}, token ${step}`);
      }
    });
  }

  it('a model decode step: 5 dispatches per layer, norm included, and step logits equal the full forward', async () => {
    const files = randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 32, numLayers: 3, stateSize: 8, headDim: 8, nGroups: 2, chunkSize: 16 });
    // embedding + 3 × (2 in_proj, the first with the norm folded in + B/C conv + x conv with SSD +
    // out_proj with the gated norm and the residual folded in) + lm_head with the final norm folded in
    // (unfused: 10 per layer)
    await expectDecodeSteps(files, [5, 17, 3, 60, 2, 9], 1 + 3 * 5 + 1);
  });

  // in_proj's parts at 256-byte-aligned output offsets (I = 64, G·N = 64: z, x, B, C, dt start at 0,
  // 256, 512, 768, 1024 bytes) — as in every published Mamba-2 (I = 1536…, G·N = 128): the whole
  // in_proj is one dispatch over the fused weight (fuseInProj), with the x / B / C conv steps in it
  // (foldDecode: mamba2_in_proj_*, no conv1d_step_pair); fuseInProj off: the two merged dispatches again.
  it('a model decode step with in_proj parts aligned: 3 dispatches per layer (norm, in_proj and convs in one); 5 with fuseInProj off', async () => {
    const files = randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 32, numLayers: 3, stateSize: 32, headDim: 8, nGroups: 2, chunkSize: 16, seed: 4 });
    const ids = [5, 17, 3, 60, 2, 9];
    await expectDecodeSteps(files, ids, 1 + 3 * 3 + 1); // + in_proj with norm and convs, scan step, out_proj with the gated norm
    await expectDecodeSteps(files, ids, 1 + 3 * 5 + 1, (b) => { b.fuseInProj = false; });
    // foldDecode off: in_proj in one, then the conv pair, the scan step (x's conv), the gated norm, out_proj
    await expectDecodeSteps(files, ids, 1 + 3 * 5 + 1, (b) => { b.foldDecode = false; });
  });

  it('without conv biases: 3 dispatches per layer, logits equal the full forward', async () => {
    const files = randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 32, numLayers: 2, stateSize: 32, headDim: 8, nGroups: 2, chunkSize: 16, useConvBias: false, seed: 6 });
    await expectDecodeSteps(files, [3, 1, 4, 1, 5], 1 + 2 * 3 + 1);
  });
});
