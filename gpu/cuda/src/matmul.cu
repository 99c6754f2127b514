// Matrix products y[rows, M] = x[rows, K] · Wᵀ (+ bias) with W [M, K] in torch Linear layout, for the
// cases cuBLAS does not cover well or at all: decode's few rows (a GEMV that streams each weight once,
// reading f16/bf16 directly, accumulating in f32) and a tiled fallback for when cuBLAS is absent.
#include "common.cuh"

namespace me {

constexpr int kGemvWarps = 8;

/** Output column m of y = x·Wᵀ + bias for `rows` rows, by one warp; VEC reads 4 weights per lane per step (K % 4 == 0). */
template <int WT, bool VEC>
__device__ __forceinline__ void gemvColumn(float* y, const float* x, const void* w, const float* bias, int rows, int K, int M, int m, int lane) {
  float acc[kGemvMaxRows];
#pragma unroll
  for (int r = 0; r < kGemvMaxRows; r++) acc[r] = 0.f;
  const int64_t wRow = (int64_t)m * K;
  if constexpr (VEC) {
#pragma unroll 4  // several 16-byte weight loads in flight per lane: decode's GEMVs are a few warps per SM
    for (int k = lane * 4; k < K; k += 128) {
      float wv[4];
      load4<WT>(w, wRow + k, wv);
#pragma unroll
      for (int r = 0; r < kGemvMaxRows; r++) {
        if (r < rows) {
          const float4 xv = *reinterpret_cast<const float4*>(x + (int64_t)r * K + k);
          acc[r] += wv[0] * xv.x + wv[1] * xv.y + wv[2] * xv.z + wv[3] * xv.w;
        }
      }
    }
  } else {
    for (int k = lane; k < K; k += 32) {
      const float wv = loadW<WT>(w, wRow + k);
#pragma unroll
      for (int r = 0; r < kGemvMaxRows; r++)
        if (r < rows) acc[r] += wv * x[(int64_t)r * K + k];
    }
  }
  const float b = bias ? bias[m] : 0.f;
#pragma unroll
  for (int r = 0; r < kGemvMaxRows; r++) {
    const float s = groupSum(acc[r], 32);
    if (r < rows && lane == 0) y[(int64_t)r * M + m] = s + b;
  }
}

/** One warp per output column m. */
template <int WT, bool VEC>
__global__ void gemv(float* y, const float* x, const void* w, const float* bias, int rows, int K, int M) {
  const int m = blockIdx.x * kGemvWarps + (threadIdx.x >> 5);
  if (m >= M) return;  // whole warps leave together
  gemvColumn<WT, VEC>(y, x, w, bias, rows, K, M, m, threadIdx.x & 31);
}

/**
 * Several GEMVs over the same x (decode's in_proj parts, x_proj's dt/B/C) in one launch: the columns
 * of all the matrices, one warp each. A decode step is bound by its kernels' count, not their bytes.
 */
template <int WT, bool VEC>
__global__ void gemvBatch(GemvBatch batch, const float* x, int rows, int K) {
  int col = blockIdx.x * kGemvWarps + (threadIdx.x >> 5);
  int i = 0;
  while (i < batch.count && col >= batch.item[i].M) col -= batch.item[i++].M;
  if (i >= batch.count) return;  // whole warps leave together
  const GemvItem& it = batch.item[i];
  gemvColumn<WT, VEC>(it.y, x, it.w, it.bias, rows, K, it.M, col, threadIdx.x & 31);
}

constexpr int kTile = 16;

/** Plain shared-memory tiles: rows on grid x (no 65,535 limit), output columns on grid y. */
template <int WT>
__global__ void tiledGemm(float* y, const float* x, const void* w, const float* bias, int64_t rows, int K, int M) {
  __shared__ float xs[kTile][kTile + 1], ws[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t r = (int64_t)blockIdx.x * kTile + ty;
  const int m0 = blockIdx.y * kTile, m = m0 + tx;
  float acc = 0.f;
  for (int k0 = 0; k0 < K; k0 += kTile) {
    const int k = k0 + tx;
    xs[ty][tx] = (r < rows && k < K) ? x[r * K + k] : 0.f;
    ws[ty][tx] = (m0 + ty < M && k < K) ? loadW<WT>(w, (int64_t)(m0 + ty) * K + k) : 0.f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTile; kk++) acc += xs[ty][kk] * ws[tx][kk];
    __syncthreads();
  }
  if (r < rows && m < M) y[r * M + m] = acc + (bias ? bias[m] : 0.f);
}

template <int WT>
static void gemvFor(float* y, const float* x, const void* w, const float* bias, int rows, int K, int M, cudaStream_t s) {
  const unsigned grid = blocksFor(M, kGemvWarps);
  if (K % 4 == 0) gemv<WT, true><<<grid, kGemvWarps * 32, 0, s>>>(y, x, w, bias, rows, K, M);
  else gemv<WT, false><<<grid, kGemvWarps * 32, 0, s>>>(y, x, w, bias, rows, K, M);
}

cudaError_t launchGemv(float* y, const float* x, const void* w, WeightType wt, const float* bias, int rows, int K, int M, cudaStream_t s) {
  if (rows <= 0 || M <= 0) return cudaGetLastError();
  switch (wt) {
    case kF32: gemvFor<kF32>(y, x, w, bias, rows, K, M, s); break;
    case kF16: gemvFor<kF16>(y, x, w, bias, rows, K, M, s); break;
    case kBF16: gemvFor<kBF16>(y, x, w, bias, rows, K, M, s); break;
  }
  return cudaGetLastError();
}

cudaError_t launchGemvBatch(const GemvBatch& batch, const float* x, WeightType wt, int rows, int K, cudaStream_t s) {
  int total = 0;
  for (int i = 0; i < batch.count; i++) total += batch.item[i].M;
  if (rows <= 0 || total <= 0) return cudaGetLastError();
  const unsigned grid = blocksFor(total, kGemvWarps);
  const bool vec = K % 4 == 0;
  switch (wt) {
    case kF32: vec ? gemvBatch<kF32, true><<<grid, kGemvWarps * 32, 0, s>>>(batch, x, rows, K) : gemvBatch<kF32, false><<<grid, kGemvWarps * 32, 0, s>>>(batch, x, rows, K); break;
    case kF16: vec ? gemvBatch<kF16, true><<<grid, kGemvWarps * 32, 0, s>>>(batch, x, rows, K) : gemvBatch<kF16, false><<<grid, kGemvWarps * 32, 0, s>>>(batch, x, rows, K); break;
    case kBF16: vec ? gemvBatch<kBF16, true><<<grid, kGemvWarps * 32, 0, s>>>(batch, x, rows, K) : gemvBatch<kBF16, false><<<grid, kGemvWarps * 32, 0, s>>>(batch, x, rows, K); break;
  }
  return cudaGetLastError();
}

cudaError_t launchTiledGemm(float* y, const float* x, const void* w, WeightType wt, const float* bias, int64_t rows, int K, int M,
                            cudaStream_t s) {
  if (rows <= 0 || M <= 0) return cudaGetLastError();
  const dim3 grid(blocksFor(rows, kTile), blocksFor(M, kTile)), block(kTile, kTile);
  switch (wt) {
    case kF32: tiledGemm<kF32><<<grid, block, 0, s>>>(y, x, w, bias, rows, K, M); break;
    case kF16: tiledGemm<kF16><<<grid, block, 0, s>>>(y, x, w, bias, rows, K, M); break;
    case kBF16: tiledGemm<kBF16><<<grid, block, 0, s>>>(y, x, w, bias, rows, K, M); break;
  }
  return cudaGetLastError();
}

}  // namespace me
