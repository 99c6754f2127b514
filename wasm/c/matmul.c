/*
 * Dense matrix multiply, y[r,m] = Σ_k x[r,k]·w[m,k] (+ bias[m]), for f32 and
 * f16 weights (ABI.md: matmul_f32 / matmul_f16). w is [M, K] row-major, so
 * both operands are contiguous along k and every output is a dot product.
 *
 * Accumulation is f32 in SIMD lanes (summed across lanes at the end), so the
 * order differs from the reference's sequential f64 sum: results agree to
 * ~1e-6 of the output's scale, not bit for bit. Each output is computed by the
 * same arithmetic whichever tile it lands in, so splitting the work range
 * never changes a result.
 *
 * Shape of the work (tile shapes measured with wasm/c/bench.mjs on V8 / x86-64,
 * which has 16 vector registers; bigger tiles spill and run slower):
 * - decode (rows = 1): memory bound. Each weight row is streamed exactly once;
 *   8 weight rows are walked together against one load of x (8 independent
 *   add chains), and their sums are reduced 4 to a vector store (gemv_f32;
 *   f16: gemv_f16_fast).
 * - prefill (rows > 1): compute bound. A register tile of 4 input rows × 2
 *   weight rows loads 6 vectors per 8 multiply-adds; weight rows are taken in
 *   blocks that stay in L2 while every input row passes over them, and the 4
 *   input rows of a tile stay in L1 while the block's weight rows pass.
 */
#include "kernels.h"

/* y[i·ldy + j] += Σ_{k<K} x[i·ldx + k] · w[j·ldw + k] for i < RX, j < NW.
 * RX and NW are compile-time constants at every call site, so the loops unroll
 * fully and acc[][] lives in registers. */
INLINE void tile_f32(const float *x, int ldx, const float *w, int ldw, float *y, int ldy, int K,
                     const int RX, const int NW) {
  v128_t acc[4][4];
  for (int i = 0; i < RX; i++)
    for (int j = 0; j < NW; j++) acc[i][j] = wasm_f32x4_splat(0);
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    v128_t wv[4];
    for (int j = 0; j < NW; j++) wv[j] = wasm_v128_load(w + j * ldw + k);
    for (int i = 0; i < RX; i++) {
      const v128_t xv = wasm_v128_load(x + i * ldx + k);
      for (int j = 0; j < NW; j++) acc[i][j] = wasm_f32x4_add(acc[i][j], wasm_f32x4_mul(xv, wv[j]));
    }
  }
  for (int i = 0; i < RX; i++) {
    float tail[4] = {0, 0, 0, 0}; /* K mod 4 leftovers, scalar */
    for (int kk = k; kk < K; kk++)
      for (int j = 0; j < NW; j++) tail[j] += x[i * ldx + kk] * w[j * ldw + kk];
    float *yi = y + i * ldy;
    if (NW == 4) {
      const v128_t s = wasm_f32x4_add(hsum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]),
                                      wasm_f32x4_make(tail[0], tail[1], tail[2], tail[3]));
      wasm_v128_store(yi, wasm_f32x4_add(wasm_v128_load(yi), s));
    } else {
      for (int j = 0; j < NW; j++) yi[j] += hsum(acc[i][j]) + tail[j];
    }
  }
}

/* y[r·ldy + j] += x[r,:K] · w[j,:K] for r < rows, j < n: the register tiles
 * over one block of weight rows (which the caller sized to stay in cache). */
static void gemm_block_f32(const float *x, int ldx, const float *w, int ldw, float *y, int ldy,
                           int rows, int K, int n) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) {
    int j = 0;
    for (; j + 2 <= n; j += 2) tile_f32(x + r * ldx, ldx, w + j * ldw, ldw, y + r * ldy + j, ldy, K, 4, 2);
    for (; j < n; j++) tile_f32(x + r * ldx, ldx, w + j * ldw, ldw, y + r * ldy + j, ldy, K, 4, 1);
  }
  for (; r < rows; r++) { /* decode, and the last rows % 4 of prefill: GEMV */
    int j = 0;
    for (; j + 4 <= n; j += 4) tile_f32(x + r * ldx, ldx, w + j * ldw, ldw, y + r * ldy + j, ldy, K, 1, 4);
    for (; j < n; j++) tile_f32(x + r * ldx, ldx, w + j * ldw, ldw, y + r * ldy + j, ldy, K, 1, 1);
  }
}

/* Decode GEMV tile: y[j] += x·w[j,:] for j < NW (NW ≤ 16). One load of x feeds NW weight rows,
 * each with its own accumulator: NW independent add chains. 8 rows (not 4) measured 1.08× in
 * cache (wasm/c/ab.mjs --shape 768,384); two accumulators per row or touching the next tile ahead
 * (as the q8_0 GEMV does) measured no better. For 16 rows see gemv_f32. */
INLINE void gemv_tile_f32(const float *x, const float *w, int ldw, float *y, int K, const int NW) {
  v128_t acc[16];
  for (int j = 0; j < NW; j++) acc[j] = wasm_f32x4_splat(0);
  int k = 0;
  for (; k + 4 <= K; k += 4) {
    const v128_t xv = wasm_v128_load(x + k);
    for (int j = 0; j < NW; j++) acc[j] = wasm_f32x4_add(acc[j], wasm_f32x4_mul(xv, wasm_v128_load(w + j * ldw + k)));
  }
  float tail[16] = {0}; /* K mod 4 leftovers, scalar */
  for (; k < K; k++)
    for (int j = 0; j < NW; j++) tail[j] += x[k] * w[j * ldw + k];
  for (int j0 = 0; j0 + 4 <= NW; j0 += 4) {
    const v128_t s = wasm_f32x4_add(hsum4(acc[j0], acc[j0 + 1], acc[j0 + 2], acc[j0 + 3]),
                                    wasm_f32x4_make(tail[j0], tail[j0 + 1], tail[j0 + 2], tail[j0 + 3]));
    wasm_v128_store(y + j0, wasm_f32x4_add(wasm_v128_load(y + j0), s));
  }
  for (int j = NW & ~3; j < NW; j++) y[j] += hsum(acc[j]) + tail[j];
}

/* A slice of at least this many weight bytes is streamed from memory, not found in cache. */
#define GEMV_STREAMED_BYTES (8 << 20)

/* Rows per tile: a slice streamed from memory (every matrix of a model larger than the caches, at
 * decode) goes 16 rows at a time — 16 weight streams in flight measured 1.10–1.13× 8 rows on
 * mamba-130m's decode GEMVs out of cache (513 MB a token; 12 rows 1.07×, 24 1.09×, 32 1.00×;
 * wasm/c/ab.mjs on a quiet 2-core Xeon host, 2026-12-06). In cache 16 accumulators spill
 * (0.55× at 1.2 MB, 0.96× at 4.7 MB), so smaller slices keep 8-row tiles. Each row's sum is
 * formed in the same order either way. */
static void gemv_f32(const float *x, const float *w, float *y, int K, int m0, int m1) {
  int m = m0;
  if ((long long)(m1 - m0) * K * 4 >= GEMV_STREAMED_BYTES)
    for (; m + 16 <= m1; m += 16) gemv_tile_f32(x, w + m * K, K, y + m, K, 16);
  for (; m + 8 <= m1; m += 8) gemv_tile_f32(x, w + m * K, K, y + m, K, 8);
  for (; m + 4 <= m1; m += 4) gemv_tile_f32(x, w + m * K, K, y + m, K, 4);
  for (; m < m1; m++) gemv_tile_f32(x, w + m * K, K, y + m, K, 1);
}

KERNEL(matmul_f32)(const float *x, const float *w, const float *bias, float *y,
                   int rows, int K, int M, int m0, int m1) {
  init_out(bias, y, rows, M, m0, m1);
  if (rows == 1) {
    gemv_f32(x, w, y, K, m0, m1); /* decode */
    return;
  }
  /* Weight rows per cache block: ~256 KiB of f32 (half of a 512 KiB L2), a multiple of 4. */
  int nb = ((1 << 16) / (K > 0 ? K : 1)) & ~3;
  if (nb < 4) nb = 4;
  for (int mb = m0; mb < m1; mb += nb)
    gemm_block_f32(x, K, w + mb * K, K, y + mb, M, rows, K, min_i(nb, m1 - mb));
}

/* ---- f16 weights ------------------------------------------------------------ */

/* Decode with f16 weights: widen on the fly, so each weight row is still read
 * once, at half the bytes of f32. The fast widening yields even and odd
 * elements (kernels.h), so x is split the same way (2 shuffles per 8 values,
 * shared by the 4 rows). Returns 1 without touching y if the fast path met an
 * Inf/NaN weight; the caller then reruns the tile with EXACT = 1. */
INLINE int gemv_tile_f16(const float *x, const uint16_t *w, int ldw, float *y, int K, const int NW, const int EXACT) {
  v128_t acc[4], flag = wasm_i16x8_splat(0);
  for (int j = 0; j < NW; j++) acc[j] = wasm_f32x4_splat(0);
  int k = 0;
  for (; k + 8 <= K; k += 8) {
    const v128_t x0 = wasm_v128_load(x + k), x1 = wasm_v128_load(x + k + 4);
    const v128_t xe = wasm_i32x4_shuffle(x0, x1, 0, 2, 4, 6), xo = wasm_i32x4_shuffle(x0, x1, 1, 3, 5, 7);
    for (int j = 0; j < NW; j++) {
      const v128_t h = wasm_v128_load(w + j * ldw + k);
      v128_t we, wo;
      if (EXACT) {
        we = f16_bits_to_f32(f16_even_bits(h));
        wo = f16_bits_to_f32(f16_odd_bits(h));
      } else {
        we = f16_bits_to_f32_fast(f16_even_bits(h));
        wo = f16_bits_to_f32_fast(f16_odd_bits(h));
        flag = f16_track_special(flag, h);
      }
      acc[j] = wasm_f32x4_add(acc[j], wasm_f32x4_add(wasm_f32x4_mul(we, xe), wasm_f32x4_mul(wo, xo)));
    }
  }
  if (!EXACT && f16_any_special(flag)) return 1;
  float tail[4] = {0, 0, 0, 0};
  for (; k < K; k++)
    for (int j = 0; j < NW; j++) tail[j] += x[k] * f16_to_f32(w[j * ldw + k]);
  if (NW == 4) {
    const v128_t s = wasm_f32x4_add(hsum4(acc[0], acc[1], acc[2], acc[3]), wasm_f32x4_make(tail[0], tail[1], tail[2], tail[3]));
    wasm_v128_store(y, wasm_f32x4_add(wasm_v128_load(y), s));
  } else {
    for (int j = 0; j < NW; j++) y[j] += hsum(acc[j]) + tail[j];
  }
  return 0;
}

/* Decode with f16 weights, the fast form. The widening above costs a multiply by 2^112 per
 * 4 weights; here that factor is moved out of the loop: x is scaled once per call by a power of
 * two 2^e (chosen from max|x| so that no product overflows and products that matter stay normal
 * f32), the weights' bit patterns — w·2^-112, exactly — multiply it as they are, and each
 * row's sum is multiplied back by 2^(112-e) (exact: powers of two). x is also stored
 * pre-split into even and odd elements per 8 (the order the widening yields), so the inner
 * loop per 8 weights and row is 1 load, 5 integer ops, 2 multiplies and 2 adds (+2 ops of the
 * Inf/NaN check). Rows are taken 8 at a time (8 accumulators: independent add chains). */
#define F16_XCHUNK 2048 /* floats of split x on the stack (8 KiB) */

/* MODE 0 (checked) returns 1 without touching y if the tile met an Inf/NaN weight (whose bit
 * pattern the plain shifts turn into a large finite value); the caller reruns the tile with
 * MODE 1 (exact), which fixes exponent 31 up to Inf/NaN and gives finite rows the very same
 * arithmetic. MODE 2 (matmul_f16_finite: the caller knows the matrix holds no Inf/NaN) skips
 * the check: the same arithmetic as MODE 0, 2 ops fewer per 8 weights (measured 1.08-1.2×). */
#define F16_CHECKED 0
#define F16_EXACT 1
#define F16_UNCHECKED 2
INLINE int gemv_tile_f16_scaled(const float *xs, const uint16_t *w, int ldw, float *y, int len, const int NW,
                                v128_t post1, v128_t post2, const int MODE) {
  v128_t acc[8], flag = wasm_i16x8_splat(0);
  for (int j = 0; j < NW; j++) acc[j] = wasm_f32x4_splat(0);
  for (int k = 0; k < len; k += 8) {
    const v128_t xe = wasm_v128_load(xs + k), xo = wasm_v128_load(xs + k + 4);
    for (int j = 0; j < NW; j++) {
      const v128_t h = wasm_v128_load(w + j * ldw + k);
      v128_t we = f16_even_bits(h), wo = f16_odd_bits(h);
      if (MODE == F16_EXACT) {
        we = f16_fix_special(we);
        wo = f16_fix_special(wo);
      } else if (MODE == F16_CHECKED) {
        flag = f16_track_special(flag, h);
      }
      acc[j] = wasm_f32x4_add(acc[j], wasm_f32x4_add(wasm_f32x4_mul(we, xe), wasm_f32x4_mul(wo, xo)));
    }
  }
  if (MODE == F16_CHECKED && f16_any_special(flag)) return 1;
  for (int j0 = 0; j0 + 4 <= NW; j0 += 4) {
    const v128_t s = wasm_f32x4_mul(wasm_f32x4_mul(hsum4(acc[j0], acc[j0 + 1], acc[j0 + 2], acc[j0 + 3]), post1), post2);
    wasm_v128_store(y + j0, wasm_f32x4_add(wasm_v128_load(y + j0), s));
  }
  for (int j = NW & ~3; j < NW; j++)
    y[j] += wasm_f32x4_extract_lane(wasm_f32x4_mul(wasm_f32x4_mul(wasm_f32x4_splat(hsum(acc[j])), post1), post2), 0);
  return 0;
}

/* 2^e as f32 bits, e in [-126, 127]. */
INLINE float pow2f(int e) {
  union { uint32_t u; float f; } v = { (uint32_t)(e + 127) << 23 };
  return v.f;
}

/* Returns 0 if it handled the call; 1 if x has no usable scale (all zero, Inf or NaN): the
 * caller then takes the exact path, whose arithmetic handles those. */
INLINE int gemv_f16_fast(const float *x, const uint16_t *w, float *y, int K, int m0, int m1, const int FINITE) {
  const int mode = FINITE ? F16_UNCHECKED : F16_CHECKED;
  const int K8 = K & ~7;
  /* max |x| over the part of x the fast loop reads, as an f32 exponent */
  uint32_t maxbits = 0;
  for (int k = 0; k < K8; k++) {
    union { float f; uint32_t u; } v = { x[k] };
    const uint32_t a = v.u & 0x7fffffffu;
    if (a > maxbits) maxbits = a;
  }
  if (maxbits == 0 || maxbits >= 0x7f800000u) return 1;
  const int ex = (int)(maxbits >> 23) - 127; /* max|x| < 2^(ex+1) */
  /* e: max|x|·2^e < 2^64, so a product with the largest |weight bits| (65504·2^-112 < 2^-96) is
   * < 2^-32 and a sum of up to 2^31 of them stays finite; products of x·w ≥ max|x|·2^-78 stay
   * normal f32 (smaller ones are ≥ 2^-78 below the largest input and vanish in the sum anyway). */
  int e = 63 - ex;
  if (e > 120) e = 120;
  if (e < -120) e = -120;
  const v128_t pre = wasm_f32x4_splat(pow2f(e));
  const v128_t post1 = wasm_f32x4_splat(pow2f(56)), post2 = wasm_f32x4_splat(pow2f(56 - e)); /* 2^(112-e) */
  float xs[F16_XCHUNK] __attribute__((aligned(16)));
  for (int k0 = 0; k0 < K8; k0 += F16_XCHUNK) {
    const int len = min_i(F16_XCHUNK, K8 - k0);
    for (int k = 0; k < len; k += 8) {
      const v128_t x0 = wasm_f32x4_mul(wasm_v128_load(x + k0 + k), pre), x1 = wasm_f32x4_mul(wasm_v128_load(x + k0 + k + 4), pre);
      wasm_v128_store(xs + k, wasm_i32x4_shuffle(x0, x1, 0, 2, 4, 6));
      wasm_v128_store(xs + k + 4, wasm_i32x4_shuffle(x0, x1, 1, 3, 5, 7));
    }
    const uint16_t *wk = w + k0;
    int m = m0;
    for (; m + 8 <= m1; m += 8)
      if (gemv_tile_f16_scaled(xs, wk + m * K, K, y + m, len, 8, post1, post2, mode))
        gemv_tile_f16_scaled(xs, wk + m * K, K, y + m, len, 8, post1, post2, F16_EXACT);
    for (; m + 4 <= m1; m += 4)
      if (gemv_tile_f16_scaled(xs, wk + m * K, K, y + m, len, 4, post1, post2, mode))
        gemv_tile_f16_scaled(xs, wk + m * K, K, y + m, len, 4, post1, post2, F16_EXACT);
    for (; m < m1; m++)
      if (gemv_tile_f16_scaled(xs, wk + m * K, K, y + m, len, 1, post1, post2, mode))
        gemv_tile_f16_scaled(xs, wk + m * K, K, y + m, len, 1, post1, post2, F16_EXACT);
  }
  if (K8 < K)
    for (int m = m0; m < m1; m++) {
      float s = 0;
      for (int k = K8; k < K; k++) s += x[k] * f16_to_f32(w[m * K + k]);
      y[m] += s;
    }
  return 0;
}

/* dst[i·ldd + k] = f32(src[i·lds + k]) for i < n, k < len (exact). */
static void widen_f16_rows(const uint16_t *src, int lds, float *dst, int ldd, int n, int len) {
  for (int i = 0; i < n; i++) {
    const uint16_t *s = src + i * lds;
    float *d = dst + i * ldd;
    int k = 0;
    for (; k + 8 <= len; k += 8) {
      v128_t lo, hi;
      load8_f16(s + k, &lo, &hi);
      wasm_v128_store(d + k, lo);
      wasm_v128_store(d + k + 4, hi);
    }
    for (; k < len; k++) d[k] = f16_to_f32(s[k]);
  }
}

/* Prefill with f16 weights: widen a block of weight rows once into an f32
 * buffer on this thread's stack (32 KiB of its 64 KiB), then run the f32 tiles
 * over it for every input row; long rows are split into k-chunks whose partial
 * sums accumulate into y. */
#define F16_BUF_FLOATS 8192
#define F16_KCHUNK 2048

INLINE void matmul_f16_any(const float *x, const uint16_t *w, const float *bias, float *y,
                           int rows, int K, int M, int m0, int m1, const int FINITE) {
  init_out(bias, y, rows, M, m0, m1);
  if (rows == 1 && !gemv_f16_fast(x, w, y, K, m0, m1, FINITE)) return;
  if (rows == 1) {
    int m = m0;
    for (; m + 4 <= m1; m += 4)
      if (gemv_tile_f16(x, w + m * K, K, y + m, K, 4, 0)) gemv_tile_f16(x, w + m * K, K, y + m, K, 4, 1);
    for (; m < m1; m++)
      if (gemv_tile_f16(x, w + m * K, K, y + m, K, 1, 0)) gemv_tile_f16(x, w + m * K, K, y + m, K, 1, 1);
    return;
  }
  float buf[F16_BUF_FLOATS] __attribute__((aligned(16)));
  const int kc = min_i(K, F16_KCHUNK);
  const int nb = (F16_BUF_FLOATS / (kc > 0 ? kc : 1)) & ~3; /* ≥ 4 since kc ≤ 2048 */
  for (int mb = m0; mb < m1; mb += nb) {
    const int n = min_i(nb, m1 - mb);
    for (int k0 = 0; k0 < K; k0 += kc) {
      const int len = min_i(kc, K - k0);
      widen_f16_rows(w + mb * K + k0, K, buf, kc, n, len);
      gemm_block_f32(x + k0, K, buf, kc, y + mb, M, rows, len, n);
    }
  }
}

KERNEL(matmul_f16)(const float *x, const uint16_t *w, const float *bias, float *y,
                   int rows, int K, int M, int m0, int m1) {
  matmul_f16_any(x, w, bias, y, rows, K, M, m0, m1, 0);
}

/* The same for a w known to hold no Inf/NaN half (the backend checks at upload with
 * f16_find_special): the decode path skips its per-tile check. Same results as matmul_f16 on
 * such a w, bit for bit; on a w with Inf/NaN its decode outputs are unspecified. */
KERNEL(matmul_f16_finite)(const float *x, const uint16_t *w, const float *bias, float *y,
                          int rows, int K, int M, int m0, int m1) {
  matmul_f16_any(x, w, bias, y, rows, K, M, m0, m1, 1);
}
