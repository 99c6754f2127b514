/**
 * The cuda backend's batch-1 decode kernels (gpu/cuda/src/decode.cu), where a GPU is present, against the
 * reference backend: a one-row RMSNorm (alone, or after a residual add), gated RMSNorm or T = 1 conv folded into
 * the GEMVs that read it, the one-row GEMV in f32 / f16 / bf16, Mamba-1's scan step with dt_proj (and the
 * folded conv's state shift) in it, and Mamba-2's SSD step, alone or with its three convs in it.
 * The golden suite (goldens.test.ts) runs every decode step of the transformers goldens through them;
 * these cases pin down what it does not: odd sizes, the folded outputs read afterwards (the residual sum,
 * the normed row, dt), a norm whose output two GEMV batches read, shapes that must not fold (K not a
 * multiple of 4, two rows, a dt GEMV with a bias), N above 32 lanes, and the zerosBlock state layout.
 * Tolerance: f32 sums in another order than the reference's, 2e-5 relative (× √(K/64) for long rows), as
 * the fused-launch cases in fast-paths.test.ts; a wrong index or a missed fold is O(1).
 */
import { describe, expect, it } from 'vitest';
import '../../src/node.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import type { CudaBackend } from '../../src/backends/cuda/index.js';
import type { Backend, Tensor } from '../../src/backends/backend.js';
import { expectClose } from '../backends/op-suite.js';
import { rand, rng } from '../helpers/sequences.js';
import { cudaBackend, cudaUnavailable, skipNote } from './available.js';

skipNote('decode-kernel tests');

/** Counts the addon calls a backend makes by name (the Device object's methods, wrapped). */
function countCalls(cuda: CudaBackend, names: string[]): Record<string, number> {
  const dev = (cuda as unknown as { dev: Record<string, (...a: unknown[]) => unknown> }).dev;
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const n of names) {
    const f = dev[n];
    if (typeof f !== 'function') continue;
    // An own property over the prototype's (the addon's methods are read-only there, so plain assignment throws).
    Object.defineProperty(dev, n, { value: (...a: unknown[]) => { counts[n]++; return f.apply(dev, a); }, configurable: true, writable: true });
  }
  return counts;
}

describe.skipIf(cudaUnavailable !== null)('cuda decode kernels', () => {
  it('a one-row norm (alone, after an add, gated) folds into the GEMVs after it, in f32 / f16 / bf16; sum and normed row stay readable', async () => {
    const r = rng(71);
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      for (const D of [20, 772]) { // 772: 193 float4s a row, not a multiple of the 8 held per lane
        const cuda = (await cudaBackend()) as CudaBackend;
        const calls = countCalls(cuda, ['decodeGemv', 'rmsNorm', 'addRmsNorm', 'gatedRmsNorm', 'matmul', 'gemvBatch']);
        const ref = new ReferenceBackend();
        const G = 4; // gated norm groups
        const d = {
          h: rand(D, r), res: rand(D, r), nw: rand(D, r, 2), gate: rand(D, r, 3),
          ws: [7, 33, 130, 1].map((M) => ({ M, w: rand(M * D, r), bias: M % 2 ? rand(M, r) : null })),
          w2: rand(5 * D, r),
        };
        const run = async (b: Backend) => {
          const H = b.upload(d.h, [1, 1, D]), RES = b.upload(d.res, [1, 1, D]), NW = b.upload(d.nw, [D]), GATE = b.upload(d.gate, [1, 1, D]);
          const W = d.ws.map((m) => ({ w: b.upload(m.w, [m.M, D], dtype), bias: m.bias ? b.upload(m.bias, [m.M]) : null }));
          const W2 = b.upload(d.w2, [5, D], dtype);
          const outs: Tensor[] = [];
          // add + rmsNorm, then 4 GEMVs over the normed row (one batch), then a GEMV of another input
          const sum = b.add(RES, H);
          const normed = b.rmsNorm(sum, NW, 1e-5);
          const row = b.reshape(normed, [1, D]);
          for (const m of W) outs.push(b.matmul(row, m.w, m.bias));
          outs.push(b.matmul(b.reshape(H, [1, D]), W2));
          // rmsNorm alone, read by a GEMV batch and then by a second batch after another op
          const n2 = b.rmsNorm(H, NW, 1e-6);
          outs.push(b.matmul(b.reshape(n2, [1, D]), W[1].w, W[1].bias));
          const other = b.add(H, RES);
          outs.push(b.matmul(b.reshape(n2, [1, D]), W2));
          // gated norm over G groups, folded into the GEMV after it
          const g = b.gatedRmsNorm(H, GATE, NW, 1e-5, D / G);
          outs.push(b.matmul(b.reshape(g, [1, D]), W[2].w, W[2].bias));
          // a norm nothing reads through a GEMV: it still runs
          const lone = b.rmsNorm(RES, NW, 1e-5);
          return Promise.all([...outs, sum, normed, n2, other, g, lone].map((t) => b.read(t)));
        };
        const [got, want] = [await run(cuda), await run(ref)];
        const tol = 2e-5 * Math.sqrt(D / 64) + 1e-6; // the reference stores f16 / bf16 weights rounded the same way
        got.forEach((x, i) => expectClose(x, want[i], tol, `${dtype} D ${D} output ${i}`));
        expect(calls.decodeGemv, `${dtype} D ${D}: decode GEMV launches`).toBe(5);
        expect(calls.addRmsNorm + calls.gatedRmsNorm, `${dtype} D ${D}: folded norms launched alone`).toBe(0);
        expect(calls.rmsNorm, `${dtype} D ${D}: only the norm no GEMV reads runs alone`).toBe(1);
        await cuda.dispose();
      }
    }
  });

  it('shapes that must not fold run the plain kernels: K not a multiple of 4, two rows, a norm read by a GEMV of another width', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const calls = countCalls(cuda, ['decodeGemv', 'rmsNorm', 'addRmsNorm']);
    const ref = new ReferenceBackend();
    const r = rng(72);
    const d = { x19: rand(19, r), w19: rand(19, r), m19: rand(6 * 19, r), x2: rand(2 * 24, r), w24: rand(24, r), m24: rand(9 * 24, r) };
    const run = async (b: Backend) => {
      const X19 = b.upload(d.x19, [1, 19]), W19 = b.upload(d.w19, [19]), M19 = b.upload(d.m19, [6, 19]);
      const X2 = b.upload(d.x2, [2, 24]), W24 = b.upload(d.w24, [24]), M24 = b.upload(d.m24, [9, 24]), M12 = b.upload(d.m24.subarray(0, 5 * 12), [5, 12]);
      const a = b.matmul(b.rmsNorm(X19, W19, 1e-5), M19); //      K = 19: matmul.cu's GEMV
      const c = b.matmul(b.rmsNorm(X2, W24, 1e-5), M24); //       two rows
      const n = b.rmsNorm(b.sliceRows(X2, 1, 1), W24, 1e-5); //  one row of 24 ...
      const e = b.matmul(b.reshape(n, [2, 12]), M12); //          ... read as two rows of 12
      return Promise.all([a, c, n, e].map((t) => b.read(t)));
    };
    const [got, want] = [await run(cuda), await run(ref)];
    got.forEach((x, i) => expectClose(x, want[i], 2e-5, `output ${i}`));
    expect(calls.decodeGemv).toBe(0);
    expect(calls.rmsNorm).toBe(3);
    await cuda.dispose();
  });

  it('Mamba-1 scan step with dt_proj folded in: odd I, R, N (incl. N > 32), f32 / bf16 dt_proj; state, y and dt equal the reference; a biased dt GEMV does not fold', async () => {
    const r = rng(73);
    for (const [I, R, N, dtype] of [[37, 7, 5, 'f32'], [300, 48, 16, 'f32'], [65, 3, 40, 'bf16']] as const) {
      const cuda = (await cudaBackend()) as CudaBackend;
      const calls = countCalls(cuda, ['scanDtStep', 'scan']);
      const ref = new ReferenceBackend();
      const d = {
        x: rand(I, r), dtLow: rand(R, r), wDt: rand(I * R, r, 0.5), dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -Math.abs(v) - 0.05),
        Bm: rand(N, r), Cm: rand(N, r), D: rand(I, r), z: rand(I, r), h0: rand(I * N, r), bias: rand(I, r),
      };
      const run = async (b: Backend) => {
        const state = b.upload(d.h0, [1, I, N]);
        const w = { x: b.upload(d.x, [1, 1, I]), dtLow: b.upload(d.dtLow, [1, 1, R]), wDt: b.upload(d.wDt, [I, R], dtype), bias: b.upload(d.bias, [I]) };
        const rest = {
          dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), B: b.upload(d.Bm, [1, 1, N]), C: b.upload(d.Cm, [1, 1, N]),
          D: b.upload(d.D, [I]), z: b.upload(d.z, [1, 1, I]), state,
        };
        const outs: Tensor[] = [];
        for (let t = 0; t < 3; t++) { // three tokens: the state carries
          const dt = b.matmul(w.dtLow, w.wDt); //                        [1, 1, I], held back, then folded
          outs.push(b.selectiveScanStep({ x: w.x, dt, ...rest }), dt);
        }
        const dtB = b.matmul(w.dtLow, w.wDt, w.bias); // with a bias: not folded (the scan adds dtBias itself)
        outs.push(b.selectiveScanStep({ x: w.x, dt: dtB, ...rest }), dtB);
        return Promise.all([...outs, state].map((t) => b.read(t)));
      };
      const [got, want] = [await run(cuda), await run(ref)];
      got.forEach((x, i) => expectClose(x, want[i], 2e-5, `I ${I} R ${R} N ${N} ${dtype} output ${i}`));
      expect(calls.scanDtStep, `I ${I}: folded steps`).toBe(3);
      expect(calls.scan, `I ${I}: the biased one`).toBe(1);
      await cuda.dispose();
    }
  });

  it('a one-token conv folds into the GEMVs reading its output (Mamba-1 x_proj); its state shift goes into the scan step, or runs alone before anything else', async () => {
    const r = rng(75);
    const I = 44, K = 4, R = 5, N = 6;
    const d = {
      xs: [0, 1, 2].map(() => rand(I, r)), z: rand(I, r), cw: rand(I * K, r), cb: rand(I, r), s0: rand(I * (K - 1), r),
      wDtLow: rand(R * I, r), wB: rand(N * I, r), wC: rand(N * I, r), wDt: rand(I * R, r, 0.5), dtBias: rand(I, r, 0.5),
      A: rand(I * N, r).map((v) => -Math.abs(v) - 0.05), D: rand(I, r), h0: rand(I * N, r),
    };
    const cuda = (await cudaBackend()) as CudaBackend;
    cuda.convFold = true; // opt-in (MAMBA_EDGE_CUDA_CONVGEMV=on): measured slower on an H100, kept for A/B
    const calls = countCalls(cuda, ['decodeGemv', 'conv1d', 'conv1dStepBatch', 'convShift', 'scanDtStep']);
    const ref = new ReferenceBackend();
    const run = async (b: Backend) => {
      const convState = b.upload(d.s0, [1, I, K - 1]), ssmState = b.upload(d.h0, [1, I, N]);
      const w = {
        cw: b.upload(d.cw, [I, K]), cb: b.upload(d.cb, [I]), dtLow: b.upload(d.wDtLow, [R, I]), B: b.upload(d.wB, [N, I]), C: b.upload(d.wC, [N, I]),
        dt: b.upload(d.wDt, [I, R]), dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), D: b.upload(d.D, [I]), z: b.upload(d.z, [1, 1, I]),
      };
      const xin = d.xs.map((x) => b.upload(x, [1, 1, I]));
      const outs: Tensor[] = [];
      for (let t = 0; t < 2; t++) { // as mamba.ts's mixer: conv, x_proj (3 GEMVs), dt_proj, scan step
        const x = b.conv1dCausalStep({ x: xin[t], weight: w.cw, bias: w.cb, state: convState, silu: true });
        const [dtLow, Bm, Cm] = [b.matmul(x, w.dtLow), b.matmul(x, w.B), b.matmul(x, w.C)];
        const dt = b.matmul(dtLow, w.dt);
        outs.push(b.selectiveScanStep({ x, dt, dtBias: w.dtBias, A: w.A, B: Bm, C: Cm, D: w.D, z: w.z, state: ssmState }), x, dtLow, Bm, Cm);
      }
      // A conv whose GEMV is followed by no scan: the shift runs alone, before the conv state is read.
      const x = b.conv1dCausalStep({ x: xin[2], weight: w.cw, bias: null, state: convState, silu: false });
      outs.push(b.matmul(x, w.B), x);
      return Promise.all([...outs, convState, ssmState].map((t) => b.read(t)));
    };
    const [got, want] = [await run(cuda), await run(ref)];
    got.forEach((x, i) => expectClose(x, want[i], 2e-5, `output ${i}`));
    expect(calls.conv1d + calls.conv1dStepBatch).toBe(0);
    expect(calls.decodeGemv).toBe(3); // x_proj twice, the last GEMV once (dt_proj is in the scan step)
    expect(calls.scanDtStep).toBe(2);
    expect(calls.convShift).toBe(1);
    await cuda.dispose();
  });

  it('Mamba-2 SSD step (one token, batch 1): odd H, P, G, N (incl. N > 32), dt clamped, three tokens; batch 2 takes the general kernel', async () => {
    const r = rng(76);
    for (const [H, P, G, N] of [[6, 5, 3, 7], [4, 16, 2, 40], [24, 64, 1, 128]] as const) {
      const cuda = (await cudaBackend()) as CudaBackend;
      const calls = countCalls(cuda, ['ssdStep', 'scan']);
      const ref = new ReferenceBackend();
      const d = {
        xs: [0, 1, 2].map(() => rand(2 * H * P, r)), dts: [0, 1, 2].map(() => rand(2 * H, r, 2)), Bs: [0, 1, 2].map(() => rand(2 * G * N, r)),
        Cs: [0, 1, 2].map(() => rand(2 * G * N, r)), dtBias: rand(H, r, 0.5), A: rand(H, r).map((v) => -Math.abs(v) - 0.05), D: rand(H, r),
        h0: rand(2 * H * P * N, r),
      };
      const run = async (b: Backend) => {
        const outs: Tensor[] = [];
        const states: Tensor[] = [];
        for (const batch of [1, 2]) {
          const state = b.upload(d.h0.subarray(0, batch * H * P * N), [batch, H, P, N]);
          const c = { dtBias: b.upload(d.dtBias, [H]), A: b.upload(d.A, [H]), D: b.upload(d.D, [H]) };
          for (let t = 0; t < 3; t++) {
            outs.push(b.ssdStep({
              x: b.upload(d.xs[t].subarray(0, batch * H * P), [batch, 1, H * P]), dt: b.upload(d.dts[t].subarray(0, batch * H), [batch, 1, H]),
              B: b.upload(d.Bs[t].subarray(0, batch * G * N), [batch, 1, G * N]), C: b.upload(d.Cs[t].subarray(0, batch * G * N), [batch, 1, G * N]),
              ...c, dtMin: 0.01, dtMax: 1.5, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: 64, state,
            }));
          }
          states.push(state);
        }
        return Promise.all([...outs, ...states].map((t) => b.read(t)));
      };
      const [got, want] = [await run(cuda), await run(ref)];
      got.forEach((x, i) => expectClose(x, want[i], 2e-5, `H ${H} P ${P} G ${G} N ${N} output ${i}`));
      expect(calls.ssdStep, `H ${H}: batch-1 steps`).toBe(3);
      expect(calls.scan, `H ${H}: batch-2 steps`).toBe(3);
      await cuda.dispose();
    }
  });

  it('Mamba-2 SSD step with its state entries loaded at once (setSsdHold): bit-equal to one at a time and equal to the reference; N ≤ 128 held whole, N = 200 held in part', async () => {
    const r = rng(84);
    for (const [H, P, G, N] of [[6, 5, 3, 7], [4, 16, 2, 40], [24, 64, 1, 128], [3, 9, 1, 200]] as const) {
      const d = {
        xs: [0, 1].map(() => rand(H * P, r)), dts: [0, 1].map(() => rand(H, r, 2)), Bs: [0, 1].map(() => rand(G * N, r)),
        Cs: [0, 1].map(() => rand(G * N, r)), dtBias: rand(H, r, 0.5), A: rand(H, r).map((v) => -Math.abs(v) - 0.05), D: rand(H, r),
        h0: rand(H * P * N, r),
      };
      const run = async (b: Backend) => {
        const outs: Tensor[] = [];
        const state = b.upload(d.h0, [1, H, P, N]);
        const c = { dtBias: b.upload(d.dtBias, [H]), A: b.upload(d.A, [H]), D: b.upload(d.D, [H]) };
        for (let t = 0; t < 2; t++) {
          outs.push(b.ssdStep({
            x: b.upload(d.xs[t], [1, 1, H * P]), dt: b.upload(d.dts[t], [1, 1, H]), B: b.upload(d.Bs[t], [1, 1, G * N]), C: b.upload(d.Cs[t], [1, 1, G * N]),
            ...c, dtMin: 0.01, dtMax: 1.5, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: 64, state,
          }));
        }
        return Promise.all([...outs, state].map((t) => b.read(t)));
      };
      const cuda = (await cudaBackend()) as CudaBackend;
      const dev = (cuda as unknown as { dev: { setSsdHold?(on: boolean): boolean } }).dev;
      if (!dev.setSsdHold) { await cuda.dispose(); return; } // an addon build from before it
      const calls = countCalls(cuda, ['ssdStep']);
      dev.setSsdHold(true);
      const held = await run(cuda);
      dev.setSsdHold(false);
      const one = await run(cuda);
      dev.setSsdHold(process.env.MAMBA_EDGE_CUDA_SSDHOLD !== 'off'); // back to the env's choice (process-wide; on by default)
      expect(calls.ssdStep, `N ${N}: decode.cu's step both times`).toBe(4);
      expect(held, `H ${H} P ${P} G ${G} N ${N}: same products in the same order`).toEqual(one);
      const want = await run(new ReferenceBackend());
      held.forEach((x, i) => expectClose(x, want[i], 2e-5, `H ${H} P ${P} G ${G} N ${N} output ${i}`));
      await cuda.dispose();
    }
  });

  it('one-token convs of a decode GEMV\'s outputs run as its epilogue (Mamba-2 x, B, C; Mamba-1 x; odd sizes, bias or none, f32 / bf16): outputs and states equal the reference and the conv kernels', async () => {
    const r = rng(79);
    for (const [D, I, GN, K, bias, dtype] of [[20, 13, 6, 4, true, 'f32'], [64, 96, 40, 3, false, 'bf16'], [36, 44, 0, 4, true, 'f32']] as const) {
      // GN 0: Mamba-1's shape (in_proj → x, z; one conv of x); else Mamba-2's (in_proj → z, x, B, C, dt; convs of x, B, C).
      const parts = GN ? [I, I, GN, GN, 5] : [I, I];
      const convOf = GN ? [1, 2, 3] : [0];
      const d = {
        h: rand(D, r), nw: rand(D, r, 2), ws: parts.map((M) => rand(M * D, r)), bs: parts.map((M) => (bias ? rand(M, r) : null)),
        cw: convOf.map((j) => rand(parts[j] * K, r)), cb: convOf.map((j) => (bias ? rand(parts[j], r) : null)), s0: convOf.map((j) => rand(parts[j] * (K - 1), r)),
        next: rand(D, r),
      };
      const run = async (b: Backend) => {
        const H = [b.upload(d.h, [1, 1, D]), b.upload(d.next, [1, 1, D])], NW = b.upload(d.nw, [D]);
        const W = parts.map((M, j) => ({ w: b.upload(d.ws[j], [M, D], dtype), bias: d.bs[j] ? b.upload(d.bs[j]!, [M]) : null }));
        const convs = convOf.map((j, i) => ({
          w: b.upload(d.cw[i], [parts[j], K]), bias: d.cb[i] ? b.upload(d.cb[i]!, [parts[j]]) : null, state: b.upload(d.s0[i], [1, parts[j], K - 1]),
        }));
        const outs: Tensor[] = [];
        for (const h of H) { // two tokens: the second reads the states the first one's epilogue shifted
          const row = b.reshape(b.rmsNorm(h, NW, 1e-5), [1, D]);
          const ys = W.map((m, j) => b.reshape(b.matmul(row, m.w, m.bias), [1, 1, parts[j]]));
          const cs = convOf.map((j, i) => b.conv1dCausalStep({ x: ys[j], weight: convs[i].w, bias: convs[i].bias, state: convs[i].state, silu: true }));
          outs.push(...ys, ...cs);
        }
        return Promise.all([...outs, ...convs.map((c) => c.state)].map((t) => b.read(t)));
      };
      const cuda = (await cudaBackend()) as CudaBackend;
      cuda.convEpilogue = true; // the default (MAMBA_EDGE_CUDA_CONVEPI unset)
      const calls = countCalls(cuda, ['decodeGemv', 'conv1d', 'conv1dStepBatch']);
      const got = await run(cuda);
      expect(calls.decodeGemv).toBe(2);
      expect(calls.conv1d + calls.conv1dStepBatch).toBe(0);
      cuda.convEpilogue = false; // MAMBA_EDGE_CUDA_CONVEPI=off: the conv kernels, the same arithmetic
      const plain = await run(cuda);
      expect(calls.conv1d + calls.conv1dStepBatch).toBe(2);
      expect(got).toEqual(plain);
      const want = await run(new ReferenceBackend());
      const tol = 2e-5 * Math.sqrt(D / 64) + 1e-6;
      got.forEach((x, i) => expectClose(x, want[i], tol, `D ${D} I ${I} GN ${GN} ${dtype} output ${i}`));
      await cuda.dispose();
    }
  });

  it('split-K decode GEMV (2 / 4 / 8 warps a column, and the per-launch choice): odd float4 counts, rows not a multiple of a block\'s columns, norm and gated-norm prologues, a conv epilogue, f32 / bf16; equal to the reference, the same on every run', async () => {
    const r = rng(83);
    for (const dtype of ['f32', 'bf16'] as const) {
      for (const D of [772, 1540]) { // 193 / 385 float4s a row: slices of unequal length; 1540 = out_proj's shape class (K 1,536)
        const Ms = [7, 130, 769]; // 769: the last block's columns partly past the end for every S
        const C = 130, CK = 4; // a T = 1 conv (bias, silu) of the 130-row output: the conv epilogue after the split sum
        const d = {
          h: rand(D, r), res: rand(D, r), nw: rand(D, r, 2), gate: rand(D, r, 3),
          ws: Ms.map((M) => ({ M, w: rand(M * D, r), bias: M % 2 ? rand(M, r) : null })),
          cw: rand(C * CK, r), cb: rand(C, r), s0: rand(C * (CK - 1), r),
        };
        const run = async (b: Backend) => {
          const H = b.upload(d.h, [1, 1, D]), RES = b.upload(d.res, [1, 1, D]), NW = b.upload(d.nw, [D]), GATE = b.upload(d.gate, [1, 1, D]);
          const W = d.ws.map((m) => ({ w: b.upload(m.w, [m.M, D], dtype), bias: m.bias ? b.upload(m.bias, [m.M]) : null }));
          const CW = b.upload(d.cw, [C, CK]), CB = b.upload(d.cb, [C]), CS = b.upload(d.s0, [1, C, CK - 1]);
          const row = b.reshape(b.rmsNorm(b.add(RES, H), NW, 1e-5), [1, D]);
          const ys = W.map((m) => b.matmul(row, m.w, m.bias));
          const conv = b.conv1dCausalStep({ x: b.reshape(ys[1], [1, 1, C]), weight: CW, bias: CB, state: CS, silu: true });
          const g = b.reshape(b.gatedRmsNorm(H, GATE, NW, 1e-5, D / 4), [1, D]);
          const yg = b.matmul(g, W[2].w, W[2].bias);
          const plain = b.matmul(b.reshape(H, [1, D]), W[0].w); // prologue kind 0
          return Promise.all([...ys, conv, CS, yg, plain].map((t) => b.read(t)));
        };
        const want = await run(new ReferenceBackend());
        const tol = 2e-5 * Math.sqrt(D / 64) + 1e-6; // as above: f32 sums in another order (S partial sums, then their sum)
        for (const mode of [0, 2, 4, 8, -1]) {
          const cuda = (await cudaBackend()) as CudaBackend;
          const dev = (cuda as unknown as { dev: { setDecodeSplit?(m: number): number } }).dev;
          if (!dev.setDecodeSplit) { await cuda.dispose(); return; } // an addon build from before split-K
          expect(dev.setDecodeSplit(mode)).toBe(mode);
          cuda.convEpilogue = true; // the defaults, whatever MAMBA_EDGE_CUDA_CONVEPI / CONVGEMV say
          cuda.convFold = false;
          const calls = countCalls(cuda, ['decodeGemv', 'conv1d', 'conv1dStepBatch']);
          const got = await run(cuda);
          const again = await run(cuda);
          dev.setDecodeSplit(cuda.decodeSplit); // back to MAMBA_EDGE_CUDA_SPLITK's mode (process-wide)
          expect(calls.decodeGemv, `${dtype} D ${D} split ${mode}: decode GEMV launches`).toBe(6);
          expect(calls.conv1d + calls.conv1dStepBatch, `${dtype} D ${D} split ${mode}: conv as the epilogue`).toBe(0);
          expect(again, `${dtype} D ${D} split ${mode}: a fixed summation order`).toEqual(got);
          got.forEach((x, i) => expectClose(x, want[i], tol, `${dtype} D ${D} split ${mode} output ${i}`));
          await cuda.dispose();
        }
      }
    }
  });

  it('Mamba-2\'s three one-token convs fold into the SSD step (odd sizes, with and without conv bias): outputs and every state equal the reference', async () => {
    const r = rng(77);
    for (const [H, P, G, N, bias] of [[6, 5, 3, 7, true], [24, 64, 1, 128, false]] as const) {
      const K = 4, I = H * P, GN = G * N;
      const part = (C: number) => ({ w: rand(C * K, r), b: bias ? rand(C, r) : null, s0: rand(C * (K - 1), r), xs: [0, 1, 2].map(() => rand(C, r)) });
      const d = {
        x: part(I), B: part(GN), C: part(GN), dts: [0, 1, 2].map(() => rand(H, r, 2)), dtBias: rand(H, r, 0.5),
        A: rand(H, r).map((v) => -Math.abs(v) - 0.05), D: rand(H, r), h0: rand(I * N, r),
      };
      const cuda = (await cudaBackend()) as CudaBackend;
      cuda.convFold = true; // opt-in, as above
      const calls = countCalls(cuda, ['ssdConvStep', 'ssdStep', 'conv1d', 'conv1dStepBatch', 'scan']);
      const ref = new ReferenceBackend();
      const run = async (b: Backend) => {
        const up = (p: typeof d.x, C: number) => ({ w: b.upload(p.w, [C, K]), b: p.b ? b.upload(p.b, [C]) : null, s: b.upload(p.s0, [1, C, K - 1]), xs: p.xs.map((x) => b.upload(x, [1, 1, C])) });
        const [px, pB, pC] = [up(d.x, I), up(d.B, GN), up(d.C, GN)];
        const state = b.upload(d.h0, [1, H, P, N]);
        const c = { dtBias: b.upload(d.dtBias, [H]), A: b.upload(d.A, [H]), D: b.upload(d.D, [H]) };
        const dts = d.dts.map((x) => b.upload(x, [1, 1, H]));
        const outs: Tensor[] = [];
        for (let t = 0; t < 3; t++) { // as mamba2.ts's mixer: the x, B, C convs, then the SSD step
          const conv = (p: typeof px) => b.conv1dCausalStep({ x: p.xs[t], weight: p.w, bias: p.b, state: p.s, silu: true });
          const [x, Bm, Cm] = [conv(px), conv(pB), conv(pC)];
          outs.push(b.ssdStep({ x, dt: dts[t], B: Bm, C: Cm, ...c, dtMin: 0.01, dtMax: 1.5, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: 64, state }), x, Bm, Cm);
        }
        return Promise.all([...outs, px.s, pB.s, pC.s, state].map((t) => b.read(t)));
      };
      const [got, want] = [await run(cuda), await run(ref)];
      got.forEach((x, i) => expectClose(x, want[i], 2e-5, `H ${H} P ${P} G ${G} N ${N} output ${i}`));
      expect(calls.ssdConvStep).toBe(3);
      expect(calls.ssdStep + calls.conv1d + calls.conv1dStepBatch + calls.scan).toBe(0);
      await cuda.dispose();
    }
  });

  it('zerosBlock: one allocation; its parts freed in any order return it; a copy of the whole set is one device copy', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const shapes = [[1, 37, 3], [1, 37, 5], [2, 7]];
    const before = cuda.deviceBytes;
    const a = cuda.zerosBlock(shapes), b = cuda.zerosBlock(shapes);
    const grew = cuda.deviceBytes - before;
    expect(grew).toBe(2 * (512 + 1024 + 512));
    const r = rng(74);
    const data = shapes.map((s) => rand(s.reduce((x, y) => x * y, 1), r));
    a.forEach((t, i) => cuda.write(t, data[i]));
    const calls = countCalls(cuda, ['copy']);
    cuda.deviceSampling!.copy(a, b);
    expect(calls.copy).toBe(1);
    for (let i = 0; i < 3; i++) expect(Array.from(await cuda.read(b[i]))).toEqual(Array.from(data[i]));
    cuda.deviceSampling!.copy([b[2], b[0]], [a[2], a[0]]); // not a whole set: one copy per tensor
    expect(calls.copy).toBe(3);
    expect(() => cuda.deviceSampling!.copy([a[0]], [a[1]])).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    cuda.free(a[1], b[2]);
    expect(cuda.deviceBytes - before).toBe(grew); // parts still live: nothing returned
    cuda.free(a[0], a[2], a[2], b[0], b[1]);
    expect(cuda.deviceBytes - before).toBe(grew); // now pooled (the pool counts), and reused by the next block
    cuda.zerosBlock(shapes);
    expect(cuda.deviceBytes - before).toBe(grew);
    await expect(cuda.read(a[0])).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    await cuda.dispose();
  });
});
