// The attention family's kernels (wasm/ABI.md): rotary embedding with precomputed tables, causal
// grouped-query softmax attention over a KV cache, and the MLP activations SwiGLU and relu².
// Pointers are byte offsets into the shared memory; every kernel writes only inside its range.
import { loadN, storeN, hsum, expDecayV, siluv } from './simd';

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

/** y[0..n) = y·scaleY + p·v. */
@inline function axpby(y: usize, scaleY: f32, p: f32, v: usize, n: i32): void {
  const sy = f32x4.splat(scaleY), sp = f32x4.splat(p);
  for (let d = 0; d < n; d += 4) {
    const c = n - d, o = <usize>d << 2;
    storeN(y + o, f32x4.add(f32x4.mul(loadN(y + o, c), sy), f32x4.mul(loadN(v + o, c), sp)), c);
  }
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
      for (let s = 0; s < len; s++) {
        const sc = dot(qp, kb + <usize>(s0 + s) * row, Dh) * scale;
        store<f32>(scratch + (<usize>s << 2), sc);
        bm = max(bm, sc);
      }
      const newM = max(m, bm);
      // exp(m − newM) ≤ 1 rescales what earlier blocks summed (0 on the first block, where l = y = 0)
      const corr = m == -Infinity ? <f32>0 : f32x4.extract_lane(expDecayV(f32x4.splat(m - newM)), 0);
      l *= corr;
      const mv = f32x4.splat(newM);
      for (let s = 0; s < len; s += 4) {
        const c = len - s;
        const p = expDecayV(f32x4.sub(loadN(scratch + (<usize>s << 2), c), mv));
        storeN(scratch + (<usize>s << 2), p, c);
      }
      for (let s = 0; s < len; s++) {
        const p = load<f32>(scratch + (<usize>s << 2));
        l += p;
        axpby(yp, s == 0 ? corr : 1, p, vb + <usize>(s0 + s) * row, Dh);
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
