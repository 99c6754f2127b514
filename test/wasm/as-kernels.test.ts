/**
 * The AssemblyScript kernels (wasm/dist/kernels-as.wasm, built by `npx asc --target release`)
 * against the reference backend, on odd shapes; plus the two invariants the worker pool relies
 * on: a work range split into uneven parts gives bitwise the same outputs and state as the whole
 * range, and state carried across two calls equals one call.
 *
 * Tolerances are relative to the scale (max |reference|) of each output. 1e-5 for norms, conv
 * and short scans: f32 arithmetic in a different (SIMD lane) order vs the reference's f64
 * accumulation, a few ulp (observed ≤ 3e-7). 1e-4 for the scans over T = 1000: the kernels
 * carry everything in f32 — Δ, exp(Δ·A), the state update h ← exp(Δ·A)·h + Δ·x·B, the chunk's
 * cumulative decays and C·Bᵀ — while the reference rounds only when it stores; every token adds
 * an f32 rounding (≈6e-8 relative) to the state that the decay forgets only over ~1/(Δ·|A|)
 * tokens, so the bound has to grow with T and with slow-decaying channels (observed ≤ 3e-7 on
 * these inputs; 1e-4 leaves room for real models' Δ·|A| ≈ 1e-3, i.e. memories of ~1000 tokens).
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/backends/backend.js';
import { ReferenceBackend, silu as refSilu, softplus as refSoftplus } from '../../src/backends/reference/index.js';
import { AS_WASM_PATH, AsHarness, scratchFor } from './as-harness.js';

// ---- helpers -------------------------------------------------------------------------------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296; // [0, 1)
  };
}

/** n uniform values in [lo, hi). */
const uniform = (n: number, r: () => number, lo = -1, hi = 1): Float32Array =>
  Float32Array.from({ length: n }, () => lo + (hi - lo) * r());

/** Worst |got − want| relative to the output's scale max |want| (1 if the output is all 0). */
function scaledError(got: Float32Array, want: Float32Array): { err: number; at: number } {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  if (scale === 0) scale = 1;
  let err = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]) / scale;
    if (!(d <= err)) { err = d; at = i; }
  }
  return { err, at };
}

function expectClose(got: Float32Array, want: Float32Array, tol: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const { err, at } = scaledError(got, want);
  if (process.env.AS_TEST_VERBOSE) console.log(`${expect.getState().currentTestName} ${what}: ${err.toExponential(2)}`);
  expect(err, `${what}: error ${err.toExponential(2)} of scale at ${at} (${got[at]} vs ${want[at]})`).toBeLessThanOrEqual(tol);
}

/** Bitwise equality. */
function expectSame(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let first = -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) { first = i; break; }
  expect(first, `${what}: first differing element ${first} (${got[first]} vs ${want[first]})`).toBe(-1);
}

/** The whole range, and uneven splits of it into 2 and 3 parts (some parts may be empty). */
function splits(n: number): Array<Array<[number, number]>> {
  const a = Math.min(n, Math.ceil(n * 0.37));
  const b = Math.min(n, a + Math.ceil((n - a) * 0.55));
  const c = Math.min(n, Math.max(1, Math.floor(n * 0.8)));
  return [
    [[0, n]],
    [[0, c], [c, n]],
    [[0, a], [a, b], [b, n]],
  ];
}

const ref = new ReferenceBackend();
const readRef = (t: Tensor): Promise<Float32Array> => ref.read(t);

/** Rows [t0, t1) of every batch of a [B, T, C] array. */
function timeSlice(data: Float32Array, B: number, T: number, C: number, t0: number, t1: number): Float32Array {
  const out = new Float32Array(B * (t1 - t0) * C);
  for (let b = 0; b < B; b++) out.set(data.subarray((b * T + t0) * C, (b * T + t1) * C), b * (t1 - t0) * C);
  return out;
}

function concatTime(a: Float32Array, ta: number, b: Float32Array, tb: number, B: number, C: number): Float32Array {
  const out = new Float32Array(B * (ta + tb) * C);
  for (let i = 0; i < B; i++) {
    out.set(a.subarray(i * ta * C, (i + 1) * ta * C), i * (ta + tb) * C);
    out.set(b.subarray(i * tb * C, (i + 1) * tb * C), i * (ta + tb) * C + ta * C);
  }
  return out;
}

/** Little-endian bit pattern of an f32, as an ordered integer (for ulp distances of same-sign values). */
const f32Bits = (v: number): number => {
  const f = new Float32Array([v]);
  return new Int32Array(f.buffer)[0];
};

// ---- vectorized math -----------------------------------------------------------------------

describe('AS kernels: vectorized math', () => {
  const h = AsHarness.create();

  function evalElementwise(fn: 'vexp' | 'vsoftplus' | 'vsilu', xs: Float32Array): Float32Array {
    h.reset();
    const x = h.put(xs);
    const y = h.alloc(xs.length);
    h.k[fn](x, y, 0, xs.length);
    h.checkGuards();
    return h.get(y, xs.length);
  }

  it('exp is within 2 ulp of Math.exp on [−88, 0] (and on [0, 88.7])', () => {
    const r = rng(1);
    const xs: number[] = [];
    for (let i = 0; i < 400_000; i++) xs.push(-88 * r());
    for (let i = 0; i < 100_000; i++) xs.push(-(10 ** (-30 + 31 * r()))); // tiny to −10, log-spaced
    for (let i = 0; i < 100_000; i++) xs.push(88.7 * r());
    xs.push(0, -0, -88, -87.33654, -87.3, -80, -1e-30, 88.72, 1, -1, -0.5, 0.5, -Math.LN2 / 2);
    const x = Float32Array.from(xs);
    const got = evalElementwise('vexp', x);
    let worst = 0, at = -1;
    for (let i = 0; i < x.length; i++) {
      const want = Math.fround(Math.exp(x[i]));
      const d = Math.abs(f32Bits(got[i]) - f32Bits(want));
      if (d > worst) { worst = d; at = i; }
    }
    expect(worst, `worst ${worst} ulp at x = ${x[at]}: ${got[at]} vs ${Math.exp(x[at])}`).toBeLessThanOrEqual(2);
  });

  it("the scans' decay exp (x ≤ 0) is within 2 ulp of Math.exp on [−88, 0]", () => {
    // ssdStep with Δ pinned to 1 (dtMin = dtMax = 1), P = N = 1, h = 1, B = 0, C = 1, x = D = 0
    // leaves y[head] = h' = exp(Δ·A[head]) = exp(A[head]): one head per test point.
    const r = rng(3);
    const xs: number[] = [];
    for (let i = 0; i < 200_000; i++) xs.push(-88 * r());
    for (let i = 0; i < 50_000; i++) xs.push(-(10 ** (-30 + 31 * r())));
    xs.push(0, -0, -88, -87.33654, -87.3, -80, -1e-30, -1, -0.5, -Math.LN2 / 2);
    const A = Float32Array.from(xs);
    const H = A.length;
    h.reset();
    const zeros = h.put(new Float32Array(H)), C = h.put(Float32Array.of(1)), state = h.put(new Float32Array(H).fill(1));
    const pA = h.put(A), y = h.alloc(H);
    // x = 0, dt = 0, dtBias = 0, B = 0 (G = 1, N = 1: one value), C = 1, D = 0, state = 1
    h.k.ssdStep(zeros, zeros, zeros, pA, zeros, C, zeros, state, y, 1, H, 1, 1, 1, 1, 1, 0, H);
    h.checkGuards();
    const got = h.get(y, H);
    let worst = 0, at = -1;
    for (let i = 0; i < H; i++) {
      const d = Math.abs(f32Bits(got[i]) - f32Bits(Math.fround(Math.exp(A[i]))));
      if (d > worst) { worst = d; at = i; }
    }
    expect(worst, `worst ${worst} ulp at x = ${A[at]}: ${got[at]} vs ${Math.exp(A[at])}`).toBeLessThanOrEqual(2);
  });

  it('exp limits: 0 below the subnormal range, ∞ above ln(FLT_MAX), NaN stays NaN', () => {
    const got = evalElementwise('vexp', Float32Array.from([-104, -200, -Infinity, 89, 1000, Infinity, NaN, -100]));
    expect(Array.from(got.subarray(0, 6))).toEqual([0, 0, 0, Infinity, Infinity, Infinity]);
    expect(got[6]).toBeNaN();
    expect(got[7]).toBe(Math.fround(Math.exp(-100))); // subnormal, rounded once
  });

  it('softplus (threshold 20) and silu match the reference', () => {
    const r = rng(2);
    const x = Float32Array.from([...uniform(200_000, r, -30, 30), ...uniform(20_000, r, -120, 120), 20, 19.999998, 20.000002, 0, -0, -88, 88]);
    const sp = evalElementwise('vsoftplus', x);
    const si = evalElementwise('vsilu', x);
    let worstSp = 0, worstSi = 0;
    for (let i = 0; i < x.length; i++) {
      const ws = refSoftplus(x[i]);
      worstSp = Math.max(worstSp, Math.abs(sp[i] - ws) / Math.max(Math.abs(ws), 1e-30));
      const wi = refSilu(x[i]);
      // silu's relative error is unbounded where it crosses 0 (x → 0⁻ is fine, x ≪ 0 underflows): scale by max(|y|, 1e-30)
      if (Math.abs(wi) > 1e-30) worstSi = Math.max(worstSi, Math.abs(si[i] - wi) / Math.abs(wi));
    }
    expect(worstSp, 'softplus relative error').toBeLessThanOrEqual(5e-7);
    expect(worstSi, 'silu relative error').toBeLessThanOrEqual(5e-7);
    expect(sp[x.length - 7]).toBe(20); // threshold: linear at 20
  });
});

// ---- norms, add -----------------------------------------------------------------------------

describe('AS kernels: rmsNorm, gatedRmsNorm, add', () => {
  const h = AsHarness.create();

  it('rmsNorm on odd widths; split rows give the same bits', async () => {
    for (const [rows, D] of [[1, 1], [3, 5], [2, 37], [5, 768], [3, 1536], [7, 13]]) {
      const r = rng(rows * 1000 + D);
      const x = uniform(rows * D, r, -3, 3), w = uniform(D, r, 0.5, 1.5);
      const eps = 1e-5;
      const want = await readRef(ref.rmsNorm(ref.upload(x, [rows, D]), ref.upload(w, [D]), eps));
      let whole: Float32Array | null = null;
      for (const parts of splits(rows)) {
        h.reset();
        const px = h.put(x), pw = h.put(w), py = h.alloc(rows * D);
        for (const [r0, r1] of parts) h.k.rmsNorm(px, pw, py, D, eps, r0, r1);
        h.checkGuards();
        const got = h.get(py, rows * D);
        if (!whole) {
          whole = got;
          expectClose(got, want, 1e-5, `rmsNorm ${rows}x${D}`);
        } else expectSame(got, whole, `rmsNorm ${rows}x${D} split ${JSON.stringify(parts)}`);
      }
    }
  });

  it('gatedRmsNorm full width and grouped; split groups give the same bits', async () => {
    for (const [rows, D, group] of [[1, 5, 5], [3, 15, 5], [2, 37, 37], [2, 111, 37], [3, 1536, 1536], [2, 64, 16], [4, 6, 1]]) {
      const r = rng(rows * 7 + D * 3 + group);
      const x = uniform(rows * D, r, -3, 3), z = uniform(rows * D, r, -6, 6), w = uniform(D, r, 0.5, 1.5);
      const eps = 1e-6;
      const want = await readRef(ref.gatedRmsNorm(ref.upload(x, [rows, D]), ref.upload(z, [rows, D]), ref.upload(w, [D]), eps, group));
      const groups = (rows * D) / group;
      let whole: Float32Array | null = null;
      for (const parts of splits(groups)) {
        h.reset();
        const px = h.put(x), pz = h.put(z), pw = h.put(w), py = h.alloc(rows * D);
        for (const [g0, g1] of parts) h.k.gatedRmsNorm(px, pz, pw, py, D, group, eps, g0, g1);
        h.checkGuards();
        const got = h.get(py, rows * D);
        if (!whole) {
          whole = got;
          expectClose(got, want, 1e-5, `gatedRmsNorm ${rows}x${D}/${group}`);
        } else expectSame(got, whole, `gatedRmsNorm ${rows}x${D}/${group} split`);
      }
      // in place (y = x), as the pool may run it
      h.reset();
      const px = h.put(x), pz = h.put(z), pw = h.put(w);
      h.k.gatedRmsNorm(px, pz, pw, px, D, group, eps, 0, groups);
      expectSame(h.get(px, rows * D), whole!, `gatedRmsNorm ${rows}x${D}/${group} in place`);
    }
  });

  it('add on odd lengths; split elements give the same bits', async () => {
    for (const n of [1, 3, 5, 37, 1000, 1536 * 3 + 7]) {
      const r = rng(n);
      const a = uniform(n, r, -5, 5), b = uniform(n, r, -5, 5);
      const want = await readRef(ref.add(ref.upload(a, [n]), ref.upload(b, [n])));
      for (const parts of splits(n)) {
        h.reset();
        const pa = h.put(a), pb = h.put(b), py = h.alloc(n);
        for (const [i0, i1] of parts) h.k.add(pa, pb, py, i0, i1);
        h.checkGuards();
        expectSame(h.get(py, n), want, `add ${n} ${JSON.stringify(parts)}`); // one f32 add: exact
      }
    }
  });
});

// ---- conv1dCausal -------------------------------------------------------------------------

describe('AS kernels: conv1dCausal', () => {
  const h = AsHarness.create();

  interface ConvCase { B: number; T: number; C: number; K: number; bias: boolean; silu: boolean }
  const cases: ConvCase[] = [
    { B: 1, T: 1, C: 5, K: 4, bias: true, silu: true },
    { B: 2, T: 2, C: 37, K: 4, bias: false, silu: true },
    { B: 1, T: 127, C: 37, K: 4, bias: true, silu: false },
    { B: 2, T: 127, C: 5, K: 3, bias: true, silu: true },
    { B: 1, T: 1000, C: 37, K: 4, bias: true, silu: true },
    { B: 2, T: 2, C: 1536, K: 4, bias: true, silu: true },
    { B: 2, T: 1, C: 13, K: 2, bias: false, silu: true },
    { B: 1, T: 7, C: 6, K: 5, bias: true, silu: true },
    { B: 2, T: 3, C: 7, K: 1, bias: true, silu: false },
  ];

  /** Runs the kernel over `parts` of the b·C + c range; returns y and the new state. */
  function run(c: ConvCase, x: Float32Array, w: Float32Array, bias: Float32Array, state0: Float32Array, T: number, parts: Array<[number, number]>) {
    h.reset();
    const px = h.put(x), pw = h.put(w), pb = c.bias ? h.put(bias) : 0, ps = h.put(state0), py = h.alloc(c.B * T * c.C);
    for (const [c0, c1] of parts) h.k.conv1dCausal(px, pw, pb, ps, py, c.B, T, c.C, c.K, c.silu ? 1 : 0, c0, c1);
    h.checkGuards();
    return { y: h.get(py, c.B * T * c.C), state: h.get(ps, state0.length) };
  }

  for (const c of cases) {
    it(`B=${c.B} T=${c.T} C=${c.C} K=${c.K}${c.bias ? ' bias' : ''}${c.silu ? ' silu' : ''}: reference, splits, carried state`, async () => {
      const r = rng(c.B * 31 + c.T * 7 + c.C + c.K);
      const { B, T, C, K } = c;
      const x = uniform(B * T * C, r, -2, 2), w = uniform(C * K, r), bias = uniform(C, r), state0 = uniform(B * C * (K - 1), r, -2, 2);
      const refState = ref.upload(state0, [B, C, K - 1]);
      const want = await readRef(ref.conv1dCausal({
        x: ref.upload(x, [B, T, C]), weight: ref.upload(w, [C, K]), bias: c.bias ? ref.upload(bias, [C]) : null, state: refState, silu: c.silu,
      }));
      const wantState = await readRef(refState);
      const whole = run(c, x, w, bias, state0, T, [[0, B * C]]);
      expectClose(whole.y, want, 1e-5, 'y');
      expectSame(whole.state, wantState, 'state'); // a copy of inputs: exact
      for (const parts of splits(B * C).slice(1)) {
        const got = run(c, x, w, bias, state0, T, parts);
        expectSame(got.y, whole.y, `y split ${JSON.stringify(parts)}`);
        expectSame(got.state, whole.state, `state split ${JSON.stringify(parts)}`);
      }
      if (T >= 2) {
        const t1 = Math.max(1, Math.floor(T * 0.4));
        const first = run(c, timeSlice(x, B, T, C, 0, t1), w, bias, state0, t1, [[0, B * C]]);
        const second = run(c, timeSlice(x, B, T, C, t1, T), w, bias, first.state, T - t1, [[0, B * C]]);
        expectSame(concatTime(first.y, t1, second.y, T - t1, B, C), whole.y, 'y over two calls');
        expectSame(second.state, whole.state, 'state over two calls');
      }
    });
  }
});

// ---- selectiveScan ------------------------------------------------------------------------

describe('AS kernels: selectiveScan', () => {
  const h = AsHarness.create();

  interface ScanCase { B: number; T: number; I: number; N: number }
  const cases: ScanCase[] = [
    { B: 1, T: 1, I: 5, N: 1 },
    { B: 2, T: 2, I: 37, N: 3 },
    { B: 1, T: 127, I: 37, N: 16 },
    { B: 2, T: 127, I: 5, N: 17 },
    { B: 1, T: 1, I: 1536, N: 16 },
    { B: 2, T: 2, I: 1536, N: 16 },
    { B: 1, T: 1000, I: 1536, N: 16 },
    { B: 2, T: 1000, I: 37, N: 17 },
    { B: 1, T: 1000, I: 5, N: 1 },
  ];

  function inputs(c: ScanCase) {
    const r = rng(c.B * 13 + c.T * 5 + c.I * 3 + c.N);
    const { B, T, I, N } = c;
    return {
      x: uniform(B * T * I, r, -2, 2),
      dt: uniform(B * T * I, r, -3, 1), // Δ = softplus(dt + dtBias) ≈ 0.005 … 1
      dtBias: uniform(I, r, -3, 0),
      A: Float32Array.from({ length: I * N }, () => -Math.exp(-1 + 3.5 * r())), // −0.37 … −12
      Bm: uniform(B * T * N, r), Cm: uniform(B * T * N, r),
      D: uniform(I, r), z: uniform(B * T * I, r, -4, 4),
      state: uniform(B * I * N, r, -1, 1),
    };
  }
  type ScanInputs = ReturnType<typeof inputs>;

  function run(c: ScanCase, v: ScanInputs, T: number, parts: Array<[number, number]>) {
    const { B, I, N } = c;
    h.reset();
    const p = {
      x: h.put(v.x), dt: h.put(v.dt), dtBias: h.put(v.dtBias), A: h.put(v.A), Bm: h.put(v.Bm), Cm: h.put(v.Cm),
      D: h.put(v.D), z: h.put(v.z), state: h.put(v.state), y: h.alloc(B * T * I),
    };
    for (const [c0, c1] of parts) {
      h.k.selectiveScan(p.x, p.dt, p.dtBias, p.A, p.Bm, p.Cm, p.D, p.z, p.state, p.y, B, T, I, N, c0, c1);
    }
    h.checkGuards();
    return { y: h.get(p.y, B * T * I), state: h.get(p.state, B * I * N) };
  }

  const sliceInputs = (c: ScanCase, v: ScanInputs, t0: number, t1: number, state: Float32Array): ScanInputs => ({
    ...v,
    x: timeSlice(v.x, c.B, c.T, c.I, t0, t1), dt: timeSlice(v.dt, c.B, c.T, c.I, t0, t1), z: timeSlice(v.z, c.B, c.T, c.I, t0, t1),
    Bm: timeSlice(v.Bm, c.B, c.T, c.N, t0, t1), Cm: timeSlice(v.Cm, c.B, c.T, c.N, t0, t1), state,
  });

  for (const c of cases) {
    it(`B=${c.B} T=${c.T} I=${c.I} N=${c.N}: reference, splits, carried state`, async () => {
      const { B, T, I, N } = c;
      const v = inputs(c);
      const refState = ref.upload(v.state, [B, I, N]);
      const want = await readRef(ref.selectiveScan({
        x: ref.upload(v.x, [B, T, I]), dt: ref.upload(v.dt, [B, T, I]), dtBias: ref.upload(v.dtBias, [I]), A: ref.upload(v.A, [I, N]),
        B: ref.upload(v.Bm, [B, T, N]), C: ref.upload(v.Cm, [B, T, N]), D: ref.upload(v.D, [I]), z: ref.upload(v.z, [B, T, I]), state: refState,
      }));
      const wantState = await readRef(refState);
      const tol = T >= 1000 ? 1e-4 : 1e-5;
      const whole = run(c, v, T, [[0, B * I]]);
      expectClose(whole.y, want, tol, 'y');
      expectClose(whole.state, wantState, tol, 'state');
      for (const parts of splits(B * I).slice(1)) {
        const got = run(c, v, T, parts);
        expectSame(got.y, whole.y, `y split ${JSON.stringify(parts)}`);
        expectSame(got.state, whole.state, `state split ${JSON.stringify(parts)}`);
      }
      if (T >= 2) {
        // any split point (not a multiple of the kernel's 64-token block) gives the same bits
        const t1 = Math.max(1, Math.floor(T * 0.45));
        const first = run({ ...c, T: t1 }, sliceInputs(c, v, 0, t1, v.state), t1, [[0, B * I]]);
        const second = run({ ...c, T: T - t1 }, sliceInputs(c, v, t1, T, first.state), T - t1, [[0, B * I]]);
        expectSame(concatTime(first.y, t1, second.y, T - t1, B, I), whole.y, 'y over two calls');
        expectSame(second.state, whole.state, 'state over two calls');
      }
    });
  }
});

// ---- ssdChunkScan, ssdStep -----------------------------------------------------------------

describe('AS kernels: ssdChunkScan and ssdStep', () => {
  const h = AsHarness.create();
  const scratch = scratchFor(0);

  interface SsdCase { B: number; T: number; H: number; P: number; G: number; N: number; chunk: number; dtMin: number; dtMax: number }
  const cases: SsdCase[] = [
    { B: 1, T: 1, H: 3, P: 5, G: 1, N: 1, chunk: 1, dtMin: 0, dtMax: Infinity },
    { B: 2, T: 2, H: 3, P: 5, G: 3, N: 3, chunk: 7, dtMin: 0, dtMax: Infinity },
    { B: 1, T: 127, H: 3, P: 64, G: 1, N: 16, chunk: 64, dtMin: 0.001, dtMax: 0.3 },
    { B: 2, T: 127, H: 3, P: 5, G: 3, N: 17, chunk: 7, dtMin: 0, dtMax: Infinity },
    { B: 1, T: 127, H: 3, P: 64, G: 3, N: 128, chunk: 256, dtMin: 0.01, dtMax: 0.5 },
    { B: 2, T: 127, H: 4, P: 6, G: 2, N: 5, chunk: 1, dtMin: 0, dtMax: Infinity },
    { B: 1, T: 1000, H: 3, P: 64, G: 1, N: 17, chunk: 256, dtMin: 0, dtMax: Infinity },
    { B: 2, T: 1000, H: 3, P: 5, G: 3, N: 16, chunk: 64, dtMin: 0.001, dtMax: 0.1 },
    { B: 1, T: 1000, H: 3, P: 64, G: 1, N: 128, chunk: 64, dtMin: 0, dtMax: Infinity },
  ];

  function inputs(c: SsdCase) {
    const r = rng(c.B * 17 + c.T * 3 + c.H * 5 + c.P * 7 + c.N * 11 + c.chunk);
    const { B, T, H, P, G, N } = c;
    return {
      x: uniform(B * T * H * P, r, -2, 2),
      dt: uniform(B * T * H, r, -3, 1),
      dtBias: uniform(H, r, -3, 0),
      A: Float32Array.from({ length: H }, () => -Math.exp(-1 + 3.5 * r())),
      Bm: uniform(B * T * G * N, r), Cm: uniform(B * T * G * N, r),
      D: uniform(H, r),
      state: uniform(B * H * P * N, r, -1, 1),
    };
  }
  type SsdInputs = ReturnType<typeof inputs>;

  function run(c: SsdCase, v: SsdInputs, T: number, parts: Array<[number, number]>, step = false) {
    const { B, H, P, G, N } = c;
    h.reset();
    const p = {
      x: h.put(v.x), dt: h.put(v.dt), dtBias: h.put(v.dtBias), A: h.put(v.A), Bm: h.put(v.Bm), Cm: h.put(v.Cm),
      D: h.put(v.D), state: h.put(v.state), y: h.alloc(B * T * H * P),
    };
    for (const [h0, h1] of parts) {
      if (step) h.k.ssdStep(p.x, p.dt, p.dtBias, p.A, p.Bm, p.Cm, p.D, p.state, p.y, B, H, P, G, N, c.dtMin, c.dtMax, h0, h1);
      else h.k.ssdChunkScan(p.x, p.dt, p.dtBias, p.A, p.Bm, p.Cm, p.D, p.state, p.y, B, T, H, P, G, N, c.chunk, c.dtMin, c.dtMax, scratch, h0, h1);
    }
    h.checkGuards();
    return { y: h.get(p.y, B * T * H * P), state: h.get(p.state, B * H * P * N) };
  }

  const sliceInputs = (c: SsdCase, v: SsdInputs, t0: number, t1: number, state: Float32Array): SsdInputs => ({
    ...v,
    x: timeSlice(v.x, c.B, c.T, c.H * c.P, t0, t1), dt: timeSlice(v.dt, c.B, c.T, c.H, t0, t1),
    Bm: timeSlice(v.Bm, c.B, c.T, c.G * c.N, t0, t1), Cm: timeSlice(v.Cm, c.B, c.T, c.G * c.N, t0, t1), state,
  });

  async function reference(c: SsdCase, v: SsdInputs, T: number, step: boolean) {
    const { B, H, P, G, N } = c;
    const refState = ref.upload(v.state, [B, H, P, N]);
    const args = {
      x: ref.upload(v.x, [B, T, H * P]), dt: ref.upload(v.dt, [B, T, H]), dtBias: ref.upload(v.dtBias, [H]), dtMin: c.dtMin, dtMax: c.dtMax,
      A: ref.upload(v.A, [H]), B: ref.upload(v.Bm, [B, T, G * N]), C: ref.upload(v.Cm, [B, T, G * N]), D: ref.upload(v.D, [H]),
      numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: c.chunk, state: refState,
    };
    const y = await readRef(step ? ref.ssdStep(args) : ref.ssdChunkScan(args));
    return { y, state: await readRef(refState) };
  }

  for (const c of cases) {
    const name = `B=${c.B} T=${c.T} H=${c.H} P=${c.P} G=${c.G} N=${c.N} chunk=${c.chunk}${c.dtMax < Infinity ? ` Δ∈[${c.dtMin}, ${c.dtMax}]` : ''}`;
    it(`ssdChunkScan ${name}: reference, splits, carried state`, async () => {
      const { B, T, H } = c;
      const v = inputs(c);
      const want = await reference(c, v, T, false);
      const tol = T >= 1000 ? 1e-4 : 1e-5;
      const whole = run(c, v, T, [[0, B * H]]);
      expectClose(whole.y, want.y, tol, 'y');
      expectClose(whole.state, want.state, tol, 'state');
      for (const parts of splits(B * H).slice(1)) {
        const got = run(c, v, T, parts);
        expectSame(got.y, whole.y, `y split ${JSON.stringify(parts)}`);
        expectSame(got.state, whole.state, `state split ${JSON.stringify(parts)}`);
      }
      if (T >= 2) {
        // split on a chunk boundary: the same blocks, so the same bits
        const chunks = Math.ceil(T / c.chunk);
        if (chunks >= 2) {
          const t1 = Math.floor(chunks / 2) * c.chunk;
          const first = run({ ...c, T: t1 }, sliceInputs(c, v, 0, t1, v.state), t1, [[0, B * H]]);
          const second = run({ ...c, T: T - t1 }, sliceInputs(c, v, t1, T, first.state), T - t1, [[0, B * H]]);
          expectSame(concatTime(first.y, t1, second.y, T - t1, B, H * c.P), whole.y, 'y over two calls (chunk boundary)');
          expectSame(second.state, whole.state, 'state over two calls (chunk boundary)');
        }
        // anywhere else: the same numbers up to rounding
        const t1 = Math.max(1, Math.floor(T * 0.45) + 1);
        const first = run({ ...c, T: t1 }, sliceInputs(c, v, 0, t1, v.state), t1, [[0, B * H]]);
        const second = run({ ...c, T: T - t1 }, sliceInputs(c, v, t1, T, first.state), T - t1, [[0, B * H]]);
        expectClose(concatTime(first.y, t1, second.y, T - t1, B, H * c.P), whole.y, tol, 'y over two calls');
        expectClose(second.state, whole.state, tol, 'state over two calls');
      }
    });
  }

  for (const c of cases.filter((k) => k.T <= 127)) {
    const name = `B=${c.B} H=${c.H} P=${c.P} G=${c.G} N=${c.N}`;
    it(`ssdStep ${name}: reference, splits, T steps = one chunked scan`, async () => {
      const { B, T, H, P } = c;
      const v = inputs(c);
      const one = sliceInputs(c, v, 0, 1, v.state);
      const want = await reference({ ...c, T: 1 }, one, 1, true);
      const whole = run({ ...c, T: 1 }, one, 1, [[0, B * H]], true);
      expectClose(whole.y, want.y, 1e-5, 'y');
      expectClose(whole.state, want.state, 1e-5, 'state');
      for (const parts of splits(B * H).slice(1)) {
        const got = run({ ...c, T: 1 }, one, 1, parts, true);
        expectSame(got.y, whole.y, `y split ${JSON.stringify(parts)}`);
        expectSame(got.state, whole.state, `state split ${JSON.stringify(parts)}`);
      }
      // T steps carrying the state = the chunked scan over T
      const Tn = Math.min(T, 40);
      const scan = run({ ...c, T: Tn }, sliceInputs(c, v, 0, Tn, v.state), Tn, [[0, B * H]]);
      let state = v.state;
      const ys: Float32Array[] = [];
      for (let t = 0; t < Tn; t++) {
        const got = run({ ...c, T: 1 }, sliceInputs(c, v, t, t + 1, state), 1, [[0, B * H]], true);
        ys.push(got.y);
        state = got.state;
      }
      let y = ys[0];
      for (let t = 1; t < Tn; t++) y = concatTime(y, t, ys[t], 1, B, H * P);
      expectClose(y, scan.y, 1e-5, 'steps vs chunked: y');
      expectClose(state, scan.state, 1e-5, 'steps vs chunked: state');
    });
  }
});

// ---- the module itself, and threads -------------------------------------------------------

describe('AS kernels: module shape and threads', () => {
  it('imports only a shared env.memory and exports the ABI kernels', () => {
    const h = AsHarness.create();
    const mod = new WebAssembly.Module(readFileSync(AS_WASM_PATH));
    for (const imp of WebAssembly.Module.imports(mod)) {
      expect(['env.memory', 'env.abort'], `import ${imp.module}.${imp.name}`).toContain(`${imp.module}.${imp.name}`);
    }
    const names = WebAssembly.Module.exports(mod).map((e) => e.name);
    for (const abi of ['rmsNorm', 'gatedRmsNorm', 'add', 'conv1dCausal', 'selectiveScan', 'ssdChunkScan', 'ssdStep']) {
      expect(names).toContain(abi);
      expect(typeof (h.k as unknown as Record<string, unknown>)[abi]).toBe('function');
    }
    // a non-shared memory is refused (the module declares its import shared)
    const plain = new WebAssembly.Memory({ initial: 64, maximum: 65536 });
    expect(() => new WebAssembly.Instance(mod, { env: { memory: plain, abort: () => 0 } })).toThrow();
  });

  it('three worker threads, each with its own instance and scratch, split ssdChunkScan and selectiveScan', async () => {
    const h = AsHarness.create();
    const r = rng(99);
    // ssdChunkScan: B=2, T=300, H=5, P=16, G=1, N=32, chunk 128 (sub-blocks of 64 in scratch)
    const [B, T, H, P, G, N] = [2, 300, 5, 16, 1, 32];
    const ssdIn = [uniform(B * T * H * P, r), uniform(B * T * H, r, -3, 1), uniform(H, r, -3, 0), Float32Array.from({ length: H }, () => -Math.exp(2 * r())),
      uniform(B * T * G * N, r), uniform(B * T * G * N, r), uniform(H, r)].map((a) => h.put(a));
    const ssdState0 = uniform(B * H * P * N, r);
    // selectiveScan: B=2, T=100, I=37, N=16
    const [sT, sI, sN] = [100, 37, 16];
    const scanIn = [uniform(B * sT * sI, r), uniform(B * sT * sI, r, -3, 1), uniform(sI, r, -3, 0), Float32Array.from({ length: sI * sN }, () => -Math.exp(2 * r())),
      uniform(B * sT * sN, r), uniform(B * sT * sN, r), uniform(sI, r), uniform(B * sT * sI, r)].map((a) => h.put(a));
    const scanState0 = uniform(B * sI * sN, r);

    const runs = [0, 1].map(() => ({
      ssdState: h.put(ssdState0), ssdY: h.alloc(B * T * H * P), scanState: h.put(scanState0), scanY: h.alloc(B * sT * sI),
    }));
    const ssdArgs = (o: (typeof runs)[number]) => [...ssdIn, o.ssdState, o.ssdY, B, T, H, P, G, N, 128, 0, Infinity];
    const scanArgs = (o: (typeof runs)[number]) => [...scanIn, o.scanState, o.scanY, B, sT, sI, sN];

    // run 0: this thread, whole ranges
    const k = h.k as unknown as Record<string, (...a: number[]) => void>;
    k.ssdChunkScan(...ssdArgs(runs[0]), scratchFor(0), 0, B * H);
    k.selectiveScan(...scanArgs(runs[0]), 0, B * sI);

    // run 1: three workers, uneven ranges, released together by an Atomics flag
    const ctrl = new Int32Array(new SharedArrayBuffer(8));
    const workerCode = `
      const { parentPort, workerData: d } = require('node:worker_threads');
      const fs = require('node:fs');
      const mod = new WebAssembly.Module(fs.readFileSync(d.path));
      const k = new WebAssembly.Instance(mod, { env: { memory: d.memory, abort() { throw new Error('abort'); } } }).exports;
      Atomics.add(d.ctrl, 1, 1);
      Atomics.wait(d.ctrl, 0, 0);
      k.ssdChunkScan(...d.ssdArgs, d.scratch, d.ssdRange[0], d.ssdRange[1]);
      k.selectiveScan(...d.scanArgs, d.scanRange[0], d.scanRange[1]);
      parentPort.postMessage('done');
    `;
    const ssdRanges = [[0, 3], [3, 4], [4, B * H]];
    const scanRanges = [[0, 20], [20, 57], [57, B * sI]];
    const workers = [0, 1, 2].map((i) => new Worker(workerCode, {
      eval: true,
      workerData: {
        path: AS_WASM_PATH, memory: h.memory, ctrl, scratch: scratchFor(i + 1),
        ssdArgs: ssdArgs(runs[1]), scanArgs: scanArgs(runs[1]), ssdRange: ssdRanges[i], scanRange: scanRanges[i],
      },
    }));
    const done = workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    }));
    while (Atomics.load(ctrl, 1) < 3) await new Promise((res) => setTimeout(res, 1));
    Atomics.store(ctrl, 0, 1);
    Atomics.notify(ctrl, 0);
    await Promise.all(done);
    await Promise.all(workers.map((w) => w.terminate()));

    h.checkGuards();
    expectSame(h.get(runs[1].ssdY, B * T * H * P), h.get(runs[0].ssdY, B * T * H * P), 'ssd y, threads vs one');
    expectSame(h.get(runs[1].ssdState, B * H * P * N), h.get(runs[0].ssdState, B * H * P * N), 'ssd state, threads vs one');
    expectSame(h.get(runs[1].scanY, B * sT * sI), h.get(runs[0].scanY, B * sT * sI), 'scan y, threads vs one');
    expectSame(h.get(runs[1].scanState, B * sI * sN), h.get(runs[0].scanState, B * sI * sN), 'scan state, threads vs one');
  });
});
