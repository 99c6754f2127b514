// SIMD128 building blocks shared by the kernels: partial (tail) loads and stores, horizontal
// sums, and vectorized exp / log1p / softplus / silu on f32x4.
//
// Every scalar value a kernel needs (a softplus of one dt, the exp of one decay) is computed by
// the same f32x4 code on a splatted vector, so a channel gives bitwise the same result whether it
// falls in a full vector or in a tail: that is what makes a split work range reproduce the
// whole range exactly.

// ---- partial loads / stores ------------------------------------------------------------------

/** Lanes [0, cnt) from ptr (cnt 1..4), the other lanes 0. Never reads past ptr + 4·cnt. */
@inline export function loadN(ptr: usize, cnt: i32): v128 {
  if (cnt >= 4) return v128.load(ptr);
  let v = v128.load32_zero(ptr);
  if (cnt > 1) v = v128.load32_lane(ptr, v, 1, 4);
  if (cnt > 2) v = v128.load32_lane(ptr, v, 2, 8);
  return v;
}

/** Stores lanes [0, cnt) of v at ptr (cnt 1..4); never writes past ptr + 4·cnt. */
@inline export function storeN(ptr: usize, v: v128, cnt: i32): void {
  if (cnt >= 4) {
    v128.store(ptr, v);
    return;
  }
  v128.store32_lane(ptr, v, 0);
  if (cnt > 1) v128.store32_lane(ptr, v, 1, 4);
  if (cnt > 2) v128.store32_lane(ptr, v, 2, 8);
}

/** Lanes j < cnt gathered from ptr + j·strideBytes (cnt 1..4), the other lanes 0. */
@inline export function gatherN(ptr: usize, strideBytes: usize, cnt: i32): v128 {
  let v = v128.load32_zero(ptr);
  if (cnt > 1) v = v128.load32_lane(ptr + strideBytes, v, 1);
  if (cnt > 2) v = v128.load32_lane(ptr + 2 * strideBytes, v, 2);
  if (cnt > 3) v = v128.load32_lane(ptr + 3 * strideBytes, v, 3);
  return v;
}

/** Stores lanes j < cnt of v at ptr + j·strideBytes. */
@inline export function scatterN(ptr: usize, strideBytes: usize, v: v128, cnt: i32): void {
  v128.store32_lane(ptr, v, 0);
  if (cnt > 1) v128.store32_lane(ptr + strideBytes, v, 1);
  if (cnt > 2) v128.store32_lane(ptr + 2 * strideBytes, v, 2);
  if (cnt > 3) v128.store32_lane(ptr + 3 * strideBytes, v, 3);
}

// ---- reductions ------------------------------------------------------------------------------

/** (l0 + l2) + (l1 + l3): the fixed order every reduction in this module uses. */
@inline export function hsum(v: v128): f32 {
  const a = f32x4.add(v, f32x4.shuffle(v, v, 2, 3, 0, 1)); // l0+l2, l1+l3, ..
  return f32x4.extract_lane(f32x4.add(a, f32x4.shuffle(a, a, 1, 0, 3, 2)), 0);
}

/** [hsum(a), hsum(b), hsum(c), hsum(d)], each lane summed in the same order as `hsum`. */
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  // [a0+a2, b0+b2, a1+a3, b1+b3]
  const ab = f32x4.add(f32x4.shuffle(a, b, 0, 4, 1, 5), f32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(f32x4.shuffle(c, d, 0, 4, 1, 5), f32x4.shuffle(c, d, 2, 6, 3, 7));
  // lane j: (x0+x2) + (x1+x3)
  return f32x4.add(f32x4.shuffle(ab, cd, 0, 1, 4, 5), f32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

// ---- exp ------------------------------------------------------------------------------------

// Constants live in static data and are splat-loaded at each use: V8 rebuilds a v128.const from
// immediates every time (several instructions) and does not hoist it out of loops, while a
// splat load is one instruction. (Static data is written again by every instance, with the same
// bytes, so threads instantiating on the shared memory cannot disturb each other.)
const EXPK = memory.data<f32>([
  -104.0, //                 0 lower clamp: exp(x) rounds to 0 below ≈ −103.97
  88.72284, //               1 upper clamp: exp(x) overflows above ln(FLT_MAX) ≈ 88.72284
  1.44269504088896341, //    2 log2 e
  12582912.0, //             3 1.5·2^23: adding it rounds to an integer (ties to even)
  0.693359375, //            4 C1 (9 significant bits: n·C1 is exact)
  -2.12194440e-4, //         5 C2, ln 2 = C1 + C2
  1.9875691500e-4, //        6 p0 .. p5: Cephes expf minimax polynomial on |r| ≤ ln2/2
  1.3981999507e-3, //        7
  8.3334519073e-3, //        8
  4.1665795894e-2, //        9
  1.6666665459e-1, //       10
  5.0000001201e-1, //       11
  1.0, //                   12
  20.0, //                  13 softplus threshold
  2.0, //                   14
  <f32>(1.0 / 15.0), //    15 1/15 .. 1/3: log1p series
  <f32>(1.0 / 13.0), //    16
  <f32>(1.0 / 11.0), //    17
  <f32>(1.0 / 9.0), //     18
  <f32>(1.0 / 7.0), //     19
  <f32>(1.0 / 5.0), //     20
  <f32>(1.0 / 3.0), //     21
  0.0, //                   22
  5.421010862427522e-20, // 23 2^−64
]);
@inline function kc(i: i32): v128 {
  return v128.load32_splat(EXPK + (<usize>i << 2));
}

// Cephes expf: exp(x) = 2^n · exp(r), n = round(x·log2 e), r = x − n·ln 2 in two parts
// (Cody–Waite), exp(r) by a degree-5 minimax polynomial on |r| ≤ ln2/2. 2^n is applied as two
// halves so results that underflow into the subnormal range (x < −87.34) are rounded once, like
// Math.exp's. Measured ≤ 1 ulp on [−88, 0] and [0, 88.7] against Math.exp
// (test/wasm/as-kernels.test.ts). pmin/pmax (one instruction each) with x first keep a NaN x.
@inline export function expv(x0: v128): v128 {
  const x = f32x4.pmin(f32x4.pmax(x0, kc(0)), kc(1));
  const t = f32x4.add(f32x4.mul(x, kc(2)), kc(3)); // 1.5·2^23 + n, n = round(x·log2 e)
  const fx = f32x4.sub(t, kc(3));
  let r = f32x4.sub(x, f32x4.mul(fx, kc(4)));
  r = f32x4.sub(r, f32x4.mul(fx, kc(5)));
  const z = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(kc(6), r), kc(7));
  p = f32x4.add(f32x4.mul(p, r), kc(8));
  p = f32x4.add(f32x4.mul(p, r), kc(9));
  p = f32x4.add(f32x4.mul(p, r), kc(10));
  p = f32x4.add(f32x4.mul(p, r), kc(11));
  p = f32x4.add(f32x4.add(f32x4.mul(p, z), r), kc(12));
  // n from t's low mantissa bits; 2^n = 2^n1 · 2^(n − n1), each half a normal number.
  const n = i32x4.sub(t, kc(3));
  const n1 = i32x4.shr_s(n, 1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(n, n1), i32x4.splat(127)), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/**
 * exp for the scans' decays exp(Δ·A), whose argument is ≤ 0 (Δ ≥ 0, A = −exp(A_log) < 0):
 * the same polynomial as `expv` with one clamp and a single 2^n scaling, valid for
 * x ∈ [−104, 43] (2^n is applied as 2^(n+64) · 2^−64, which rounds subnormal results once).
 * Bitwise equal to `expv` on that range. Larger x (a positive A) gives garbage, not a trap.
 */
@inline export function expDecayV(x0: v128): v128 {
  const x = f32x4.pmax(x0, kc(0));
  const t = f32x4.add(f32x4.mul(x, kc(2)), kc(3));
  const fx = f32x4.sub(t, kc(3));
  let r = f32x4.sub(x, f32x4.mul(fx, kc(4)));
  r = f32x4.sub(r, f32x4.mul(fx, kc(5)));
  const z = f32x4.mul(r, r);
  let p = f32x4.add(f32x4.mul(kc(6), r), kc(7));
  p = f32x4.add(f32x4.mul(p, r), kc(8));
  p = f32x4.add(f32x4.mul(p, r), kc(9));
  p = f32x4.add(f32x4.mul(p, r), kc(10));
  p = f32x4.add(f32x4.mul(p, r), kc(11));
  p = f32x4.add(f32x4.add(f32x4.mul(p, z), r), kc(12));
  // t's bits are 0x4B400000 + n; ((n + 64 + 127) mod 512) << 23 is 2^(n+64) for n ∈ [−150, 63].
  const s = i32x4.shl(i32x4.add(t, i32x4.splat(64 + 127)), 23);
  return f32x4.mul(f32x4.mul(p, s), kc(23));
}

@inline export function expDecayS(x: f32): f32 {
  return f32x4.extract_lane(expDecayV(f32x4.splat(x)), 0);
}

/** exp of one f32 through the vector code (bitwise equal to a lane of `expv`). */
@inline export function exps(x: f32): f32 {
  return f32x4.extract_lane(expv(f32x4.splat(x)), 0);
}

// ---- log1p on [0, 1], softplus, silu -------------------------------------------------------

// log1p(u) = 2·atanh(s), s = u / (2 + u) ∈ [0, 1/3]; the odd series in s truncated after s^15
// (next term < 2e-9 relative). Used only for u = exp(−|x|) ∈ (0, 1].
@inline function log1p01(u: v128): v128 {
  const s = f32x4.div(u, f32x4.add(u, kc(14)));
  const w = f32x4.mul(s, s);
  let p = f32x4.add(f32x4.mul(kc(15), w), kc(16));
  p = f32x4.add(f32x4.mul(p, w), kc(17));
  p = f32x4.add(f32x4.mul(p, w), kc(18));
  p = f32x4.add(f32x4.mul(p, w), kc(19));
  p = f32x4.add(f32x4.mul(p, w), kc(20));
  p = f32x4.add(f32x4.mul(p, w), kc(21));
  // 2s + 2s·w·p: the leading term stays exact-ish for tiny u (log1p(u) ≈ u).
  const s2 = f32x4.add(s, s);
  return f32x4.add(s2, f32x4.mul(f32x4.mul(s2, w), p));
}

/** torch softplus (threshold 20): x > 20 ? x : log1p(exp(x)) = max(x, 0) + log1p(exp(−|x|)). */
@inline export function softplusv(x: v128): v128 {
  const u = expv(f32x4.neg(f32x4.abs(x)));
  const r = f32x4.add(f32x4.pmax(x, kc(22)), log1p01(u));
  return v128.bitselect(x, r, f32x4.gt(x, kc(13)));
}

@inline export function softpluss(x: f32): f32 {
  return f32x4.extract_lane(softplusv(f32x4.splat(x)), 0);
}

/** silu(x) = x / (1 + exp(−x)). */
@inline export function siluv(x: v128): v128 {
  return f32x4.div(x, f32x4.add(kc(12), expv(f32x4.neg(x))));
}

@inline export function silus(x: f32): f32 {
  return f32x4.extract_lane(siluv(f32x4.splat(x)), 0);
}
