// Host emulation for decode.cu's decodeGemv (tools/cuda-emu/run.mjs decode): emu.h's model (a block's threads
// are std::threads, __syncthreads a std::barrier, __shared__ arrays function statics: one block at a time) plus
// warp shuffles (a per-warp exchange array and barrier: every lane of a warp must call them together, as on the
// GPU), the dynamic shared row (me_emu::dyn), atomics and fences as plain sequential operations (blocks run
// one after another), and common.cuh's f32 helpers copied as they are (f16 / bf16 loads are not emulated).
#pragma once
#include <atomic>
#include <memory>
#include <vector>
#include "kernels.h"
#include "emu_core.h"
namespace me_emu {
inline float4* dyn;                                    // the launch's dynamic shared memory
inline std::vector<std::unique_ptr<std::barrier<>>> warpBar;  // one a warp of the block
inline float slot[32][32];
}
inline float __shfl_xor_sync(unsigned, float v, int o, int width) {
  const int w = threadIdx.x >> 5, l = threadIdx.x & 31;
  me_emu::slot[w][l] = v;
  me_emu::warpBar[w]->arrive_and_wait();
  const int src = (l & ~(width - 1)) | ((l ^ o) & (width - 1));
  const float r = me_emu::slot[w][src];
  me_emu::warpBar[w]->arrive_and_wait();
  return r;
}
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline unsigned long long atomicMax(unsigned long long* p, unsigned long long v) { const auto o = *p; if (v > o) *p = v; return o; }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { const auto o = *p; *p = o + v; return o; }
inline unsigned atomicAdd(unsigned* p, unsigned v) { const auto o = *p; *p = o + v; return o; }
inline float __ldcg(const float* p) { return *p; }
inline uint32_t __float_as_uint(float f) { uint32_t i; memcpy(&i, &f, 4); return i; }
namespace me {
inline void pdlWait() {}
inline void pdlTrigger() {}
// common.cuh, f32 only:
template <int WT> inline float loadW(const void* w, int64_t i) { static_assert(WT == kF32); return static_cast<const float*>(w)[i]; }
template <int WT> inline void load4(const void* w, int64_t i, float out[4]) {
  static_assert(WT == kF32);
  const float4 v = *reinterpret_cast<const float4*>(static_cast<const float*>(w) + i);
  out[0] = v.x; out[1] = v.y; out[2] = v.z; out[3] = v.w;
}
inline float softplusf(float x) { return x > 20.f ? x : log1pf(expf(x)); }
inline float siluf(float x) { return x / (1.f + expf(-x)); }
inline float groupSum(float v, int width) {
  for (int o = width >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o, width);
  return v;
}
inline float blockSum(float v) {
  static float partial[32];
  v = groupSum(v, 32);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : 0.f;
  return groupSum(v, 32);
}
inline unsigned blocksFor(int64_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }
constexpr uint32_t kInvalid = 0x007fffffu;
inline uint32_t orderKey(float v) {
  uint32_t b = __float_as_uint(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) return 0u;
  if (b == 0x80000000u) b = 0u;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
}  // namespace me
