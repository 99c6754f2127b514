// Device helpers shared by the kernels: weight loads in any storage dtype, torch-equal activations,
// warp and block reductions.
#pragma once
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include "kernels.h"

namespace me {

/** Element i of a weight stored as WT, widened to f32 (f16/bf16 widen exactly). */
template <int WT>
__device__ __forceinline__ float loadW(const void* w, int64_t i) {
  if constexpr (WT == kF32) return static_cast<const float*>(w)[i];
  else if constexpr (WT == kF16) return __half2float(static_cast<const __half*>(w)[i]);
  else return __bfloat162float(static_cast<const __nv_bfloat16*>(w)[i]);
}

/** Four consecutive weights from a 16-byte (f32) or 8-byte (f16/bf16) aligned address. */
template <int WT>
__device__ __forceinline__ void load4(const void* w, int64_t i, float out[4]) {
  if constexpr (WT == kF32) {
    const float4 v = *reinterpret_cast<const float4*>(static_cast<const float*>(w) + i);
    out[0] = v.x; out[1] = v.y; out[2] = v.z; out[3] = v.w;
  } else if constexpr (WT == kF16) {
    const uint2 raw = *reinterpret_cast<const uint2*>(static_cast<const __half*>(w) + i);
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
    out[0] = a.x; out[1] = a.y; out[2] = b.x; out[3] = b.y;
  } else {
    const uint2 raw = *reinterpret_cast<const uint2*>(static_cast<const __nv_bfloat16*>(w) + i);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
    out[0] = a.x; out[1] = a.y; out[2] = b.x; out[3] = b.y;
  }
}

/** torch.nn.functional.softplus with its default threshold 20 (linear above it). */
__device__ __forceinline__ float softplusf(float x) { return x > 20.f ? x : log1pf(expf(x)); }
__device__ __forceinline__ float siluf(float x) { return x / (1.f + expf(-x)); }
__device__ __forceinline__ float sigmoidf(float x) { return 1.f / (1.f + expf(-x)); }

/** Sum over groups of `width` lanes (width a power of two ≤ 32); every lane of the group gets the sum. */
__device__ __forceinline__ float groupSum(float v, int width) {
  for (int o = width >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o, width);
  return v;
}

/** Sum over the block (blockDim.x a multiple of 32, ≤ 1024); every thread gets the sum. */
__device__ __forceinline__ float blockSum(float v) {
  __shared__ float partial[32];
  v = groupSum(v, 32);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  __syncthreads();  // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.f;
  return groupSum(v, 32);
}

inline unsigned blocksFor(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

/**
 * Logits as order-preserving u32 keys (topk.cu, decode.cu's greedy epilogue), src/api/sampler.ts's candidate
 * rule: NaN maps to 0 and −∞ to kInvalid, so keys ≤ kInvalid are never candidates; −0 ties with +0.
 */
constexpr uint32_t kInvalid = 0x007fffffu;
__device__ __forceinline__ uint32_t orderKey(float v) {
  uint32_t b = __float_as_uint(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) return 0u;  // NaN
  if (b == 0x80000000u) b = 0u;                    // −0 ties with +0
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

}  // namespace me
