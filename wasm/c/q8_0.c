/*
 * q8_0: GGUF's 8-bit block format (ABI.md: quantize_q8_0, matmul_q8_0).
 *
 * block_q8_0 (ggml-common.h) = { ggml_half d; int8_t qs[32]; }, value j = d·qs[j].
 * Quantization follows ggml-quants.c quantize_row_q8_0_ref, the reference that
 * GGUF files are written with:
 *     amax = max_j |x_j|;  d = amax / 127;  id = d ? 1/d : 0;
 *     qs_j = roundf(x_j · id);   d is stored as f16 (round to nearest even)
 * (all in f32; roundf rounds halves away from zero; q is computed with the f32
 * d, before d is rounded to f16).
 *
 * matmul_q8_0 does what llama.cpp's CPU backend does for q8_0 weights
 * (ggml_vec_dot_q8_0_q8_0): the activations x are quantized per 32-block to
 * int8 the same way, each block pair is an exact integer dot product, and
 * y = Σ_blocks d_w·d_x·Σ_j qw_j·qx_j. One difference: x's scale d_x is kept in
 * f32 rather than rounded to f16 (it never leaves this kernel, so there is no
 * format to match, and it is strictly more accurate).
 *
 * WebAssembly SIMD128 has no 8-bit dot product (that is relaxed SIMD, not in
 * Node 20), so int8 is widened to int16 and i32x4.dot_i16x8_s does 8
 * multiplies and 4 pairwise adds per instruction. x is stored widened to int16
 * once, so only the weights are widened in the inner loop.
 */
#include "kernels.h"

/* C's roundf: nearest, halves away from zero (f32x4.nearest would round
 * halves to even, which differs from ggml on exact .5 ties). */
INLINE v128_t round_half_away(v128_t v) {
  const v128_t t = wasm_f32x4_trunc(v);
  const v128_t frac = wasm_f32x4_abs(wasm_f32x4_sub(v, t)); /* exact */
  const v128_t one = wasm_v128_or(wasm_f32x4_splat(1.0f), wasm_v128_and(v, wasm_i32x4_splat((int32_t)0x80000000)));
  return wasm_f32x4_add(t, wasm_v128_and(one, wasm_f32x4_ge(frac, wasm_f32x4_splat(0.5f))));
}

/* One 32-value block: q[0..32) as int32 in 8 vectors, returns d (f32). */
INLINE float quantize_block(const float *x, v128_t q[8]) {
  v128_t amax = wasm_f32x4_splat(0);
  for (int i = 0; i < 8; i++) amax = wasm_f32x4_max(amax, wasm_f32x4_abs(wasm_v128_load(x + 4 * i)));
  amax = wasm_f32x4_max(amax, wasm_i32x4_shuffle(amax, amax, 2, 3, 0, 1));
  amax = wasm_f32x4_max(amax, wasm_i32x4_shuffle(amax, amax, 1, 0, 3, 2));
  const float d = wasm_f32x4_extract_lane(amax, 0) / 127.0f;
  const v128_t id = wasm_f32x4_splat(d != 0.0f ? 1.0f / d : 0.0f);
  for (int i = 0; i < 8; i++)
    q[i] = wasm_i32x4_trunc_sat_f32x4(round_half_away(wasm_f32x4_mul(wasm_v128_load(x + 4 * i), id)));
  return d;
}

KERNEL(quantize_q8_0)(const float *src, uint8_t *dst, int nblocks, int b0, int b1) {
  (void)nblocks; /* the range alone says which blocks to write */
  for (int b = b0; b < b1; b++) {
    v128_t q[8];
    const float d = quantize_block(src + b * QK8_0, q);
    uint8_t *blk = dst + (unsigned)b * Q8_0_BYTES;
    *(uint16_t *)blk = f32_to_f16_1(d); /* d at offset 34·b: always 2-byte aligned */
    /* int32 → int16 → int8 with saturating narrows (values are within ±127). */
    for (int h = 0; h < 2; h++) {
      const v128_t lo = wasm_i16x8_narrow_i32x4(q[4 * h + 0], q[4 * h + 1]);
      const v128_t hi = wasm_i16x8_narrow_i32x4(q[4 * h + 2], q[4 * h + 3]);
      wasm_v128_store(blk + 2 + 16 * h, wasm_i8x16_narrow_i16x8(lo, hi));
    }
  }
}

/* ---- matmul ------------------------------------------------------------------ */

/* Quantize one row x[0..len) (len a multiple of 32) for the dot: int16 values
 * into xq, one f32 scale per block into xd. */
static void quantize_row_x(const float *x, int len, int16_t *xq, float *xd) {
  for (int b = 0; b < len / QK8_0; b++) {
    v128_t q[8];
    xd[b] = quantize_block(x + b * QK8_0, q);
    for (int i = 0; i < 4; i++) wasm_v128_store(xq + b * QK8_0 + 8 * i, wasm_i16x8_narrow_i32x4(q[2 * i], q[2 * i + 1]));
  }
}

/* Integer dot of one weight block's 32 int8 (at wq) with 32 int16 (at xq):
 * 4 partial sums in an i32x4 (exact: |Σ| ≤ 8·127·127 per lane). */
INLINE v128_t dot_block(const int8_t *wq, const int16_t *xq) {
  const v128_t a = wasm_v128_load(wq), b = wasm_v128_load(wq + 16);
  v128_t s = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(a), wasm_v128_load(xq));
  s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(a), wasm_v128_load(xq + 8)));
  s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(b), wasm_v128_load(xq + 16)));
  s = wasm_i32x4_add(s, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(b), wasm_v128_load(xq + 24)));
  return s;
}

/* Pairwise step of a 4×4 transpose-add: lanes (a0+a2, a1+a3, b0+b2, b1+b3). */
INLINE v128_t pair_i32(v128_t a, v128_t b) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}

INLINE uint16_t block_d(const uint8_t *w, int b) { return *(const uint16_t *)(w + b * Q8_0_BYTES); }

/* y[i·ldy + j] += Σ_b dw[j,b]·dx[i,b]·(qw[j,b]·qx[i,b]) for i < RX input rows and
 * 4 weight rows j. Per block, the 4 weight rows' integer sums are transposed
 * into one vector (lane j = row j), so the scales are applied as one vector
 * multiply and the 4 outputs come out as one vector: no per-row reductions.
 * The 4 rows are contiguous (4·34·nblk bytes); `ahead` is the next tile's start,
 * touched at the rate this tile consumes (136 bytes = 2+ lines per block). */
INLINE void tile_q8_x4(const int16_t *xq, const float *xd, int ldq, int ldd,
                       const uint8_t *w, int ldw, float *y, int ldy, int nblk, const int RX,
                       const uint8_t *ahead) {
  v128_t acc[4];
  for (int i = 0; i < RX; i++) acc[i] = wasm_f32x4_splat(0);
  for (int b = 0; b < nblk; b++) {
    touch(ahead + b * 4 * Q8_0_BYTES);
    touch(ahead + b * 4 * Q8_0_BYTES + 64);
    /* the 4 rows' f16 scales, widened in one go */
    const v128_t dw = f16_bits_to_f32(f16_even_bits(wasm_i32x4_make(block_d(w, b), block_d(w + ldw, b),
                                                                    block_d(w + 2 * ldw, b), block_d(w + 3 * ldw, b))));
    for (int i = 0; i < RX; i++) {
      const int16_t *xb = xq + i * ldq + b * QK8_0;
      const int8_t *wb = (const int8_t *)(w + b * Q8_0_BYTES + 2);
      const v128_t s01 = pair_i32(dot_block(wb, xb), dot_block(wb + ldw, xb));
      const v128_t s23 = pair_i32(dot_block(wb + 2 * ldw, xb), dot_block(wb + 3 * ldw, xb));
      const v128_t s = wasm_i32x4_add(wasm_i32x4_shuffle(s01, s23, 0, 2, 4, 6), wasm_i32x4_shuffle(s01, s23, 1, 3, 5, 7));
      const v128_t scale = wasm_f32x4_mul(dw, wasm_f32x4_splat(xd[i * ldd + b]));
      acc[i] = wasm_f32x4_add(acc[i], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(s), scale));
    }
  }
  for (int i = 0; i < RX; i++) wasm_v128_store(y + i * ldy, wasm_f32x4_add(wasm_v128_load(y + i * ldy), acc[i]));
}

/* One weight row (the range's leftover 0..3 rows), one input row. Same
 * arithmetic per output as a lane of tile_q8_x4 (exact integer block sum, then
 * f32 scale and accumulate), so results do not depend on how the range is split. */
static void dot_q8_x1(const int16_t *xq, const float *xd, const uint8_t *w, float *y, int nblk) {
  float acc = 0.0f;
  for (int b = 0; b < nblk; b++) {
    v128_t s = dot_block((const int8_t *)(w + b * Q8_0_BYTES + 2), xq + b * QK8_0);
    s = wasm_i32x4_add(s, wasm_i32x4_shuffle(s, s, 2, 3, 0, 1));
    s = wasm_i32x4_add(s, wasm_i32x4_shuffle(s, s, 1, 0, 3, 2));
    acc += (float)wasm_i32x4_extract_lane(s, 0) * (f16_to_f32(block_d(w, b)) * xd[b]);
  }
  *y += acc;
}

/* Input rows per register tile (4: measured best; 1 and 2 are 35% and 15%
 * slower at prefill) — their int16 copies share one stack buffer of
 * Q8_ROWS × Q8_KCHUNK × 2 bytes = 16 KiB — and the k-chunk for long rows. */
#define Q8_ROWS 4
#define Q8_KCHUNK 2048

KERNEL(matmul_q8_0)(const float *x, const uint8_t *w, const float *bias, float *y,
                    int rows, int K, int M, int m0, int m1) {
  init_out(bias, y, rows, M, m0, m1);
  if (K < QK8_0) return; /* K is a positive multiple of 32 (ABI.md); nothing to add otherwise */
  int16_t xq[Q8_ROWS * Q8_KCHUNK] __attribute__((aligned(16)));
  float xd[Q8_ROWS * Q8_KCHUNK / QK8_0];
  const unsigned row_bytes = (unsigned)(K / QK8_0) * Q8_0_BYTES;
  const int kc = min_i(K, Q8_KCHUNK);
  /* Weight rows per block: ~256 KiB, so the block stays in L2 while all input
   * rows pass over it (x is re-quantized per block: ≤ 1% extra work). */
  const int nb = rows == 1 ? m1 - m0 : (int)((256u << 10) / row_bytes + 4) & ~3;
  for (int mb = m0; mb < m1; mb += nb) {
    const int me = min_i(mb + nb, m1);
    for (int r0 = 0; r0 < rows; r0 += Q8_ROWS) {
      const int nr = min_i(Q8_ROWS, rows - r0);
      for (int k0 = 0; k0 < K; k0 += kc) {
        const int len = min_i(kc, K - k0), nblk = len / QK8_0;
        for (int i = 0; i < nr; i++) quantize_row_x(x + (r0 + i) * K + k0, len, xq + i * kc, xd + i * (kc / QK8_0));
        const uint8_t *wk = w + (unsigned)k0 / QK8_0 * Q8_0_BYTES;
        float *yr = y + r0 * M;
        int m = mb;
        for (; m + 4 <= me; m += 4) {
          const uint8_t *wm = wk + (unsigned)m * row_bytes;
          const uint8_t *ahead = m + 8 <= me ? wm + 4 * row_bytes : wm; /* never past the range */
          if (nr == Q8_ROWS) tile_q8_x4(xq, xd, kc, kc / QK8_0, wm, row_bytes, yr + m, M, nblk, Q8_ROWS, ahead);
          else for (int i = 0; i < nr; i++)
            tile_q8_x4(xq + i * kc, xd + i * (kc / QK8_0), kc, kc / QK8_0, wm, row_bytes, yr + i * M + m, M, nblk, 1, ahead);
        }
        for (; m < me; m++)
          for (int i = 0; i < nr; i++)
            dot_q8_x1(xq + i * kc, xd + i * (kc / QK8_0), wk + (unsigned)m * row_bytes, yr + i * M + m, nblk);
      }
    }
  }
}
