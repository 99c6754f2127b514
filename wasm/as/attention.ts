// The attention family's kernels (wasm/ABI.md): rotary embedding with precomputed tables, causal
// grouped-query softmax attention over a KV cache, and the MLP activations SwiGLU and relu².
// Pointers are byte offsets into the shared memory; every kernel writes only inside its range.
import { loadN, storeN, hsum, hsum4, expDecayV, siluv } from './simd';

/**
 * rope(x, y, cos, sin, T, H, Dh, R, r0, r1): rows r = (b·T + t)·H + h of x [B, T, H, Dh] → y, the
 * first 2R dims rotated with the rotate_half convention (cos/sin tables [T, R]), the rest copied.
 */
export function rope(x: usize, y: usize, cos: usize, sin: usize, T: i32, H: i32, Dh: i32, R: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const t = (r / H) % T;
    const xo = x + (<usize>r * Dh << 2), yo = y + (<usize>r * Dh << 2);
    const co = cos + (<usize>t * R << 2), so = sin + (<usize>t * R << 2);
    const hb = <usize>R << 2;
    for (let i = 0; i < R; i += 4) {
      const n = R - i, o = <usize>i << 2;
      const a = loadN(xo + o, n), b = loadN(xo + hb + o, n), c = loadN(co + o, n), s = loadN(so + o, n);
      storeN(yo + o, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)), n);
      storeN(yo + hb + o, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s)), n);
    }
    for (let d = 2 * R; d < Dh; d++) store<f32>(yo + (<usize>d << 2), load<f32>(xo + (<usize>d << 2)));
  }
}

@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  for (let d = 0; d < n; d += 4) {
    const c = n - d, o = <usize>d << 2;
    acc = f32x4.add(acc, f32x4.mul(loadN(a + o, c), loadN(b + o, c)));
  }
  return hsum(acc);
}

const BLOCK: i32 = 1024; // keys per score block in the thread's scratch (4 KiB of its 64 KiB)

/**
 * attention(q, kc, vc, y, T, H, G, Dh, cap, past, scale, scratch, r0, r1): rows r = (b·T + t)·H + h
 * of q [B, T, H, Dh]; keys/values in the cache blocks [B, G, cap, Dh] (this call's tokens already
 * appended at past..past+T−1). Query t sees keys 0..past+t. Softmax over blocks of BLOCK keys with
 * a running maximum (each block's scores rescale the partial sums once), so any context length
 * fits the scratch.
 */
export function attention(
  q: usize, kc: usize, vc: usize, y: usize, T: i32, H: i32, G: i32, Dh: i32, cap: i32, past: i32, scale: f32,
  scratch: usize, r0: i32, r1: i32,
): void {
  const perKv = H / G;
  const row = <usize>Dh << 2;
  for (let r = r0; r < r1; r++) {
    const h = r % H, bt = r / H, t = bt % T, b = bt / T;
    const g = h / perKv;
    const qp = q + <usize>r * row, yp = y + <usize>r * row;
    const kb = kc + <usize>(b * G + g) * <usize>cap * row, vb = vc + <usize>(b * G + g) * <usize>cap * row;
    const n = past + t + 1;
    for (let d = 0; d < Dh; d++) store<f32>(yp + (<usize>d << 2), 0);
    let m: f32 = -Infinity, l: f32 = 0;
    for (let s0 = 0; s0 < n; s0 += BLOCK) {
      const len = min(BLOCK, n - s0);
      let bm: f32 = -Infinity;
      const ks = kb + <usize>s0 * row;
      let s = 0;
      // four keys at a time: four dot products summed lane-wise in hsum's order (hsum4), so a key's
      // score is the same whichever group it falls in
      for (; s + 4 <= len; s += 4) {
        const k0 = ks + <usize>s * row;
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        for (let d = 0; d < Dh; d += 4) {
          const c = Dh - d, o = <usize>d << 2;
          const qv = loadN(qp + o, c);
          a0 = f32x4.add(a0, f32x4.mul(qv, loadN(k0 + o, c)));
          a1 = f32x4.add(a1, f32x4.mul(qv, loadN(k0 + row + o, c)));
          a2 = f32x4.add(a2, f32x4.mul(qv, loadN(k0 + 2 * row + o, c)));
          a3 = f32x4.add(a3, f32x4.mul(qv, loadN(k0 + 3 * row + o, c)));
        }
        const sc = f32x4.mul(hsum4(a0, a1, a2, a3), f32x4.splat(scale));
        v128.store(scratch + (<usize>s << 2), sc);
        bm = max(bm, max(max(f32x4.extract_lane(sc, 0), f32x4.extract_lane(sc, 1)), max(f32x4.extract_lane(sc, 2), f32x4.extract_lane(sc, 3))));
      }
      for (; s < len; s++) {
        const sc = dot(qp, ks + <usize>s * row, Dh) * scale;
        store<f32>(scratch + (<usize>s << 2), sc);
        bm = max(bm, sc);
      }
      const newM = max(m, bm);
      // exp(m − newM) ≤ 1 rescales what earlier blocks summed (0 on the first block, where l = y = 0)
      const corr = m == -Infinity ? <f32>0 : f32x4.extract_lane(expDecayV(f32x4.splat(m - newM)), 0);
      l *= corr;
      const mv = f32x4.splat(newM);
      for (let j = 0; j < len; j += 4) {
        const c = len - j;
        const p = expDecayV(f32x4.sub(loadN(scratch + (<usize>j << 2), c), mv));
        storeN(scratch + (<usize>j << 2), p, c);
      }
      for (let j = 0; j < len; j++) l += load<f32>(scratch + (<usize>j << 2));
      // y ← corr·y + Σ_s p_s·v_s, four dims at a time with the sum held in a register over the block's keys
      const vs = vb + <usize>s0 * row;
      const cv = f32x4.splat(corr);
      for (let d = 0; d < Dh; d += 4) {
        const c = Dh - d, o = <usize>d << 2;
        let acc = f32x4.mul(loadN(yp + o, c), cv);
        for (let j = 0; j < len; j++) {
          acc = f32x4.add(acc, f32x4.mul(v128.load32_splat(scratch + (<usize>j << 2)), loadN(vs + <usize>j * row + o, c)));
        }
        storeN(yp + o, acc, c);
      }
      m = newM;
    }
    const inv = f32x4.splat(<f32>1 / l);
    for (let d = 0; d < Dh; d += 4) {
      const c = Dh - d, o = <usize>d << 2;
      storeN(yp + o, f32x4.mul(loadN(yp + o, c), inv), c);
    }
  }
}

/** y = silu(g) ⊙ u over elements [i0, i1). */
export function swiglu(g: usize, u: usize, y: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i << 2, n = i1 - i;
    storeN(y + o, f32x4.mul(siluv(loadN(g + o, n)), loadN(u + o, n)), n);
  }
}

/** y = relu(x)² over elements [i0, i1). */
export function relu2(x: usize, y: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i << 2, n = i1 - i;
    const r = f32x4.max(loadN(x + o, n), f32x4.splat(0));
    storeN(y + o, f32x4.mul(r, r), n);
  }
}
