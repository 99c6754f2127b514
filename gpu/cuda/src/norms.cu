// RMSNorm (Mamba's norm_f and per-layer norms) and Mamba-2's gated RMSNorm
// (mamba_ssm RMSNormGated with norm_before_gate=False: rmsnorm(x · silu(z)) over groups of `groupSize`).
// One block per row (or group); the sum of squares is a block reduction in f32.
#include "common.cuh"
#include "pdl.cuh"

namespace me {

constexpr int kNormThreads = 256;

__global__ void rmsNorm(float* out, const float* x, const float* w, int dim, float eps) {
  pdlTrigger();  // lets a PDL-launched successor start its prologue (pdl.cuh)
  const float* xr = x + (int64_t)blockIdx.x * dim;
  float* yr = out + (int64_t)blockIdx.x * dim;
  float ss = 0.f;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) ss += xr[d] * xr[d];
  const float inv = rsqrtf(blockSum(ss) / dim + eps);
  for (int d = threadIdx.x; d < dim; d += blockDim.x) yr[d] = w[d] * (xr[d] * inv);
}

__global__ void addRmsNorm(float* sum, float* out, const float* a, const float* b, const float* w, int dim, float eps) {
  pdlTrigger();  // lets a PDL-launched successor start its prologue (pdl.cuh)
  const int64_t off = (int64_t)blockIdx.x * dim;
  float ss = 0.f;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) {
    const float v = a[off + d] + b[off + d];
    sum[off + d] = v;
    ss += v * v;
  }
  const float inv = rsqrtf(blockSum(ss) / dim + eps);
  // Each thread reads back only the entries it wrote itself: no barrier needed for `sum`.
  for (int d = threadIdx.x; d < dim; d += blockDim.x) out[off + d] = w[d] * (sum[off + d] * inv);
}

__global__ void gatedRmsNorm(float* out, const float* x, const float* gate, const float* w, int groupSize, int dim, float eps) {
  pdlTrigger();  // lets a PDL-launched successor start its prologue (pdl.cuh)
  const int64_t g0 = (int64_t)blockIdx.x * groupSize;
  float ss = 0.f;
  for (int k = threadIdx.x; k < groupSize; k += blockDim.x) {
    const float g = x[g0 + k] * siluf(gate[g0 + k]);
    ss += g * g;
  }
  const float inv = rsqrtf(blockSum(ss) / groupSize + eps);
  for (int k = threadIdx.x; k < groupSize; k += blockDim.x) {
    const float g = x[g0 + k] * siluf(gate[g0 + k]);
    out[g0 + k] = w[(g0 + k) % dim] * (g * inv);
  }
}

// Rows beyond the grid's x limit (2^31 − 1) cannot occur: rows ≤ numel / dim and tensors are < 2^31 rows.
cudaError_t launchRmsNorm(float* out, const float* x, const float* w, int64_t rows, int dim, float eps, cudaStream_t s) {
  if (rows > 0) rmsNorm<<<(unsigned)rows, kNormThreads, 0, s>>>(out, x, w, dim, eps);
  return cudaGetLastError();
}

cudaError_t launchAddRmsNorm(float* sum, float* out, const float* a, const float* b, const float* w, int64_t rows, int dim, float eps,
                             cudaStream_t s) {
  if (rows > 0) addRmsNorm<<<(unsigned)rows, kNormThreads, 0, s>>>(sum, out, a, b, w, dim, eps);
  return cudaGetLastError();
}

cudaError_t launchGatedRmsNorm(float* out, const float* x, const float* gate, const float* w, int64_t groups, int groupSize, int dim,
                               float eps, cudaStream_t s) {
  if (groups > 0) gatedRmsNorm<<<(unsigned)groups, kNormThreads, 0, s>>>(out, x, gate, w, groupSize, dim, eps);
  return cudaGetLastError();
}

}  // namespace me
