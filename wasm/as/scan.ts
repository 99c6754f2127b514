// Mamba-1 selective scan (Gu & Dao 2023, Alg. 2; HF MambaMixer.slow_forward):
//   Δ = softplus(dt + dtBias);  h ← exp(Δ·A) ⊙ h + (Δ·x)·B;  y = (C·h + D·x) · silu(z)
import { loadN, storeN, hsum, expDecayV, softplusv, siluv } from './simd';

/** Channels per block: one 64-byte line of x, dt, z and y per token. */
const CH_BLOCK: i32 = 16;
/** Tokens per block: B, C, x, dt, z, y of a block stay in L1 while its channels are scanned. */
const T_BLOCK: i32 = 64;

/**
 * x, dt, z, y [B, T, I]; dtBias, D [I]; A [I, N]; Bm, Cm [B, T, N]; state [B, I, N] (in place).
 * Range over b·I + i. y must not alias an input: it first holds Δ (a vectorized softplus pass
 * over the channels of a block), then C·h + D·x, then is multiplied by silu(z) in a last pass.
 *
 * Within a channel the state dimension N is vectorized (h for N = 16 lives in four v128
 * registers across a token block); the softplus and silu passes are vectorized over channels.
 */
export function selectiveScan(
  x: usize, dt: usize, dtBias: usize, A: usize, Bm: usize, Cm: usize, D: usize, z: usize,
  state: usize, y: usize, B: i32, T: i32, I: i32, N: i32, c0: i32, c1: i32,
): void {
  const rowBytes = <usize>I << 2; // bytes between tokens in x, dt, z, y
  const nBytes = <usize>N << 2;
  let idx = c0;
  while (idx < c1) {
    const b = idx / I;
    const iStart = idx - b * I;
    const iEnd = min(I, iStart + (c1 - idx));
    for (let ib = iStart; ib < iEnd; ib += CH_BLOCK) {
      const ie = min(iEnd, ib + CH_BLOCK);
      for (let tb = 0; tb < T; tb += T_BLOCK) {
        const te = min(T, tb + T_BLOCK);
        const rowBase = (<usize>b * <usize>T + <usize>tb) * rowBytes; // byte offset of row (b, tb)
        // pass 1: y ← Δ = softplus(dt + dtBias)
        for (let t = tb; t < te; t++) {
          const ro = rowBase + <usize>(t - tb) * rowBytes;
          for (let i = ib; i < ie; i += 4) {
            const n = ie - i;
            const o = <usize>i << 2;
            storeN(y + ro + o, softplusv(f32x4.add(loadN(dt + ro + o, n), loadN(dtBias + o, n))), n);
          }
        }
        // pass 2: the recurrence, channel by channel; y ← C·h + D·x
        const bc = (<usize>b * <usize>T + <usize>tb) * nBytes; // B, C row (b, tb)
        for (let i = ib; i < ie; i++) {
          const hp = state + (<usize>(b * I + i)) * nBytes;
          const ap = A + <usize>i * nBytes;
          const dI = load<f32>(D + (<usize>i << 2));
          const io = rowBase + (<usize>i << 2);
          const len = te - tb;
          if (N == 16) scanChannel16(x + io, y + io, rowBytes, Bm + bc, Cm + bc, ap, hp, dI, len);
          else scanChannelN(x + io, y + io, rowBytes, Bm + bc, Cm + bc, ap, hp, dI, len, N);
        }
        // pass 3: y ← y · silu(z)
        for (let t = tb; t < te; t++) {
          const ro = rowBase + <usize>(t - tb) * rowBytes;
          for (let i = ib; i < ie; i += 4) {
            const n = ie - i;
            const o = ro + (<usize>i << 2);
            storeN(y + o, f32x4.mul(loadN(y + o, n), siluv(loadN(z + o, n))), n);
          }
        }
      }
    }
    idx += iEnd - iStart;
  }
}

/** N = 16: h and A in four registers each for the whole token block. */
@inline function scanChannel16(
  xp: usize, yp: usize, rowBytes: usize, bp: usize, cp: usize, ap: usize, hp: usize, dI: f32, len: i32,
): void {
  let h0 = v128.load(hp), h1 = v128.load(hp, 16), h2 = v128.load(hp, 32), h3 = v128.load(hp, 48);
  const a0 = v128.load(ap), a1 = v128.load(ap, 16), a2 = v128.load(ap, 32), a3 = v128.load(ap, 48);
  for (let t = 0; t < len; t++) {
    const o = <usize>t * rowBytes;
    const delta = load<f32>(yp + o);
    const xv = load<f32>(xp + o);
    const dv = f32x4.splat(delta);
    const dx = f32x4.splat(delta * xv);
    const bo = bp + (<usize>t << 6);
    const co = cp + (<usize>t << 6);
    h0 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a0)), h0), f32x4.mul(dx, v128.load(bo)));
    h1 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a1)), h1), f32x4.mul(dx, v128.load(bo, 16)));
    h2 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a2)), h2), f32x4.mul(dx, v128.load(bo, 32)));
    h3 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a3)), h3), f32x4.mul(dx, v128.load(bo, 48)));
    const acc = f32x4.add(
      f32x4.add(f32x4.mul(h0, v128.load(co)), f32x4.mul(h1, v128.load(co, 16))),
      f32x4.add(f32x4.mul(h2, v128.load(co, 32)), f32x4.mul(h3, v128.load(co, 48))),
    );
    store<f32>(yp + o, hsum(acc) + dI * xv);
  }
  v128.store(hp, h0);
  v128.store(hp, h1, 16);
  v128.store(hp, h2, 32);
  v128.store(hp, h3, 48);
}

/** Any N: h streamed through the (L1-resident) state row every token; partial tail lanes. */
@inline function scanChannelN(
  xp: usize, yp: usize, rowBytes: usize, bp: usize, cp: usize, ap: usize, hp: usize, dI: f32, len: i32, N: i32,
): void {
  const nBytes = <usize>N << 2;
  for (let t = 0; t < len; t++) {
    const o = <usize>t * rowBytes;
    const delta = load<f32>(yp + o);
    const xv = load<f32>(xp + o);
    const dv = f32x4.splat(delta);
    const dx = f32x4.splat(delta * xv);
    const bo = bp + <usize>t * nBytes;
    const co = cp + <usize>t * nBytes;
    let acc = f32x4.splat(0);
    let n = 0;
    for (; n + 4 <= N; n += 4) {
      const q = <usize>n << 2;
      const h = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, v128.load(ap + q))), v128.load(hp + q)), f32x4.mul(dx, v128.load(bo + q)));
      v128.store(hp + q, h);
      acc = f32x4.add(acc, f32x4.mul(h, v128.load(co + q)));
    }
    if (n < N) {
      const q = <usize>n << 2;
      const k = N - n;
      const h = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, loadN(ap + q, k))), loadN(hp + q, k)), f32x4.mul(dx, loadN(bo + q, k)));
      storeN(hp + q, h, k);
      acc = f32x4.add(acc, f32x4.mul(h, loadN(co + q, k)));
    }
    store<f32>(yp + o, hsum(acc) + dI * xv);
  }
}
