// Row-wise and elementwise kernels: rmsNorm, gatedRmsNorm, add, and the elementwise
// exp / softplus / silu (extras beyond wasm/ABI.md, used by the tests and free for the pool).
// Pointers are byte offsets into the shared memory; every kernel writes only inside its range.
import { loadN, storeN, hsum, expv, softplusv, siluv } from './simd';

/** Σ x² over D floats at p: two vector accumulators, zero-padded tail, fixed order. */
@inline function sumSquares(p: usize, D: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let d = 0;
  for (; d + 8 <= D; d += 8) {
    const v0 = v128.load(p + (<usize>d << 2));
    const v1 = v128.load(p + (<usize>d << 2), 16);
    a0 = f32x4.add(a0, f32x4.mul(v0, v0));
    a1 = f32x4.add(a1, f32x4.mul(v1, v1));
  }
  for (; d < D; d += 4) {
    const v = loadN(p + (<usize>d << 2), D - d);
    a0 = f32x4.add(a0, f32x4.mul(v, v));
  }
  return hsum(f32x4.add(a0, a1));
}

/** 1 / sqrt(Σx²/n + eps), finished in f64. */
@inline function invRms(sumSq: f32, n: i32, eps: f32): f32 {
  return <f32>(1.0 / Math.sqrt(<f64>sumSq / <f64>n + <f64>eps));
}

/** y[r, :] = w ⊙ (x[r, :] · invRms(x[r, :])) for rows r in [r0, r1). x [rows, D], w [D]. */
export function rmsNorm(x: usize, w: usize, y: usize, D: i32, eps: f32, r0: i32, r1: i32): void {
  const rowBytes = <usize>D << 2;
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rowBytes;
    const yr = y + <usize>r * rowBytes;
    const inv = f32x4.splat(invRms(sumSquares(xr, D), D, eps));
    let d = 0;
    for (; d + 4 <= D; d += 4) {
      const o = <usize>d << 2;
      v128.store(yr + o, f32x4.mul(v128.load(w + o), f32x4.mul(v128.load(xr + o), inv)));
    }
    if (d < D) {
      const o = <usize>d << 2;
      const n = D - d;
      storeN(yr + o, f32x4.mul(loadN(w + o, n), f32x4.mul(loadN(xr + o, n), inv)), n);
    }
  }
}

/**
 * Mamba-2's gated norm: g = x ⊙ silu(z), then RMS-normalized over groups of `group`
 * consecutive values, times w. x, z, y [rows, D], w [D]; group divides D. Range over groups
 * g0..g1 (group index = row·D/group + j). y may alias x.
 */
export function gatedRmsNorm(x: usize, z: usize, w: usize, y: usize, D: i32, group: i32, eps: f32, g0: i32, g1: i32): void {
  const gBytes = <usize>group << 2;
  const perRow = D / group;
  for (let gi = g0; gi < g1; gi++) {
    const off = <usize>gi * gBytes;
    const wg = w + <usize>(gi % perRow) * gBytes;
    // pass 1: y = x·silu(z), Σ y²
    let a0 = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= group; k += 4) {
      const o = off + (<usize>k << 2);
      const g = f32x4.mul(v128.load(x + o), siluv(v128.load(z + o)));
      v128.store(y + o, g);
      a0 = f32x4.add(a0, f32x4.mul(g, g));
    }
    if (k < group) {
      const o = off + (<usize>k << 2);
      const n = group - k;
      const g = f32x4.mul(loadN(x + o, n), siluv(loadN(z + o, n)));
      storeN(y + o, g, n);
      a0 = f32x4.add(a0, f32x4.mul(g, g));
    }
    const inv = f32x4.splat(invRms(hsum(a0), group, eps));
    // pass 2: y = w · (y · inv)
    k = 0;
    for (; k + 4 <= group; k += 4) {
      const o = <usize>k << 2;
      v128.store(y + off + o, f32x4.mul(v128.load(wg + o), f32x4.mul(v128.load(y + off + o), inv)));
    }
    if (k < group) {
      const o = <usize>k << 2;
      const n = group - k;
      storeN(y + off + o, f32x4.mul(loadN(wg + o, n), f32x4.mul(loadN(y + off + o, n), inv)), n);
    }
  }
}

/** y[i] = a[i] + b[i] for i in [i0, i1). */
export function add(a: usize, b: usize, y: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 16 <= i1; i += 16) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
    v128.store(y + o, f32x4.add(v128.load(a + o, 16), v128.load(b + o, 16)), 16);
    v128.store(y + o, f32x4.add(v128.load(a + o, 32), v128.load(b + o, 32)), 32);
    v128.store(y + o, f32x4.add(v128.load(a + o, 48), v128.load(b + o, 48)), 48);
  }
  for (; i < i1; i += 4) {
    const o = <usize>i << 2;
    const n = i1 - i;
    storeN(y + o, f32x4.add(loadN(a + o, n), loadN(b + o, n)), n);
  }
}

// ---- elementwise extras (not in wasm/ABI.md): y[i] = f(x[i]) for i in [i0, i1) -----------

export function vexp(x: usize, y: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i << 2;
    const n = i1 - i;
    storeN(y + o, expv(loadN(x + o, n)), n);
  }
}

export function vsoftplus(x: usize, y: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i << 2;
    const n = i1 - i;
    storeN(y + o, softplusv(loadN(x + o, n)), n);
  }
}

export function vsilu(x: usize, y: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i << 2;
    const n = i1 - i;
    storeN(y + o, siluv(loadN(x + o, n)), n);
  }
}
