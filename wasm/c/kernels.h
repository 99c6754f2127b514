/*
 * Shared helpers for the C kernels (see wasm/ABI.md for the contract).
 *
 * Everything here is freestanding: no libc, no allocation. Pointers are byte
 * offsets into the one shared WebAssembly.Memory that JavaScript owns; the
 * only memory a kernel owns is its thread's 64 KiB C stack.
 */
#ifndef MAMBA_EDGE_KERNELS_H
#define MAMBA_EDGE_KERNELS_H

#include <stdint.h>
#include <wasm_simd128.h>

/* Export under an explicit name: clang defaults wasm symbols to hidden
 * visibility, so this (not --export-dynamic) is what makes a kernel visible. */
#define KERNEL(name) __attribute__((export_name(#name))) void name
#define INLINE static inline __attribute__((always_inline))

INLINE int min_i(int a, int b) { return a < b ? a : b; }

/* Read one byte at p and drop it: WebAssembly has no prefetch instruction, so
 * the q8_0 GEMV touches the weight tile it will need next, one cache line per
 * block it consumes now. The miss then overlaps the current tile's arithmetic
 * instead of stalling it (measured: 2× on a 41 MB q8_0 GEMV; f32 and f16 gain
 * nothing, so they do not touch). volatile keeps the load from being removed. */
INLINE void touch(const void *p) { (void)*(volatile const uint8_t *)p; }

/* y[r, m0..m1) = bias[m0..m1) (or 0 when bias is 0), for every row: the
 * matmul kernels then accumulate into y, possibly in several k-chunks. */
INLINE void init_out(const float *bias, float *y, int rows, int M, int m0, int m1) {
  for (int r = 0; r < rows; r++)
    for (int m = m0; m < m1; m++) y[r * M + m] = bias ? bias[m] : 0.0f;
}

/* ---- horizontal sums ------------------------------------------------------ */

INLINE float hsum(v128_t v) {
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

/* Four vectors in, one vector of their four horizontal sums out
 * (a 4×4 transpose folded into the adds: 4 shuffles + 3 adds, not 4 hsums). */
INLINE v128_t hsum4(v128_t a, v128_t b, v128_t c, v128_t d) {
  v128_t ab = wasm_f32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
  v128_t cd = wasm_f32x4_add(wasm_i32x4_shuffle(c, d, 0, 1, 4, 5), wasm_i32x4_shuffle(c, d, 2, 3, 6, 7));
  return wasm_f32x4_add(wasm_i32x4_shuffle(ab, cd, 0, 2, 4, 6), wasm_i32x4_shuffle(ab, cd, 1, 3, 5, 7));
}

/* ---- f16 <-> f32 ---------------------------------------------------------- */
/*
 * WebAssembly SIMD128 has no half-precision lanes, so halves are converted with
 * integer bit manipulation, 8 at a time (one v128 of halves).
 *
 * Widening: a half h = s|eeeee|mmmmmmmmmm moved into f32 position (sign at bit
 * 31, exponent and mantissa shifted left by 13) is, read as an f32, exactly
 * h's value × 2^-112 — for normals (the exponent is off by the bias difference
 * 127 − 15 = 112) and for subnormals alike (the pattern is then an f32
 * subnormal, m·2^-136). One f32 multiply by 2^112 therefore widens normals,
 * subnormals and ±0 exactly (WebAssembly arithmetic is IEEE with subnormals; an
 * f16-subnormal weight makes the CPU take a slower path for that multiply, which
 * costs nothing measurable at real weight distributions). Only exponent 31
 * (±Inf, NaN) needs a fix-up, which the exact variant applies per vector and the
 * GEMV fast path replaces with a cheap "any such half?" check per tile.
 *
 * Moving into position needs no shuffles: viewed as i32 lanes, a v128 of
 * halves holds pairs (odd << 16 | even). Shifting the pair left by 16 (even) or
 * not (odd), then arithmetic-shifting right by 3, puts the sign at bit 31
 * (copied into 30..29) and e|m at 27..13; one AND with 0x8fffe000 clears the
 * copies and the neighbour's bits. Results come out as even and odd elements.
 */
#define F16_POS_MASK 0x8fffe000 /* sign + exponent/mantissa after the shifts */
#define F16_TO_F32_SCALE 0x77800000 /* 2^112 as f32 bits */

INLINE v128_t f16_even_bits(v128_t h) { return wasm_v128_and(wasm_i32x4_shr(wasm_i32x4_shl(h, 16), 3), wasm_i32x4_splat((int32_t)F16_POS_MASK)); }
INLINE v128_t f16_odd_bits(v128_t h) { return wasm_v128_and(wasm_i32x4_shr(h, 3), wasm_i32x4_splat((int32_t)F16_POS_MASK)); }

/* Exact except for exponent 31 (which becomes a finite value ≥ 65536). */
INLINE v128_t f16_bits_to_f32_fast(v128_t v) { return wasm_f32x4_mul(v, wasm_i32x4_splat(F16_TO_F32_SCALE)); }

/* Exact for every half: exponent 31 gets f32 exponent 255 (mantissa kept, so NaN stays NaN). */
INLINE v128_t f16_bits_to_f32(v128_t v) {
  const v128_t inf = wasm_i32x4_eq(wasm_v128_and(v, wasm_i32x4_splat(0x0f800000)), wasm_i32x4_splat(0x0f800000));
  return wasm_v128_or(f16_bits_to_f32_fast(v), wasm_v128_and(inf, wasm_i32x4_splat(0x7f800000)));
}

/* The positioned bits (h·2^-112 for finite halves) with exponent 31 made f32 Inf/NaN: what
 * f16_bits_to_f32 gives before its × 2^112, for GEMVs that apply that factor after the sum. */
INLINE v128_t f16_fix_special(v128_t v) {
  const v128_t inf = wasm_i32x4_eq(wasm_v128_and(v, wasm_i32x4_splat(0x0f800000)), wasm_i32x4_splat(0x0f800000));
  return wasm_v128_or(v, wasm_v128_and(inf, wasm_i32x4_splat(0x7f800000)));
}

/* For the fast path: flag = lane-wise max of 2·h (sign shifted out); a tile held an
 * Inf/NaN half iff some lane of the flag reaches 0xf800 (exponent 31). */
INLINE v128_t f16_track_special(v128_t flag, v128_t h) { return wasm_u16x8_max(flag, wasm_i16x8_add(h, h)); }
INLINE int f16_any_special(v128_t flag) { return wasm_v128_any_true(wasm_u16x8_gt(flag, wasm_i16x8_splat((int16_t)0xf7ff))); }

/* Eight halves at p → two f32x4 in natural order (elements 0..3, 4..7), exact. */
INLINE void load8_f16(const uint16_t *p, v128_t *lo, v128_t *hi) {
  const v128_t h = wasm_v128_load(p);
  const v128_t even = f16_bits_to_f32(f16_even_bits(h)), odd = f16_bits_to_f32(f16_odd_bits(h));
  *lo = wasm_i32x4_shuffle(even, odd, 0, 4, 1, 5);
  *hi = wasm_i32x4_shuffle(even, odd, 2, 6, 3, 7);
}

INLINE float f16_to_f32(uint16_t h) {
  return wasm_f32x4_extract_lane(f16_bits_to_f32(f16_odd_bits(wasm_i32x4_splat((int32_t)h << 16))), 0);
}

/* f32x4 → four f16 bit patterns (in the low 16 bits of each i32 lane), round to
 * nearest even, overflow → ±Inf, NaN → quiet NaN 0x7e00 with its sign (as
 * src/formats/half.ts f32ToF16 and torch do). Branch-free SIMD form of
 * F. Giesen's float_to_half_fast3_rtne (public domain). */
INLINE v128_t f32x4_to_f16lo(v128_t f) {
  const v128_t sign = wasm_v128_and(f, wasm_i32x4_splat((int32_t)0x80000000));
  const v128_t a = wasm_v128_xor(f, sign); /* |f| as bits; unsigned compares below are on bits */
  /* |f| ≥ 65536 (2^16, exponent 143): Inf, or NaN when above the Inf pattern. */
  const v128_t big = wasm_u32x4_ge(a, wasm_i32x4_splat((127 + 16) << 23));
  const v128_t nan = wasm_u32x4_gt(a, wasm_i32x4_splat(255 << 23));
  const v128_t special = wasm_v128_bitselect(wasm_i32x4_splat(0x7e00), wasm_i32x4_splat(0x7c00), nan);
  /* |f| < 2^-14: the result is subnormal or zero. Adding 0.5 (= 2^-1, exponent 126)
   * lines the 10 kept mantissa bits up at the bottom and the FPU rounds to nearest even. */
  const v128_t magic = wasm_i32x4_splat(((127 - 15) + (23 - 10) + 1) << 23);
  const v128_t subn = wasm_i32x4_sub(wasm_f32x4_add(a, magic), magic);
  const v128_t small = wasm_u32x4_lt(a, wasm_i32x4_splat(113 << 23));
  /* Normal: rebias, add 0xfff + (lowest kept bit) for ties-to-even, drop 13 bits.
   * A carry out of the mantissa correctly bumps the exponent (up to Inf). */
  const v128_t odd = wasm_v128_and(wasm_u32x4_shr(a, 13), wasm_i32x4_splat(1));
  const v128_t norm = wasm_u32x4_shr(
      wasm_i32x4_add(wasm_i32x4_add(a, wasm_i32x4_splat(0xfff - (112 << 23)) /* rebias 127 → 15 */), odd), 13);
  v128_t o = wasm_v128_bitselect(subn, norm, small);
  o = wasm_v128_bitselect(special, o, big);
  return wasm_v128_or(o, wasm_u32x4_shr(sign, 16));
}

INLINE uint16_t f32_to_f16_1(float x) {
  return (uint16_t)wasm_i32x4_extract_lane(f32x4_to_f16lo(wasm_f32x4_splat(x)), 0);
}

/* ---- q8_0 ----------------------------------------------------------------- */
/*
 * GGUF / ggml block_q8_0 (ggml-common.h): { ggml_half d; int8_t qs[32]; },
 * 34 bytes, value j = d · qs[j]. Blocks are packed (no padding); d sits at
 * byte 34·b, so it is always 2-byte aligned.
 */
#define QK8_0 32
#define Q8_0_BYTES 34

#endif
