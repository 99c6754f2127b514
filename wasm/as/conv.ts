// Causal depthwise conv1d with carried state (both Mamba generations' short conv), silu fused.
import { loadN, storeN, gatherN, scatterN, siluv } from './simd';

/**
 * y[b,t,c] = silu?(bias[c] + Σ_k w[c,k]·s[t+k]) over s = state[b,c,:] ++ x[b,:,c];
 * state[b,c,:] ← the last K−1 values of s (oldest first).
 * x, y [B, T, C]; w [C, K]; bias [C] or 0; state [B, C, K−1]. Range over b·C + c.
 *
 * Four channels share a vector (they are adjacent in x and y); a group of fewer than four
 * (a range or row tail) runs the same vector code on partial lanes, so results do not depend
 * on how the range is split. K = 4 (every Mamba) keeps the window in registers.
 */
export function conv1dCausal(
  x: usize, w: usize, bias: usize, state: usize, y: usize,
  B: i32, T: i32, C: i32, K: i32, silu: i32, c0: i32, c1: i32,
): void {
  const hist = K - 1;
  const rowBytes = <usize>C << 2;
  let idx = c0;
  while (idx < c1) {
    const b = idx / C;
    const cStart = idx - b * C;
    const cEnd = min(C, cStart + (c1 - idx));
    for (let c = cStart; c < cEnd; c += 4) {
      const cnt = min(4, cEnd - c);
      const xs = x + (<usize>b * <usize>T * <usize>C + <usize>c) * 4; // x[b, 0, c]
      const ys = y + (<usize>b * <usize>T * <usize>C + <usize>c) * 4;
      const st = state + (<usize>(b * C + c) * <usize>hist) * 4; // state[b, c, 0]
      const stStride = <usize>hist << 2; // bytes between channels in state
      const wc = w + (<usize>c * <usize>K) * 4;
      const wStride = <usize>K << 2;
      const bv = bias != 0 ? loadN(bias + (<usize>c << 2), cnt) : f32x4.splat(0);
      if (K == 4) {
        let w0: v128, w1: v128, w2: v128, w3: v128, h0: v128, h1: v128, h2: v128;
        if (cnt == 4) {
          // 4 channels' weights are 16 contiguous floats [c][k] and their state 12 [c][k]:
          // load whole vectors and transpose with shuffles instead of 28 lane loads.
          const r0 = v128.load(wc), r1 = v128.load(wc, 16), r2 = v128.load(wc, 32), r3 = v128.load(wc, 48);
          const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
          const t2 = f32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
          w0 = f32x4.shuffle(t0, t2, 0, 1, 4, 5);
          w1 = f32x4.shuffle(t0, t2, 2, 3, 6, 7);
          w2 = f32x4.shuffle(t1, t3, 0, 1, 4, 5);
          w3 = f32x4.shuffle(t1, t3, 2, 3, 6, 7);
          // v0 = [s00 s01 s02 s10], v1 = [s11 s12 s20 s21], v2 = [s22 s30 s31 s32]
          const v0 = v128.load(st), v1 = v128.load(st, 16), v2 = v128.load(st, 32);
          h0 = f32x4.shuffle(f32x4.shuffle(v0, v1, 0, 3, 6, 7), v2, 0, 1, 2, 5);
          h1 = f32x4.shuffle(f32x4.shuffle(v0, v1, 1, 4, 7, 7), v2, 0, 1, 2, 6);
          h2 = f32x4.shuffle(f32x4.shuffle(v0, v1, 2, 5, 5, 5), v2, 0, 1, 4, 7);
        } else {
          w0 = gatherN(wc, wStride, cnt);
          w1 = gatherN(wc + 4, wStride, cnt);
          w2 = gatherN(wc + 8, wStride, cnt);
          w3 = gatherN(wc + 12, wStride, cnt);
          h0 = gatherN(st, stStride, cnt);
          h1 = gatherN(st + 4, stStride, cnt);
          h2 = gatherN(st + 8, stStride, cnt);
        }
        for (let t = 0; t < T; t++) {
          const o = <usize>t * rowBytes;
          const xt = loadN(xs + o, cnt);
          let acc = f32x4.add(bv, f32x4.mul(w0, h0));
          acc = f32x4.add(acc, f32x4.mul(w1, h1));
          acc = f32x4.add(acc, f32x4.mul(w2, h2));
          acc = f32x4.add(acc, f32x4.mul(w3, xt));
          storeN(ys + o, silu ? siluv(acc) : acc, cnt);
          h0 = h1;
          h1 = h2;
          h2 = xt;
        }
        if (cnt == 4) {
          v128.store(st, f32x4.shuffle(f32x4.shuffle(h0, h1, 0, 4, 1, 1), h2, 0, 1, 4, 2));
          v128.store(st, f32x4.shuffle(f32x4.shuffle(h1, h2, 1, 5, 2, 2), h0, 0, 1, 6, 2), 16);
          v128.store(st, f32x4.shuffle(h2, f32x4.shuffle(h0, h1, 3, 7, 3, 3), 2, 4, 5, 3), 32);
        } else {
          scatterN(st, stStride, h0, cnt);
          scatterN(st + 4, stStride, h1, cnt);
          scatterN(st + 8, stStride, h2, cnt);
        }
      } else {
        for (let t = 0; t < T; t++) {
          let acc = bv;
          for (let k = 0; k < K; k++) {
            const j = t + k; // index into s = state ++ x
            const win = j < hist
              ? gatherN(st + (<usize>j << 2), stStride, cnt)
              : loadN(xs + <usize>(j - hist) * rowBytes, cnt);
            acc = f32x4.add(acc, f32x4.mul(gatherN(wc + (<usize>k << 2), wStride, cnt), win));
          }
          storeN(ys + <usize>t * rowBytes, silu ? siluv(acc) : acc, cnt);
        }
        // new state[k] = s[T + k]; T + k ≥ k, so reading old state forward in place is safe.
        for (let k = 0; k < hist; k++) {
          const j = T + k;
          const v = j < hist
            ? gatherN(st + (<usize>j << 2), stStride, cnt)
            : loadN(xs + <usize>(j - hist) * rowBytes, cnt);
          scatterN(st + (<usize>k << 2), stStride, v, cnt);
        }
      }
    }
    idx += cEnd - cStart;
  }
}
