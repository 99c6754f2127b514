/*
 * Experiment (not part of the shipped kernels; built by ab-layout.mjs's instructions below):
 * the decode GEMV over a tile-major ("interleaved") weight layout, against the row-major one
 * matmul_f32 reads. Row-major: the 8-row tile reads 8 separate row streams K·4 bytes apart.
 * Tile-major: the tile's rows are stored interleaved in blocks of 4 values,
 *   wt[tile][k/4][row j][4],
 * so a tile is one contiguous stream of 8·K·4 bytes, read front to back.
 * Assumes K % 4 == 0 and M % 8 == 0 (mamba-130m's decode shapes all are).
 */
#include "../kernels.h"

/* wt ← w (row-major [M, K]) in the tile-major layout. */
KERNEL(tile_rows_f32)(const float *w, float *wt, int K, int M) {
  for (int m0 = 0; m0 < M; m0 += 8)
    for (int k = 0; k < K; k += 4)
      for (int j = 0; j < 8; j++)
        wasm_v128_store(wt + m0 * K + k * 8 + j * 4, wasm_v128_load(w + (m0 + j) * K + k));
}

/* y[m] = Σ_k x[k]·w[m,k] for m in [m0, m1) (multiples of 8), w tile-major: the same arithmetic per
 * row as matmul_f32's 8-row GEMV tile (one accumulator per row, hsum4 at the end). */
KERNEL(gemv_tiled_f32)(const float *x, const float *wt, float *y, int K, int M, int m0, int m1) {
  (void)M;
  for (int m = m0; m < m1; m += 8) {
    const float *t = wt + m * K;
    v128_t acc[8];
    for (int j = 0; j < 8; j++) acc[j] = wasm_f32x4_splat(0);
    const float *b = t; /* one pointer walking the tile's single stream, 128 bytes per step */
    for (int k = 0; k < K; k += 4, b += 32) {
      const v128_t xv = wasm_v128_load(x + k);
      for (int j = 0; j < 8; j++) acc[j] = wasm_f32x4_add(acc[j], wasm_f32x4_mul(xv, wasm_v128_load(b + j * 4)));
    }
    wasm_v128_store(y + m, hsum4(acc[0], acc[1], acc[2], acc[3]));
    wasm_v128_store(y + m + 4, hsum4(acc[4], acc[5], acc[6], acc[7]));
  }
}
