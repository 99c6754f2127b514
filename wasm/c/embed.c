/*
 * Embedding gathers (ABI.md: embed_f32 / embed_f16 / embed_q8_0) and the f32 → f16
 * conversion (f32_to_f16). y[i, :] = table[ids[i], :] widened to f32, for tokens
 * i in [i0, i1). Ids are validated by the caller (the reference backend throws
 * E_TOKEN for ids outside the vocabulary); a kernel has no way to report errors.
 * All three are exact: f16 and q8_0 values (d·q, an 11-bit × 8-bit product) are
 * f32 values.
 */
#include "kernels.h"

KERNEL(embed_f32)(const float *table, const int32_t *ids, float *y, int n, int D, int i0, int i1) {
  (void)n;
  for (int i = i0; i < i1; i++) {
    const float *src = table + (unsigned)ids[i] * (unsigned)D;
    float *dst = y + i * D;
    int d = 0;
    for (; d + 4 <= D; d += 4) wasm_v128_store(dst + d, wasm_v128_load(src + d));
    for (; d < D; d++) dst[d] = src[d];
  }
}

KERNEL(embed_f16)(const uint16_t *table, const int32_t *ids, float *y, int n, int D, int i0, int i1) {
  (void)n;
  for (int i = i0; i < i1; i++) {
    const uint16_t *src = table + (unsigned)ids[i] * (unsigned)D;
    float *dst = y + i * D;
    int d = 0;
    for (; d + 8 <= D; d += 8) {
      v128_t lo, hi;
      load8_f16(src + d, &lo, &hi);
      wasm_v128_store(dst + d, lo);
      wasm_v128_store(dst + d + 4, hi);
    }
    for (; d < D; d++) dst[d] = f16_to_f32(src[d]);
  }
}

/* Rows of D/32 block_q8_0 (D a multiple of 32): y = f32(d)·q. */
KERNEL(embed_q8_0)(const uint8_t *table, const int32_t *ids, float *y, int n, int D, int i0, int i1) {
  (void)n;
  const unsigned row_bytes = (unsigned)(D / QK8_0) * Q8_0_BYTES;
  for (int i = i0; i < i1; i++) {
    const uint8_t *row = table + (unsigned)ids[i] * row_bytes;
    float *dst = y + i * D;
    for (int b = 0; b < D / QK8_0; b++) {
      const uint8_t *blk = row + b * Q8_0_BYTES;
      const v128_t d = wasm_f32x4_splat(f16_to_f32(*(const uint16_t *)blk));
      for (int h = 0; h < 2; h++) {
        const v128_t q8 = wasm_v128_load(blk + 2 + 16 * h);
        const v128_t q16[2] = {wasm_i16x8_extend_low_i8x16(q8), wasm_i16x8_extend_high_i8x16(q8)};
        for (int e = 0; e < 2; e++) {
          float *o = dst + b * QK8_0 + 16 * h + 8 * e;
          wasm_v128_store(o, wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(q16[e]))));
          wasm_v128_store(o + 4, wasm_f32x4_mul(d, wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(q16[e]))));
        }
      }
    }
  }
}

/* dst[i] = f32 value of the f16 bits src[i] (exact, Inf/NaN kept), i in [i0, i1): the loader
 * widens F16 checkpoint tensors here rather than in JavaScript. */
KERNEL(widen_f16)(const uint16_t *src, float *dst, int n, int i0, int i1) {
  (void)n;
  int i = i0;
  for (; i + 8 <= i1; i += 8) {
    v128_t lo, hi;
    load8_f16(src + i, &lo, &hi);
    wasm_v128_store(dst + i, lo);
    wasm_v128_store(dst + i + 4, hi);
  }
  for (; i < i1; i++) dst[i] = f16_to_f32(src[i]);
}

/* out[0] = 1 if any of the n halves at src is Inf or NaN (exponent 31), else 0. One work item:
 * the range is [0, 1) (the whole scan is a fraction of a conversion; no need to split). */
KERNEL(f16_find_special)(const uint16_t *src, int32_t *out, int n, int i0, int i1) {
  if (i0 >= i1) return;
  v128_t flag = wasm_i16x8_splat(0);
  int i = 0;
  for (; i + 8 <= n; i += 8) flag = f16_track_special(flag, wasm_v128_load(src + i));
  int any = f16_any_special(flag);
  for (; i < n; i++) any |= (src[i] & 0x7c00) == 0x7c00;
  out[0] = any;
}

/* dst[i] = f16 bits of src[i] (round to nearest even), i in [i0, i1). */
KERNEL(f32_to_f16)(const float *src, uint16_t *dst, int n, int i0, int i1) {
  (void)n;
  int i = i0;
  for (; i + 8 <= i1; i += 8) {
    const v128_t lo = f32x4_to_f16lo(wasm_v128_load(src + i));
    const v128_t hi = f32x4_to_f16lo(wasm_v128_load(src + i + 4));
    /* values fit in 16 bits, so the saturating unsigned narrow just packs them */
    wasm_v128_store(dst + i, wasm_u16x8_narrow_i32x4(lo, hi));
  }
  for (; i < i1; i++) dst[i] = f32_to_f16_1(src[i]);
}
