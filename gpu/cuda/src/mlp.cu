// The hybrids' MLP activations and the sparse mixture of SwiGLU experts (transformers'
// JambaSparseMoeBlock / Mixtral's): the router (softmax, top-k), the few-row expert products read
// through device tables of expert pointers (so decode needs no host round trip to learn the route),
// and the gather / weighted scatter-add that prefill's per-expert cuBLAS products go between.
#include <algorithm>
#include "attention.h"
#include "common.cuh"

namespace me {

namespace {

#define GRID_STRIDE(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
inline unsigned gridFor(int64_t n) { return static_cast<unsigned>(std::min<int64_t>(blocksFor(n, kThreads), 65535LL * 8)); }

/** y = silu(gate) ⊙ up (LlamaMLP's act_fn(gate_proj(x)) * up_proj(x)). */
__global__ void swiglu(float* y, const float* gate, const float* up, int64_t n) {
  GRID_STRIDE(i, n) y[i] = siluf(gate[i]) * up[i];
}

/** y = relu(x)² (NemotronH's "relu2" ACT2FN). */
__global__ void relu2(float* y, const float* x, int64_t n) {
  GRID_STRIDE(i, n) {
    const float v = x[i];
    y[i] = v > 0.f ? v * v : 0.f;
  }
}

/**
 * Thread per token row, as src/backends/attention-math.ts routeTopK: p = softmax(logits) in f64 (the
 * probabilities rounded to f32, as torch's softmax(dtype=float)), then K times the largest p not yet
 * taken (strictly larger wins, so ties go to the lower index), weight p — or p / Σ_topk p (Mixtral's
 * norm_topk_prob) when normalize.
 */
__global__ void moeRoute(int32_t* idx, float* weight, const float* logits, int rows, int E, int K, bool normalize) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const float* lr = logits + (int64_t)r * E;
  double mx = -INFINITY;
  for (int e = 0; e < E; e++) mx = fmax(mx, (double)lr[e]);
  double sum = 0;
  for (int e = 0; e < E; e++) sum += exp((double)lr[e] - mx);
  uint32_t taken[kMoeMaxExperts / 32] = {};
  double picked = 0;
  for (int k = 0; k < K; k++) {
    int best = -1;
    float bp = 0.f;
    for (int e = 0; e < E; e++) {
      if (taken[e >> 5] & (1u << (e & 31))) continue;
      const float p = (float)(exp((double)lr[e] - mx) / sum);
      if (best < 0 || p > bp) {
        best = e;
        bp = p;
      }
    }
    taken[best >> 5] |= 1u << (best & 31);
    idx[(int64_t)r * K + k] = best;
    weight[(int64_t)r * K + k] = bp;
    picked += bp;
  }
  if (normalize)
    for (int k = 0; k < K; k++) weight[(int64_t)r * K + k] = (float)(weight[(int64_t)r * K + k] / picked);
}

/** One warp per (row·K + k, inner unit i): both expert dot products over D, then silu(g) · u. */
template <int WT>
__global__ void moeGateUp(float* h, const float* x, const void* const* gate, const void* const* up, const int32_t* idx, int K, int D, int I) {
  const int i = blockIdx.x * kWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (i >= I) return;
  const int64_t rk = blockIdx.y;  // row · K + k
  const int e = idx[rk];
  const float* xr = x + (rk / K) * D;
  const void* wg = gate[e];
  const void* wu = up[e];
  float g = 0.f, u = 0.f;
  for (int d = lane; d < D; d += 32) {
    const float xv = xr[d];
    g += loadW<WT>(wg, (int64_t)i * D + d) * xv;
    u += loadW<WT>(wu, (int64_t)i * D + d) * xv;
  }
  g = groupSum(g, 32);
  u = groupSum(u, 32);
  if (lane == 0) h[rk * I + i] = siluf(g) * u;
}

/** One warp per (row, output d): Σ_k weight[r, k] · (down_e[d, :] · h[r, k, :]) in top-k order. */
template <int WT>
__global__ void moeDown(float* y, const float* h, const void* const* down, const int32_t* idx, const float* weight, int K, int D, int I) {
  const int d = blockIdx.x * kWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (d >= D) return;
  const int64_t r = blockIdx.y;
  float out = 0.f;
  for (int k = 0; k < K; k++) {
    const int64_t rk = r * K + k;
    const void* w = down[idx[rk]];
    const float* hr = h + rk * I;
    float dot = 0.f;
    for (int i = lane; i < I; i += 32) dot += loadW<WT>(w, (int64_t)d * I + i) * hr[i];
    out += weight[rk] * groupSum(dot, 32);
  }
  if (lane == 0) y[r * D + d] = out;
}

__global__ void gatherRows(float* out, const float* x, const int32_t* rows, int64_t n, int D) {
  GRID_STRIDE(i, n) out[i] = x[(int64_t)rows[i / D] * D + i % D];
}

__global__ void scatterAddRows(float* out, const float* y, const int32_t* rows, const float* w, int64_t n, int D) {
  GRID_STRIDE(i, n) {
    const int64_t j = i / D;
    out[(int64_t)rows[j] * D + i % D] += w[j] * y[i];
  }
}

}  // namespace

cudaError_t launchSwiglu(float* y, const float* gate, const float* up, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  swiglu<<<gridFor(n), kThreads, 0, s>>>(y, gate, up, n);
  return cudaGetLastError();
}

cudaError_t launchRelu2(float* y, const float* x, int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  relu2<<<gridFor(n), kThreads, 0, s>>>(y, x, n);
  return cudaGetLastError();
}

cudaError_t launchMoeRoute(int32_t* idx, float* weight, const float* logits, int rows, int E, int K, bool normalize, cudaStream_t s) {
  if (E > kMoeMaxExperts || K < 1 || K > E) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  moeRoute<<<blocksFor(rows, 64), 64, 0, s>>>(idx, weight, logits, rows, E, K, normalize);
  return cudaGetLastError();
}

cudaError_t launchMoeGateUp(float* h, const float* x, const void* const* gate, const void* const* up, const int32_t* idx, WeightType wt,
                            int rows, int K, int D, int I, cudaStream_t s) {
  if ((int64_t)rows * K == 0 || I == 0) return cudaSuccess;
  const dim3 grid(blocksFor(I, kWarps), (unsigned)(rows * K));
  if (wt == kF32) moeGateUp<kF32><<<grid, kThreads, 0, s>>>(h, x, gate, up, idx, K, D, I);
  else if (wt == kF16) moeGateUp<kF16><<<grid, kThreads, 0, s>>>(h, x, gate, up, idx, K, D, I);
  else moeGateUp<kBF16><<<grid, kThreads, 0, s>>>(h, x, gate, up, idx, K, D, I);
  return cudaGetLastError();
}

cudaError_t launchMoeDown(float* y, const float* h, const void* const* down, const int32_t* idx, const float* weight, WeightType wt, int rows,
                          int K, int D, int I, cudaStream_t s) {
  if (rows == 0 || D == 0) return cudaSuccess;
  const dim3 grid(blocksFor(D, kWarps), (unsigned)rows);
  if (wt == kF32) moeDown<kF32><<<grid, kThreads, 0, s>>>(y, h, down, idx, weight, K, D, I);
  else if (wt == kF16) moeDown<kF16><<<grid, kThreads, 0, s>>>(y, h, down, idx, weight, K, D, I);
  else moeDown<kBF16><<<grid, kThreads, 0, s>>>(y, h, down, idx, weight, K, D, I);
  return cudaGetLastError();
}

cudaError_t launchGatherRows(float* out, const float* x, const int32_t* rows, int n, int D, cudaStream_t s) {
  const int64_t total = (int64_t)n * D;
  if (total == 0) return cudaSuccess;
  gatherRows<<<gridFor(total), kThreads, 0, s>>>(out, x, rows, total, D);
  return cudaGetLastError();
}

cudaError_t launchScatterAddRows(float* out, const float* y, const int32_t* rows, const float* w, int n, int D, cudaStream_t s) {
  const int64_t total = (int64_t)n * D;
  if (total == 0) return cudaSuccess;
  scatterAddRows<<<gridFor(total), kThreads, 0, s>>>(out, y, rows, w, total, D);
  return cudaGetLastError();
}

}  // namespace me
