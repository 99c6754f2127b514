// Host-side entry points of the attention-family kernels (issue 8): RoPE, the KV cache append, causal
// grouped-query attention (tiled, with key-axis splits), and the MLP / mixture-of-experts kernels of
// the hybrid graphs. Launchers enqueue on `stream` and return the launch's cudaError_t, as kernels.h's.
// The Node-API face is attention_api.cc (exported as `attention` beside `Device`).
#pragma once
#include <cuda_runtime_api.h>
#include <cstdint>
#include "kernels.h"

namespace me {

// attention.cu ------------------------------------------------------------------------------------

/**
 * Rotary embedding, rotate_half form, in place of a copy: y = rope(x) for x [B, T, H, Dh] with R pairs,
 * angles θ = fp32(p · invFreq[i]) for p = position + t (invFreq [R] on the device).
 */
cudaError_t launchRope(float* y, const float* x, const float* invFreq, int B, int T, int H, int Dh, int R, int position, cudaStream_t s);

/** Copies k, v [B, T, G, Dh] into the cache blocks [B, G, capacity, Dh] at rows P .. P+T−1. */
cudaError_t launchKvAppend(float* cacheK, float* cacheV, const float* k, const float* v, int B, int T, int G, int Dh, int capacity, int P,
                           cudaStream_t s);

/** The causal GQA attention's shape: q [B, T, H, Dh] against a cache of P + T keys (capacity rows per (b, g)). */
struct AttentionShape {
  int B, T, H, G, Dh, capacity, P;
  int splits;         // S: key-axis splits per query tile (1: the output is written directly)
  int keysPerSplit;   // C: a multiple of kAttnKeyTile
  float scale;
};
/** Query rows per block and keys per shared-memory tile of the attention kernel. */
constexpr int kAttnRowTile = 16;
constexpr int kAttnKeyTile = 32;
constexpr int kAttnMaxHeadDim = 256;
/** Floats of the split partials [B·T·H, S, Dh + 2] (0 when S == 1). */
int64_t attentionPartialFloats(const AttentionShape& sh);
/** y [B, T, H·Dh]; `partials` (attentionPartialFloats) only when splits > 1. */
cudaError_t launchAttention(float* y, float* partials, const float* q, const float* cacheK, const float* cacheV, const AttentionShape& sh,
                            cudaStream_t s);

// mlp.cu ------------------------------------------------------------------------------------------

/** y = silu(gate) ⊙ up. */
cudaError_t launchSwiglu(float* y, const float* gate, const float* up, int64_t n, cudaStream_t s);
/** y = relu(x)². */
cudaError_t launchRelu2(float* y, const float* x, int64_t n, cudaStream_t s);

/** The most experts the router kernel takes (its per-row selection mask). */
constexpr int kMoeMaxExperts = 256;
/**
 * The MoE router per row of logits [rows, E]: p = softmax (in f64, rounded to f32), the top-k experts by
 * p (ties → lower index) → idx [rows, K] int32 and weight [rows, K] (p, or p / Σ_topk p when normalize).
 */
cudaError_t launchMoeRoute(int32_t* idx, float* weight, const float* logits, int rows, int E, int K, bool normalize, cudaStream_t s);
/**
 * Few rows (decode): h [rows, K, I] = silu(gate_e · x_r) ⊙ (up_e · x_r) for e = idx[r, k], the experts'
 * weights found through device tables of pointers (gate [E], up [E]), stored as `wt`.
 */
cudaError_t launchMoeGateUp(float* h, const float* x, const void* const* gate, const void* const* up, const int32_t* idx, WeightType wt,
                            int rows, int K, int D, int I, cudaStream_t s);
/** y [rows, D] = Σ_k weight[r, k] · down_e · h[r, k] for e = idx[r, k], summed in top-k order. */
cudaError_t launchMoeDown(float* y, const float* h, const void* const* down, const int32_t* idx, const float* weight, WeightType wt, int rows,
                          int K, int D, int I, cudaStream_t s);
/** out [n, D] = x[rows[i]] (gathering one expert's tokens). */
cudaError_t launchGatherRows(float* out, const float* x, const int32_t* rows, int n, int D, cudaStream_t s);
/** out[rows[i]] += w[i] · y[i] (rows distinct within one call). */
cudaError_t launchScatterAddRows(float* out, const float* y, const int32_t* rows, const float* w, int n, int D, cudaStream_t s);

}  // namespace me
