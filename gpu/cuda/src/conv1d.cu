// Causal depthwise conv1d with carried state (HF MambaMixer / Mamba2Mixer conv1d with padding K−1,
// and causal_conv1d_update for the step): y[t] = bias + Σ_k w[k]·s[t+k] over s = state ++ x, then
// state ← the last K−1 entries of s. Every output is independent (one thread each); the state update
// runs after, as its own kernel, so no output reads a state entry already overwritten.
#include <algorithm>
#include "common.cuh"
#include "pdl.cuh"

namespace me {

__global__ void conv1dOut(float* y, const float* x, const float* w, const float* bias, const float* state, int B, int T, int C, int K,
                          bool silu) {
  const int64_t n = (int64_t)B * T * C;
  const int hist = K - 1;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int c = i % C;
    const int64_t bt = i / C;
    const int t = bt % T, b = bt / T;
    float acc = bias ? bias[c] : 0.f;
    for (int k = 0; k < K; k++) {
      const int j = t + k;  // index into s = state ++ x
      const float v = j < hist ? state[((int64_t)b * C + c) * hist + j] : x[((int64_t)b * T + j - hist) * C + c];
      acc += w[c * K + k] * v;
    }
    y[i] = silu ? siluf(acc) : acc;
  }
}

/** state[k] ← s[T + k]; ascending k reads index T + k > k, never an entry already written. */
__global__ void conv1dState(const float* x, float* state, int B, int T, int C, int K) {
  const int64_t n = (int64_t)B * C;
  const int hist = K - 1;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int c = i % C, b = i / C;
    float* st = state + i * hist;
    for (int k = 0; k < hist; k++) {
      const int j = T + k;
      st[k] = j < hist ? st[j] : x[((int64_t)b * T + j - hist) * C + c];
    }
  }
}

/** T = 1 (decode): one thread per (b, c) computes the output and shifts that channel's state, one launch. */
__global__ void conv1dStep(float* y, const float* x, const float* w, const float* bias, float* state, int B, int C, int K, bool silu) {
  pdlTrigger();  // lets a PDL-launched successor start its prologue (pdl.cuh)
  const int64_t n = (int64_t)B * C;
  const int hist = K - 1;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int c = i % C;
    float* st = state + i * hist;
    const float xv = x[i];
    float acc = bias ? bias[c] : 0.f;
    for (int k = 0; k < hist; k++) acc += w[c * K + k] * st[k];
    acc += w[c * K + hist] * xv;
    for (int k = 0; k + 1 < hist; k++) st[k] = st[k + 1];
    if (hist > 0) st[hist - 1] = xv;
    y[i] = silu ? siluf(acc) : acc;
  }
}

/** Several T = 1 convs of the same batch, kernel and activation (Mamba-2's x, B, C parts) in one launch. */
__global__ void conv1dStepBatch(Conv1dStepBatch batch, int B, int K, bool silu) {
  pdlTrigger();  // lets a PDL-launched successor start its prologue (pdl.cuh)
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  int j = 0;
  while (j < batch.count && i >= (int64_t)B * batch.item[j].C) i -= (int64_t)B * batch.item[j++].C;
  if (j >= batch.count) return;
  const Conv1dStepItem& it = batch.item[j];
  const int c = i % it.C;
  const int hist = K - 1;
  float* st = it.state + i * hist;
  const float* sr = (it.src ? it.src : it.state) + i * hist;  // the state before the step (ping-pong: the graph's read block)
  const float xv = it.x[i];
  float acc = it.bias ? it.bias[c] : 0.f;
  if (it.snap) {  // the undo point of a run-ahead step: this channel's state before its shift
    float* sp = it.snap + i * hist;
    for (int k = 0; k < hist; k++) sp[k] = sr[k];
  }
  for (int k = 0; k < hist; k++) acc += it.w[c * K + k] * sr[k];
  acc += it.w[c * K + hist] * xv;
  for (int k = 0; k + 1 < hist; k++) st[k] = sr[k + 1];
  if (hist > 0) st[hist - 1] = xv;
  it.y[i] = silu ? siluf(acc) : acc;
}

cudaError_t launchConv1dStepBatch(const Conv1dStepBatch& batch, int B, int K, bool silu, cudaStream_t s) {
  int64_t total = 0;
  for (int j = 0; j < batch.count; j++) total += (int64_t)B * batch.item[j].C;
  if (total > 0) conv1dStepBatch<<<blocksFor(total, 256), 256, 0, s>>>(batch, B, K, silu);
  return cudaGetLastError();
}

cudaError_t launchConv1d(float* y, const float* x, const float* w, const float* bias, float* state, int B, int T, int C, int K, bool silu,
                         cudaStream_t s) {
  const int64_t n = (int64_t)B * T * C;
  if (n > 0 && T == 1) {
    conv1dStep<<<(unsigned)std::min<int64_t>(blocksFor(n, 256), 1 << 20), 256, 0, s>>>(y, x, w, bias, state, B, C, K, silu);
  } else if (n > 0) {
    conv1dOut<<<(unsigned)std::min<int64_t>(blocksFor(n, 256), 1 << 20), 256, 0, s>>>(y, x, w, bias, state, B, T, C, K, silu);
    if (K > 1) conv1dState<<<(unsigned)std::min<int64_t>(blocksFor((int64_t)B * C, 256), 1 << 20), 256, 0, s>>>(x, state, B, T, C, K);
  }
  return cudaGetLastError();
}

}  // namespace me
