// Benchmark-only variant of selectiveScan (not built into kernels-as.wasm): vectorized across
// 4 channels instead of across the state dim N, to compare the two layouts
// (wasm/as/bench/bench-scan-variants.mjs). Same arguments and results as selectiveScan up to
// rounding (the C·h sum runs in n order here).
import { loadN, storeN, gatherN, scatterN, expDecayV, softplusv, siluv } from '../simd';

export function selectiveScan4ch(
  x: usize, dt: usize, dtBias: usize, A: usize, Bm: usize, Cm: usize, D: usize, z: usize,
  state: usize, y: usize, B: i32, T: i32, I: i32, N: i32, c0: i32, c1: i32,
): void {
  const rowBytes = <usize>I << 2;
  const nBytes = <usize>N << 2;
  let idx = c0;
  while (idx < c1) {
    const b = idx / I;
    const iStart = idx - b * I;
    const iEnd = min(I, iStart + (c1 - idx));
    for (let i = iStart; i < iEnd; i += 4) {
      const cnt = min(4, iEnd - i);
      const io = <usize>i << 2;
      const hp = state + <usize>(b * I + i) * nBytes;
      const ap = A + <usize>i * nBytes;
      const bias = loadN(dtBias + io, cnt);
      const dI = loadN(D + io, cnt);
      const row0 = <usize>b * <usize>T * rowBytes + io;
      const bc0 = Bm + <usize>b * <usize>T * nBytes;
      const cc0 = Cm + <usize>b * <usize>T * nBytes;
      if (N == 16) {
        let h0 = gatherN(hp + 0, nBytes, cnt); const a0 = gatherN(ap + 0, nBytes, cnt);
        let h1 = gatherN(hp + 4, nBytes, cnt); const a1 = gatherN(ap + 4, nBytes, cnt);
        let h2 = gatherN(hp + 8, nBytes, cnt); const a2 = gatherN(ap + 8, nBytes, cnt);
        let h3 = gatherN(hp + 12, nBytes, cnt); const a3 = gatherN(ap + 12, nBytes, cnt);
        let h4 = gatherN(hp + 16, nBytes, cnt); const a4 = gatherN(ap + 16, nBytes, cnt);
        let h5 = gatherN(hp + 20, nBytes, cnt); const a5 = gatherN(ap + 20, nBytes, cnt);
        let h6 = gatherN(hp + 24, nBytes, cnt); const a6 = gatherN(ap + 24, nBytes, cnt);
        let h7 = gatherN(hp + 28, nBytes, cnt); const a7 = gatherN(ap + 28, nBytes, cnt);
        let h8 = gatherN(hp + 32, nBytes, cnt); const a8 = gatherN(ap + 32, nBytes, cnt);
        let h9 = gatherN(hp + 36, nBytes, cnt); const a9 = gatherN(ap + 36, nBytes, cnt);
        let h10 = gatherN(hp + 40, nBytes, cnt); const a10 = gatherN(ap + 40, nBytes, cnt);
        let h11 = gatherN(hp + 44, nBytes, cnt); const a11 = gatherN(ap + 44, nBytes, cnt);
        let h12 = gatherN(hp + 48, nBytes, cnt); const a12 = gatherN(ap + 48, nBytes, cnt);
        let h13 = gatherN(hp + 52, nBytes, cnt); const a13 = gatherN(ap + 52, nBytes, cnt);
        let h14 = gatherN(hp + 56, nBytes, cnt); const a14 = gatherN(ap + 56, nBytes, cnt);
        let h15 = gatherN(hp + 60, nBytes, cnt); const a15 = gatherN(ap + 60, nBytes, cnt);
        for (let t = 0; t < T; t++) {
          const o = row0 + <usize>t * rowBytes;
          const xv = loadN(x + o, cnt);
          const dv = softplusv(f32x4.add(loadN(dt + o, cnt), bias));
          const dx = f32x4.mul(dv, xv);
          const bo = bc0 + (<usize>t << 6);
          const co = cc0 + (<usize>t << 6);
          let acc = f32x4.splat(0);
          h0 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a0)), h0), f32x4.mul(dx, v128.load32_splat(bo, 0)));
          acc = f32x4.add(acc, f32x4.mul(h0, v128.load32_splat(co, 0)));
          h1 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a1)), h1), f32x4.mul(dx, v128.load32_splat(bo, 4)));
          acc = f32x4.add(acc, f32x4.mul(h1, v128.load32_splat(co, 4)));
          h2 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a2)), h2), f32x4.mul(dx, v128.load32_splat(bo, 8)));
          acc = f32x4.add(acc, f32x4.mul(h2, v128.load32_splat(co, 8)));
          h3 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a3)), h3), f32x4.mul(dx, v128.load32_splat(bo, 12)));
          acc = f32x4.add(acc, f32x4.mul(h3, v128.load32_splat(co, 12)));
          h4 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a4)), h4), f32x4.mul(dx, v128.load32_splat(bo, 16)));
          acc = f32x4.add(acc, f32x4.mul(h4, v128.load32_splat(co, 16)));
          h5 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a5)), h5), f32x4.mul(dx, v128.load32_splat(bo, 20)));
          acc = f32x4.add(acc, f32x4.mul(h5, v128.load32_splat(co, 20)));
          h6 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a6)), h6), f32x4.mul(dx, v128.load32_splat(bo, 24)));
          acc = f32x4.add(acc, f32x4.mul(h6, v128.load32_splat(co, 24)));
          h7 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a7)), h7), f32x4.mul(dx, v128.load32_splat(bo, 28)));
          acc = f32x4.add(acc, f32x4.mul(h7, v128.load32_splat(co, 28)));
          h8 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a8)), h8), f32x4.mul(dx, v128.load32_splat(bo, 32)));
          acc = f32x4.add(acc, f32x4.mul(h8, v128.load32_splat(co, 32)));
          h9 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a9)), h9), f32x4.mul(dx, v128.load32_splat(bo, 36)));
          acc = f32x4.add(acc, f32x4.mul(h9, v128.load32_splat(co, 36)));
          h10 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a10)), h10), f32x4.mul(dx, v128.load32_splat(bo, 40)));
          acc = f32x4.add(acc, f32x4.mul(h10, v128.load32_splat(co, 40)));
          h11 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a11)), h11), f32x4.mul(dx, v128.load32_splat(bo, 44)));
          acc = f32x4.add(acc, f32x4.mul(h11, v128.load32_splat(co, 44)));
          h12 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a12)), h12), f32x4.mul(dx, v128.load32_splat(bo, 48)));
          acc = f32x4.add(acc, f32x4.mul(h12, v128.load32_splat(co, 48)));
          h13 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a13)), h13), f32x4.mul(dx, v128.load32_splat(bo, 52)));
          acc = f32x4.add(acc, f32x4.mul(h13, v128.load32_splat(co, 52)));
          h14 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a14)), h14), f32x4.mul(dx, v128.load32_splat(bo, 56)));
          acc = f32x4.add(acc, f32x4.mul(h14, v128.load32_splat(co, 56)));
          h15 = f32x4.add(f32x4.mul(expDecayV(f32x4.mul(dv, a15)), h15), f32x4.mul(dx, v128.load32_splat(bo, 60)));
          acc = f32x4.add(acc, f32x4.mul(h15, v128.load32_splat(co, 60)));
          storeN(y + o, f32x4.mul(f32x4.add(acc, f32x4.mul(dI, xv)), siluv(loadN(z + o, cnt))), cnt);
        }
        scatterN(hp + 0, nBytes, h0, cnt);
        scatterN(hp + 4, nBytes, h1, cnt);
        scatterN(hp + 8, nBytes, h2, cnt);
        scatterN(hp + 12, nBytes, h3, cnt);
        scatterN(hp + 16, nBytes, h4, cnt);
        scatterN(hp + 20, nBytes, h5, cnt);
        scatterN(hp + 24, nBytes, h6, cnt);
        scatterN(hp + 28, nBytes, h7, cnt);
        scatterN(hp + 32, nBytes, h8, cnt);
        scatterN(hp + 36, nBytes, h9, cnt);
        scatterN(hp + 40, nBytes, h10, cnt);
        scatterN(hp + 44, nBytes, h11, cnt);
        scatterN(hp + 48, nBytes, h12, cnt);
        scatterN(hp + 52, nBytes, h13, cnt);
        scatterN(hp + 56, nBytes, h14, cnt);
        scatterN(hp + 60, nBytes, h15, cnt);
      } else {
        for (let t = 0; t < T; t++) {
          const o = row0 + <usize>t * rowBytes;
          const xv = loadN(x + o, cnt);
          const dv = softplusv(f32x4.add(loadN(dt + o, cnt), bias));
          const dx = f32x4.mul(dv, xv);
          const bo = bc0 + <usize>t * nBytes;
          const co = cc0 + <usize>t * nBytes;
          let acc = f32x4.splat(0);
          for (let n = 0; n < N; n++) {
            const q = <usize>n << 2;
            const h = f32x4.add(
              f32x4.mul(expDecayV(f32x4.mul(dv, gatherN(ap + q, nBytes, cnt))), gatherN(hp + q, nBytes, cnt)),
              f32x4.mul(dx, v128.load32_splat(bo + q)),
            );
            scatterN(hp + q, nBytes, h, cnt);
            acc = f32x4.add(acc, f32x4.mul(h, v128.load32_splat(co + q)));
          }
          storeN(y + o, f32x4.mul(f32x4.add(acc, f32x4.mul(dI, xv)), siluv(loadN(z + o, cnt))), cnt);
        }
      }
    }
    idx += iEnd - iStart;
  }
}
