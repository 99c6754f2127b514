// Elementwise kernels: dtype conversion, embedding rows, add, GLU, bias rows. One thread per element,
// grid-stride so any element count fits the grid limits.
#include <algorithm>
#include "common.cuh"
#include "pdl.cuh"

namespace me {

#define GRID_STRIDE(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
constexpr int kThreads = 256;
inline unsigned gridFor(int64_t n) { return static_cast<unsigned>(std::min<int64_t>(blocksFor(n, kThreads), 65535LL * 8)); }

/** Round to nearest even, as the reference backend's f32ToF16 / f32ToBf16 do. */
__global__ void convertFromF32(void* dst, const float* src, int64_t n, int to) {
  GRID_STRIDE(i, n) {
    if (to == kF16) static_cast<__half*>(dst)[i] = __float2half_rn(src[i]);
    else static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16_rn(src[i]);
  }
}

template <int WT>
__global__ void convertToF32(float* dst, const void* src, int64_t n) {
  GRID_STRIDE(i, n) dst[i] = loadW<WT>(src, i);
}

template <int WT>
__global__ void embedding(float* out, const void* table, const int32_t* ids, int64_t n, int dim) {
  pdlTrigger();  // lets a PDL-launched successor start its prologue (pdl.cuh)
  GRID_STRIDE(i, n) {
    const int64_t row = i / dim, d = i % dim;
    out[i] = loadW<WT>(table, (int64_t)ids[row] * dim + d);
  }
}

__global__ void add(float* out, const float* a, const float* b, int64_t n) {
  GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

__global__ void glu(float* out, const float* a, const float* gate, int64_t n) {
  GRID_STRIDE(i, n) out[i] = a[i] * sigmoidf(gate[i]);
}

__global__ void broadcastRows(float* out, const float* row, int64_t n, int cols) {
  GRID_STRIDE(i, n) out[i] = row[i % cols];
}

cudaError_t launchConvertFromF32(void* dst, const float* src, int64_t n, WeightType to, cudaStream_t s) {
  if (n > 0) convertFromF32<<<gridFor(n), kThreads, 0, s>>>(dst, src, n, to);
  return cudaGetLastError();
}

cudaError_t launchConvertToF32(float* dst, const void* src, int64_t n, WeightType from, cudaStream_t s) {
  if (n <= 0) return cudaGetLastError();
  switch (from) {
    case kF32: convertToF32<kF32><<<gridFor(n), kThreads, 0, s>>>(dst, src, n); break;
    case kF16: convertToF32<kF16><<<gridFor(n), kThreads, 0, s>>>(dst, src, n); break;
    case kBF16: convertToF32<kBF16><<<gridFor(n), kThreads, 0, s>>>(dst, src, n); break;
  }
  return cudaGetLastError();
}

// A read-back of a few words (a decode step's sampled token: 1 + 2k words) as a kernel writing page-locked host memory
// instead of cudaMemcpyAsync: the copy stays on the compute engine, so the next step's graph need not wait for a
// copy engine to be scheduled and signal back (the default; MAMBA_EDGE_CUDA_READKERNEL=off for the copy engine).
// The kernel's writes are visible to the host once the event recorded after it completes (a kernel boundary).
__global__ void copyWordsToHost(uint32_t* __restrict__ host, const uint32_t* __restrict__ src, int64_t words) {
  for (int64_t i = threadIdx.x; i < words; i += blockDim.x) host[i] = src[i];
}

cudaError_t launchCopyWordsToHost(void* host, const void* src, int64_t words, cudaStream_t s) {
  if (words > 0) copyWordsToHost<<<1, 128, 0, s>>>(static_cast<uint32_t*>(host), static_cast<const uint32_t*>(src), words);
  return cudaGetLastError();
}

cudaError_t launchEmbedding(float* out, const void* table, WeightType wt, const int32_t* ids, int n, int dim, cudaStream_t s) {
  const int64_t total = (int64_t)n * dim;
  if (total <= 0) return cudaGetLastError();
  switch (wt) {
    case kF32: embedding<kF32><<<gridFor(total), kThreads, 0, s>>>(out, table, ids, total, dim); break;
    case kF16: embedding<kF16><<<gridFor(total), kThreads, 0, s>>>(out, table, ids, total, dim); break;
    case kBF16: embedding<kBF16><<<gridFor(total), kThreads, 0, s>>>(out, table, ids, total, dim); break;
  }
  return cudaGetLastError();
}

cudaError_t launchAdd(float* out, const float* a, const float* b, int64_t n, cudaStream_t s) {
  if (n > 0) add<<<gridFor(n), kThreads, 0, s>>>(out, a, b, n);
  return cudaGetLastError();
}

cudaError_t launchGlu(float* out, const float* a, const float* gate, int64_t n, cudaStream_t s) {
  if (n > 0) glu<<<gridFor(n), kThreads, 0, s>>>(out, a, gate, n);
  return cudaGetLastError();
}

cudaError_t launchBroadcastRows(float* out, const float* row, int64_t rows, int cols, cudaStream_t s) {
  const int64_t n = rows * cols;
  if (n > 0) broadcastRows<<<gridFor(n), kThreads, 0, s>>>(out, row, n, cols);
  return cudaGetLastError();
}

}  // namespace me

namespace me {
cudaError_t probeKernelImage() {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, add);
}
}  // namespace me
