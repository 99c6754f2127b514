// The lineage's sequence kernels (wasm/ABI.md): one step of torch.nn.RNN / LSTM / GRU cells,
// S4D's diagonal LTI scan, and the GLU gate y = a·σ(g).
// Pointers are byte offsets into the shared memory; every kernel writes only inside its range.
import { loadN, storeN, hsum, expv } from './simd';

// Splat-loaded constants (see simd.ts: a splat load beats a rebuilt v128.const in V8).
const K = memory.data<f32>([
  1.0, //            0
  2.0, //            1
  0.625, //          2 tanh: polynomial below |x| = 0.625 (Cephes tanhf)
  -5.70498872745e-3, // 3 tanh polynomial p0 .. p4
  2.06390887954e-2, //  4
  -5.37397155531e-2, // 5
  1.33314422036e-1, //  6
  -3.33332819422e-1, // 7
  0.5, //            8
  0.7071067811865476, // 9 1/√2
  -1.26551223, //   10 erfc (Numerical Recipes erfcc, fractional error < 1.2e-7): c0 .. c9
  1.00002368, //    11
  0.37409196, //    12
  0.09678418, //    13
  -0.18628806, //   14
  0.27886807, //    15
  -1.13520398, //   16
  1.48851587, //    17
  -0.82215223, //   18
  0.17087277, //    19
  0.0, //           20
]);
@inline function kc(i: i32): v128 {
  return v128.load32_splat(K + (<usize>i << 2));
}

const SIGN: i32 = -2147483648; // the f32 sign bit

// ---- nonlinearities on f32x4 -----------------------------------------------------------------

/** σ(x) = 1 / (1 + exp(−x)). */
@inline export function sigmoidv(x: v128): v128 {
  return f32x4.div(kc(0), f32x4.add(kc(0), expv(f32x4.neg(x))));
}

/**
 * tanh: Cephes tanhf's odd polynomial for |x| < 0.625 (no cancellation near 0), else
 * 1 − 2/(exp(2|x|) + 1) with the sign of x. ≤ 2 ulp against Math.tanh.
 */
@inline export function tanhv(x: v128): v128 {
  const ax = f32x4.abs(x);
  const big = f32x4.sub(kc(0), f32x4.div(kc(1), f32x4.add(expv(f32x4.add(ax, ax)), kc(0))));
  const signed = v128.or(big, v128.and(x, i32x4.splat(SIGN)));
  const z = f32x4.mul(x, x);
  let p = f32x4.add(f32x4.mul(kc(3), z), kc(4));
  p = f32x4.add(f32x4.mul(p, z), kc(5));
  p = f32x4.add(f32x4.mul(p, z), kc(6));
  p = f32x4.add(f32x4.mul(p, z), kc(7));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), x), x);
  return v128.bitselect(small, signed, f32x4.lt(ax, kc(2)));
}

/** erfc(z) for any z (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7). */
@inline function erfcv(zz: v128): v128 {
  const z = f32x4.abs(zz);
  const t = f32x4.div(kc(0), f32x4.add(kc(0), f32x4.mul(kc(8), z)));
  let p = kc(19);
  p = f32x4.add(f32x4.mul(p, t), kc(18));
  p = f32x4.add(f32x4.mul(p, t), kc(17));
  p = f32x4.add(f32x4.mul(p, t), kc(16));
  p = f32x4.add(f32x4.mul(p, t), kc(15));
  p = f32x4.add(f32x4.mul(p, t), kc(14));
  p = f32x4.add(f32x4.mul(p, t), kc(13));
  p = f32x4.add(f32x4.mul(p, t), kc(12));
  p = f32x4.add(f32x4.mul(p, t), kc(11));
  p = f32x4.add(f32x4.mul(p, t), kc(10));
  const r = f32x4.mul(t, expv(f32x4.sub(p, f32x4.mul(z, z))));
  return v128.bitselect(f32x4.sub(kc(1), r), r, f32x4.lt(zz, kc(20)));
}

/** torch's exact GELU: x·Φ(x) = x/2 · erfc(−x/√2). */
@inline export function geluv(x: v128): v128 {
  return f32x4.mul(f32x4.mul(kc(8), x), erfcv(f32x4.neg(f32x4.mul(x, kc(9)))));
}

// ---- recurrent cells -------------------------------------------------------------------------

/**
 * The pointwise half of one time step of a recurrent layer, for the units b·H + j in [u0, u1)
 * (cell 0 rnn_tanh, 1 rnn_relu, 2 lstm, 3 gru; torch gate order LSTM i,f,g,o and GRU r,z,n).
 * The hidden-to-hidden product is already done (matmul): gates[b] = W_hh·h[b] + b_hh, [G·H].
 *   rnn:  hOut = act(x + g)
 *   lstm: i,f,o = σ(x + g), ĝ = tanh(x + g);  c ← f·c + i·ĝ;  hOut = o·tanh(c)   (h̃ when projected)
 *   gru:  r,z = σ(x + g);  n = tanh(x_n + r·g_n);  hOut = (1 − z)·n + z·hPrev
 * xg row b at xg + b·xgStride bytes ([G·H]: x·W_ihᵀ + b_ih of this token); gates [B, G·H];
 * hPrev [B, H] (gru only, else 0); c [B, H] (lstm only, in place, else 0); hOut [B, H].
 * Four units share a vector; every lane is computed alone, so any split gives the same bits.
 */
export function recurrentCell(
  xg: usize, xgStride: i32, gates: usize, hPrev: usize, c: usize, hOut: usize,
  H: i32, cell: i32, u0: i32, u1: i32,
): void {
  const G: i32 = cell == 2 ? 4 : cell == 3 ? 3 : 1;
  const blk = <usize>H << 2; // bytes of one gate block
  let u = u0;
  while (u < u1) {
    const b = u / H;
    const jStart = u - b * H;
    const jEnd = min(H, jStart + (u1 - u));
    const x = xg + <usize>b * <usize>xgStride;
    const g = gates + <usize>b * <usize>G * blk;
    const row = <usize>b * blk; // byte offset of row b in the [B, H] arrays
    for (let j = jStart; j < jEnd; j += 4) {
      const n = min(4, jEnd - j);
      const o = <usize>j << 2;
      if (cell == 2) {
        const i = sigmoidv(f32x4.add(loadN(x + o, n), loadN(g + o, n)));
        const f = sigmoidv(f32x4.add(loadN(x + blk + o, n), loadN(g + blk + o, n)));
        const gg = tanhv(f32x4.add(loadN(x + 2 * blk + o, n), loadN(g + 2 * blk + o, n)));
        const og = sigmoidv(f32x4.add(loadN(x + 3 * blk + o, n), loadN(g + 3 * blk + o, n)));
        const cn = f32x4.add(f32x4.mul(f, loadN(c + row + o, n)), f32x4.mul(i, gg));
        storeN(c + row + o, cn, n);
        storeN(hOut + row + o, f32x4.mul(og, tanhv(cn)), n);
      } else if (cell == 3) {
        const r = sigmoidv(f32x4.add(loadN(x + o, n), loadN(g + o, n)));
        const z = sigmoidv(f32x4.add(loadN(x + blk + o, n), loadN(g + blk + o, n)));
        const nn = tanhv(f32x4.add(loadN(x + 2 * blk + o, n), f32x4.mul(r, loadN(g + 2 * blk + o, n))));
        const hp = loadN(hPrev + row + o, n);
        storeN(hOut + row + o, f32x4.add(f32x4.mul(f32x4.sub(kc(0), z), nn), f32x4.mul(z, hp)), n);
      } else {
        const a = f32x4.add(loadN(x + o, n), loadN(g + o, n));
        storeN(hOut + row + o, cell == 0 ? tanhv(a) : f32x4.pmax(a, kc(20)), n);
      }
    }
    u += jEnd - jStart;
  }
}

// ---- S4D: diagonal LTI scan ------------------------------------------------------------------

/** Channels per block and tokens per block: x and y lines of a block stay in L1 across its channels. */
const CH_BLOCK: i32 = 16;
const T_BLOCK: i32 = 64;

/**
 * Per channel h and complex mode m (planar [re | im] rows of M):
 *   s ← dA·s + x[b,t,h];  y[b,t,h] = Re(Σ_m C·s) + D[h]·x[b,t,h];  y ← gelu(y) when gelu = 1
 * x, y [B, T, H]; dA, C [H, 2, M]; D [H]; state [B, H, 2, M] (in place). Range over b·H + h.
 * The modes are vectorized (four per f32x4, a zero-padded tail whose lanes contribute 0);
 * the GELU pass is vectorized over the block's channels.
 */
export function ltiScan(
  x: usize, dA: usize, C: usize, D: usize, state: usize, y: usize,
  B: i32, T: i32, H: i32, M: i32, gelu: i32, c0: i32, c1: i32,
): void {
  const rowBytes = <usize>H << 2;
  const mBytes = <usize>M << 2;
  let idx = c0;
  while (idx < c1) {
    const b = idx / H;
    const hStart = idx - b * H;
    const hEnd = min(H, hStart + (c1 - idx));
    for (let hb = hStart; hb < hEnd; hb += CH_BLOCK) {
      const he = min(hEnd, hb + CH_BLOCK);
      for (let tb = 0; tb < T; tb += T_BLOCK) {
        const te = min(T, tb + T_BLOCK);
        const rowBase = (<usize>b * <usize>T + <usize>tb) * rowBytes;
        for (let h = hb; h < he; h++) {
          const ar = dA + <usize>h * (mBytes << 1);
          const ai = ar + mBytes;
          const cr = C + <usize>h * (mBytes << 1);
          const ci = cr + mBytes;
          const sr = state + <usize>(b * H + h) * (mBytes << 1);
          const si = sr + mBytes;
          const dh = load<f32>(D + (<usize>h << 2));
          const hOff = <usize>h << 2;
          for (let t = 0; t < te - tb; t++) {
            const o = rowBase + <usize>t * rowBytes + hOff;
            const u = load<f32>(x + o);
            const uv = f32x4.splat(u);
            let acc = f32x4.splat(0);
            for (let m = 0; m < M; m += 4) {
              const q = <usize>m << 2;
              const n = M - m;
              const vr = loadN(ar + q, n), vi = loadN(ai + q, n);
              const s0 = loadN(sr + q, n), s1 = loadN(si + q, n);
              const nr = f32x4.add(f32x4.sub(f32x4.mul(vr, s0), f32x4.mul(vi, s1)), uv);
              const ni = f32x4.add(f32x4.mul(vr, s1), f32x4.mul(vi, s0));
              storeN(sr + q, nr, n);
              storeN(si + q, ni, n);
              acc = f32x4.add(acc, f32x4.sub(f32x4.mul(loadN(cr + q, n), nr), f32x4.mul(loadN(ci + q, n), ni)));
            }
            store<f32>(y + o, hsum(acc) + dh * u);
          }
        }
        if (gelu) {
          for (let t = tb; t < te; t++) {
            const ro = rowBase + <usize>(t - tb) * rowBytes;
            for (let h = hb; h < he; h += 4) {
              const n = he - h;
              const o = ro + (<usize>h << 2);
              storeN(y + o, geluv(loadN(y + o, n)), n);
            }
          }
        }
      }
    }
    idx += hEnd - hStart;
  }
}

// ---- GLU -------------------------------------------------------------------------------------

/** y[i] = a[i] · σ(g[i]) for i in [i0, i1). */
export function glu(a: usize, g: usize, y: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i << 2;
    const n = i1 - i;
    storeN(y + o, f32x4.mul(loadN(a + o, n), sigmoidv(loadN(g + o, n))), n);
  }
}
