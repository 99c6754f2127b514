/**
 * Pieces of a chunked scan shared by the chunked Mamba-2 SSD (ssd.ts, ssdBlock) and the chunked
 * Mamba-3 scan (mamba3-chunk.ts) (Dao & Gu 2024, SSD):
 *
 * rowAccumulate, the intra-chunk output: y_t += Σ_{s < end} M[t, s]·x_s.
 *
 * chunkStateUpdate, the end-of-chunk state update: with the chunk's total decay eT = exp(a_L) and per-token
 * weights w_s = exp(a_L − a_s)·Δ_s (Mamba-3: its trapezoid weights),
 *   h[p, :] ← eT·h[p, :] + Σ_s (w_s·X[s, p])·B[s, :]        for all p < P, s < len
 * (chunk state passing). Vectorized over n in tiles of 2 state rows × 16 n.
 */
import { loadN, storeN } from './simd';

/** One vector (k ≤ 4 lanes, a larger k counts as 4) of state row h: h ← eT·h + Σ_s (w_s·x_s)·B_s[lanes]. */
@inline function updateStateVec(
  h: usize, xp: usize, xRow: usize, bp: usize, bRow: usize, w: usize, eT: v128, len: i32, k: i32,
): void {
  let v = f32x4.mul(eT, loadN(h, k));
  for (let s = 0; s < len; s++) {
    const u = f32x4.splat(load<f32>(w + (<usize>s << 2)) * load<f32>(xp + <usize>s * xRow));
    v = f32x4.add(v, f32x4.mul(u, loadN(bp + <usize>s * bRow, k)));
  }
  storeN(h, v, k);
}

/**
 * h [P, N] (rows of N f32, contiguous) ← decay·h + Σ_s (w_s·X[s, p])·B[s, :]  (decay = eT above).
 * Bm: B[s, :] at Bm + s·bRow bytes; X: X[s, p] at X + s·xRow + 4p bytes; w: len f32.
 */
export function chunkStateUpdate(
  Bm: usize, bRow: usize, X: usize, xRow: usize, w: usize, h: usize, decay: f32, len: i32, P: i32, N: i32,
): void {
  const eT = f32x4.splat(decay);
  const hBytes = <usize>N << 2;
  let p = 0;
  for (; p + 2 <= P; p += 2) {
    const hq = h + <usize>p * hBytes;
    const xp = X + (<usize>p << 2);
    let n = 0;
    for (; n + 16 <= N; n += 16) {
      const o = <usize>n << 2;
      let a0 = f32x4.mul(eT, v128.load(hq + o)), a1 = f32x4.mul(eT, v128.load(hq + o, 16));
      let a2 = f32x4.mul(eT, v128.load(hq + o, 32)), a3 = f32x4.mul(eT, v128.load(hq + o, 48));
      let b0 = f32x4.mul(eT, v128.load(hq + hBytes + o)), b1 = f32x4.mul(eT, v128.load(hq + hBytes + o, 16));
      let b2 = f32x4.mul(eT, v128.load(hq + hBytes + o, 32)), b3 = f32x4.mul(eT, v128.load(hq + hBytes + o, 48));
      for (let s = 0; s < len; s++) {
        const ws = load<f32>(w + (<usize>s << 2));
        const xs = xp + <usize>s * xRow;
        const u0 = f32x4.splat(ws * load<f32>(xs));
        const u1 = f32x4.splat(ws * load<f32>(xs, 4));
        const bs = Bm + <usize>s * bRow + o;
        const k0 = v128.load(bs), k1 = v128.load(bs, 16), k2 = v128.load(bs, 32), k3 = v128.load(bs, 48);
        a0 = f32x4.add(a0, f32x4.mul(u0, k0));
        a1 = f32x4.add(a1, f32x4.mul(u0, k1));
        a2 = f32x4.add(a2, f32x4.mul(u0, k2));
        a3 = f32x4.add(a3, f32x4.mul(u0, k3));
        b0 = f32x4.add(b0, f32x4.mul(u1, k0));
        b1 = f32x4.add(b1, f32x4.mul(u1, k1));
        b2 = f32x4.add(b2, f32x4.mul(u1, k2));
        b3 = f32x4.add(b3, f32x4.mul(u1, k3));
      }
      v128.store(hq + o, a0);
      v128.store(hq + o, a1, 16);
      v128.store(hq + o, a2, 32);
      v128.store(hq + o, a3, 48);
      v128.store(hq + hBytes + o, b0);
      v128.store(hq + hBytes + o, b1, 16);
      v128.store(hq + hBytes + o, b2, 32);
      v128.store(hq + hBytes + o, b3, 48);
    }
    for (; n < N; n += 4) {
      const o = <usize>n << 2;
      updateStateVec(hq + o, xp, xRow, Bm + o, bRow, w, eT, len, N - n);
      updateStateVec(hq + hBytes + o, xp + 4, xRow, Bm + o, bRow, w, eT, len, N - n);
    }
  }
  for (; p < P; p++) {
    const hq = h + <usize>p * hBytes;
    const xp = X + (<usize>p << 2);
    for (let n = 0; n < N; n += 4) {
      const o = <usize>n << 2;
      updateStateVec(hq + o, xp, xRow, Bm + o, bRow, w, eT, len, N - n);
    }
  }
}

/**
 * y[0..P) += Σ_{s < end} m[s]·X[s, 0..P) for one output row (vectorized over p, 16 at a time):
 * m: end f32 (the row of M); X[s, :] at X + s·xRow bytes. Never reads or writes past P.
 */
export function rowAccumulate(y: usize, m: usize, X: usize, xRow: usize, end: i32, P: i32): void {
  let p = 0;
  for (; p + 16 <= P; p += 16) {
    const q = <usize>p << 2;
    let y0 = v128.load(y + q), y1 = v128.load(y + q, 16), y2 = v128.load(y + q, 32), y3 = v128.load(y + q, 48);
    for (let s = 0; s < end; s++) {
      const ms = v128.load32_splat(m + (<usize>s << 2));
      const xs = X + <usize>s * xRow + q;
      y0 = f32x4.add(y0, f32x4.mul(ms, v128.load(xs)));
      y1 = f32x4.add(y1, f32x4.mul(ms, v128.load(xs, 16)));
      y2 = f32x4.add(y2, f32x4.mul(ms, v128.load(xs, 32)));
      y3 = f32x4.add(y3, f32x4.mul(ms, v128.load(xs, 48)));
    }
    v128.store(y + q, y0);
    v128.store(y + q, y1, 16);
    v128.store(y + q, y2, 32);
    v128.store(y + q, y3, 48);
  }
  for (; p < P; p += 4) {
    const q = <usize>p << 2;
    const k = P - p;
    let y0 = loadN(y + q, k);
    for (let s = 0; s < end; s++) {
      y0 = f32x4.add(y0, f32x4.mul(v128.load32_splat(m + (<usize>s << 2)), loadN(X + <usize>s * xRow + q, k)));
    }
    storeN(y + q, y0, k);
  }
}
