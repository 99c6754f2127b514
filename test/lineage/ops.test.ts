/**
 * The lineage's sequence ops on every backend (reference; wasm on 1 and 2 threads), in the
 * shape of test/backends/op-suite.ts: odd sizes, whole = split = steps with the state carried,
 * and each backend against the reference. Also: the S4D recurrence equals its convolution form,
 * and a split of the recurrence's kernels over the pool is bitwise the single-thread result.
 *
 * Tolerance 2e-5 relative against the reference (as the op suite): f32 SIMD dot products over
 * R ≤ 520 terms (the matmul kernels), and tanh/σ/exp/erfc within a few ulp; the recurrence
 * compounds that over ≤ 13 steps.
 */
import '../../src/node.js';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, RecurrentCell } from '../../src/backends/backend.js';
import { ReferenceBackend, gelu } from '../../src/backends/reference/index.js';
import { createWasmBackend } from '../../src/backends/wasm/factory.js';
import { s4dConvKernel, s4dDiscretize } from '../../src/models/s4d.js';
import { expectClose } from '../backends/op-suite.js';
import { seeded, splitTime, timeRows, concatRows } from '../helpers/sequences.js';

const ref = new ReferenceBackend();

interface RecurrentCase {
  cell: RecurrentCell; B: number; T: number; E: number; H: number; proj: number; bias: boolean;
  /** Storage of W_hh / W_hr (the load dtype of the model's matrices). */
  dtype?: 'f16';
}

const RECURRENT_CASES: RecurrentCase[] = [
  { cell: 'rnn_tanh', B: 2, T: 11, E: 5, H: 7, proj: 0, bias: true },
  { cell: 'rnn_relu', B: 3, T: 9, E: 6, H: 9, proj: 0, bias: false },
  { cell: 'lstm', B: 2, T: 13, E: 3, H: 11, proj: 0, bias: true },
  { cell: 'lstm', B: 2, T: 10, E: 7, H: 9, proj: 5, bias: true },
  { cell: 'lstm', B: 1, T: 7, E: 4, H: 6, proj: 0, bias: false },
  { cell: 'gru', B: 2, T: 12, E: 5, H: 13, proj: 0, bias: true },
  { cell: 'gru', B: 3, T: 8, E: 9, H: 5, proj: 0, bias: false },
  { cell: 'lstm', B: 2, T: 6, E: 5, H: 10, proj: 7, bias: true, dtype: 'f16' },
  { cell: 'gru', B: 1, T: 5, E: 5, H: 9, proj: 0, bias: true, dtype: 'f16' },
];

const gates = (cell: RecurrentCell) => (cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1);

/** Random inputs of a recurrent layer: xg already projected (what the graph's matmul produces). */
function recurrentData(c: RecurrentCase, seed: number) {
  const r = seeded(seed);
  const G = gates(c.cell), R = c.proj || c.H;
  const scale = 1.5 / Math.sqrt(R); // enough gain that the cells saturate sometimes
  return {
    xg: r.array(c.B * c.T * G * c.H, 1.2),
    wHH: r.array(G * c.H * R, scale),
    bHH: c.bias ? r.array(G * c.H, 0.3) : null,
    wHR: c.proj ? r.array(c.proj * c.H, 1 / Math.sqrt(c.H)) : null,
    h0: r.array(c.B * R, 0.5),
    c0: c.cell === 'lstm' ? r.array(c.B * c.H, 0.5) : null,
  };
}

async function runRecurrent(b: Backend, c: RecurrentCase, d: ReturnType<typeof recurrentData>, splits: number[]) {
  const G = gates(c.cell), R = c.proj || c.H;
  const h = b.upload(d.h0, [c.B, R]);
  const cs = d.c0 ? b.upload(d.c0, [c.B, c.H]) : null;
  const wHH = b.upload(d.wHH, [G * c.H, R], c.dtype);
  const bHH = d.bHH ? b.upload(d.bHH, [G * c.H]) : null;
  const wHR = d.wHR ? b.upload(d.wHR, [R, c.H], c.dtype) : null;
  const parts: Float32Array[] = [];
  for (const [t0, len] of splitTime(splits)) {
    const xg = b.upload(timeRows(d.xg, c.B, c.T, G * c.H, t0, len), [c.B, len, G * c.H]);
    const args = { cell: c.cell, xg, wHH, bHH, wHR, h, c: cs };
    parts.push(await b.read(len === 1 ? b.recurrentScanStep(args) : b.recurrentScan(args)));
  }
  return { y: concatRows(parts, c.B, splits, R), h: await b.read(h), c: cs ? await b.read(cs) : null };
}

function s4dData(B: number, T: number, H: number, M: number, seed: number) {
  const r = seeded(seed);
  const params = {
    logDt: Float32Array.from({ length: H }, () => Math.log(0.01) + r.unit() * Math.log(50)), // Δ ∈ [0.01, 0.5]
    C: r.array(H * M * 2, 0.7),
    logAReal: Float32Array.from({ length: H * M }, () => Math.log(0.5) + 0.3 * r.next()),
    AImag: Float32Array.from({ length: H * M }, (_, i) => Math.PI * (i % M) + 0.1 * r.next()),
  };
  const { dA, C } = s4dDiscretize(params, H, M);
  return { params, dA: Float32Array.from(dA), C: Float32Array.from(C), D: r.array(H, 1), x: r.array(B * T * H, 1) };
}

async function runLti(b: Backend, d: ReturnType<typeof s4dData>, B: number, T: number, H: number, M: number, splits: number[], geluOn: boolean) {
  const state = b.zeros([B, H, 2, M]);
  const dA = b.upload(d.dA, [H, 2, M]), C = b.upload(d.C, [H, 2, M]), D = b.upload(d.D, [H]);
  const parts: Float32Array[] = [];
  for (const [t0, len] of splitTime(splits)) {
    const x = b.upload(timeRows(d.x, B, T, H, t0, len), [B, len, H]);
    const args = { x, dA, C, D, state, gelu: geluOn };
    parts.push(await b.read(len === 1 ? b.ltiScanStep(args) : b.ltiScan(args)));
  }
  return { y: concatRows(parts, B, splits, H), s: await b.read(state) };
}

function suite(name: string, create: () => Promise<Backend>, tolerance: number): void {
  describe(`lineage ops — ${name}`, () => {
    let backend: Backend | undefined;
    const get = async () => (backend ??= await create());
    afterAll(async () => { await backend?.dispose(); });

    for (const [n, c] of RECURRENT_CASES.entries()) {
      const label = `${c.cell}${c.proj ? ` proj ${c.proj}` : ''}${c.bias ? '' : ' no bias'}${c.dtype ? ` ${c.dtype} weights` : ''} (B ${c.B}, T ${c.T}, H ${c.H})`;
      it(`recurrentScan ${label}: whole = split = steps; matches reference`, async () => {
        const b = await get();
        const d = recurrentData(c, 100 + n);
        const whole = await runRecurrent(b, c, d, [c.T]);
        const split = await runRecurrent(b, c, d, [3, c.T - 4, 1]);
        const steps = await runRecurrent(b, c, d, new Array(c.T).fill(1));
        // Every form runs the same per-token arithmetic: results are bitwise equal.
        expectClose(split.y, whole.y, 0, 'split');
        expectClose(steps.y, whole.y, 0, 'steps');
        expectClose(steps.h, whole.h, 0, 'h');
        if (whole.c) expectClose(steps.c!, whole.c, 0, 'c');
        // The final state is the last output.
        const R = c.proj || c.H;
        for (let bi = 0; bi < c.B; bi++) {
          expect(Array.from(whole.h.subarray(bi * R, (bi + 1) * R))).toEqual(Array.from(whole.y.subarray(((bi + 1) * c.T - 1) * R, (bi + 1) * c.T * R)));
        }
        const want = await runRecurrent(ref, c, d, [c.T]);
        expectClose(whole.y, want.y, tolerance, 'vs reference');
        if (whole.c) expectClose(whole.c, want.c!, tolerance, 'c vs reference');
        if (c.cell === 'rnn_relu') expect(whole.y.some((v) => v === 0)).toBe(true); // relu did clip
      });
    }

    for (const [B, T, H, M] of [[2, 13, 5, 3], [1, 70, 17, 8], [3, 6, 4, 1]]) {
      it(`ltiScan (B ${B}, T ${T}, H ${H}, M ${M}): whole = split = steps; matches reference and the convolution form`, async () => {
        const b = await get();
        const d = s4dData(B, T, H, M, B * 1000 + T);
        for (const geluOn of [false, true]) {
          const whole = await runLti(b, d, B, T, H, M, [T], geluOn);
          const split = await runLti(b, d, B, T, H, M, [Math.ceil(T / 3), T - Math.ceil(T / 3)], geluOn);
          const steps = await runLti(b, d, B, T, H, M, new Array(T).fill(1), geluOn);
          expectClose(split.y, whole.y, 0, 'split');
          expectClose(steps.y, whole.y, 0, 'steps');
          expectClose(steps.s, whole.s, 0, 'state');
          const want = await runLti(ref, d, B, T, H, M, [T], geluOn);
          expectClose(whole.y, want.y, tolerance, 'vs reference');
          expectClose(whole.s, want.s, tolerance, 'state vs reference');
          // S4D's own form: y = K ∗ u + D·u with K from S4DKernel (f64), then gelu.
          const K = s4dConvKernel(d.params, H, M, T);
          const conv = new Float32Array(B * T * H);
          for (let bi = 0; bi < B; bi++) {
            for (let h = 0; h < H; h++) {
              for (let t = 0; t < T; t++) {
                let acc = d.D[h] * d.x[(bi * T + t) * H + h];
                for (let k = 0; k <= t; k++) acc += K[h * T + k] * d.x[(bi * T + t - k) * H + h];
                conv[(bi * T + t) * H + h] = geluOn ? gelu(acc) : acc;
              }
            }
          }
          // The conv form rounds only once; the recurrence keeps s in f32 every step.
          expectClose(whole.y, conv, 1e-5, 'recurrence vs convolution');
        }
      });
    }

    it('glu: y = a·σ(g), odd length', async () => {
      const b = await get();
      const r = seeded(5);
      const a = r.array(3 * 7 * 5, 4), g = r.array(3 * 7 * 5, 6);
      const run = async (be: Backend) => be.read(be.glu(be.upload(a, [3, 7, 5]), be.upload(g, [3, 7, 5])));
      const got = await run(b);
      expectClose(got, await run(ref), tolerance, 'glu');
      expectClose(got, a.map((v, i) => v / (1 + Math.exp(-g[i]))), 1e-6, 'glu by hand');
    });

    it('bad shapes and arguments are E_SHAPE / E_ARGUMENT, not out-of-bounds reads', async () => {
      const b = await get();
      const xg = b.zeros([2, 3, 4 * 5]);
      const h = b.zeros([2, 5]), c = b.zeros([2, 5]);
      const ok = { cell: 'lstm' as const, xg, wHH: b.zeros([20, 5]), bHH: null, wHR: null, h, c };
      expect(() => b.recurrentScan({ ...ok, wHH: b.zeros([15, 5]) })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.recurrentScan({ ...ok, bHH: b.zeros([15]) })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.recurrentScan({ ...ok, h: b.zeros([2, 4]) })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.recurrentScan({ ...ok, c: null })).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
      expect(() => b.recurrentScan({ ...ok, cell: 'gru' })).toThrow(expect.objectContaining({ code: 'E_SHAPE' })); // 20 is not 3 gate blocks
      expect(() => b.recurrentScan({ ...ok, cell: 'rnn_tanh', xg: b.zeros([2, 3, 5]), wHH: b.zeros([5, 5]) })).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' })); // c given
      expect(() => b.recurrentScanStep(ok)).toThrow(expect.objectContaining({ code: 'E_SHAPE' })); // T = 3
      const lti = { x: b.zeros([1, 4, 3]), dA: b.zeros([3, 2, 2]), C: b.zeros([3, 2, 2]), D: b.zeros([3]), state: b.zeros([1, 3, 2, 2]), gelu: true };
      expect(() => b.ltiScan({ ...lti, C: b.zeros([3, 2, 3]) })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.ltiScan({ ...lti, state: b.zeros([2, 3, 2, 2]) })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.ltiScanStep(lti)).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.glu(b.zeros([2, 3]), b.zeros([3, 2]))).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    });
  });
}

suite('reference', async () => new ReferenceBackend(), 0);
const wasm = (threads: number) => async () => (await createWasmBackend({ threads })) as Backend;
suite('wasm (1 thread)', wasm(1), 2e-5);
suite('wasm (2 threads)', wasm(2), 2e-5);

describe('lineage ops — wasm pool split', () => {
  it('recurrentScan and ltiScan split over 2 threads are bitwise the 1-thread result (work above the pool threshold)', async () => {
    const one = (await createWasmBackend({ threads: 1 })) as Backend;
    const two = (await createWasmBackend({ threads: 2 })) as Backend;
    try {
      expect(two.info.threads).toBe(2);
      // 1 × 4·520·520 multiply-adds per token > the pool's 1M threshold: every step is shared.
      const c: RecurrentCase = { cell: 'lstm', B: 1, T: 3, E: 1, H: 520, proj: 0, bias: true };
      const d = recurrentData(c, 9);
      const a = await runRecurrent(one, c, d, [c.T]);
      const b = await runRecurrent(two, c, d, [c.T]);
      expectClose(b.y, a.y, 0, 'lstm y');
      expectClose(b.c!, a.c!, 0, 'lstm c');
      expectClose(a.y, (await runRecurrent(ref, c, d, [c.T])).y, 2e-5, 'vs reference');
      const [B, T, H, M] = [2, 64, 64, 17];
      const s = s4dData(B, T, H, M, 3);
      const la = await runLti(one, s, B, T, H, M, [T], true);
      const lb = await runLti(two, s, B, T, H, M, [T], true);
      expectClose(lb.y, la.y, 0, 'lti y');
      expectClose(lb.s, la.s, 0, 'lti state');
    } finally {
      await one.dispose();
      await two.dispose();
    }
  });
});

