// Host emulation for decode.cu's decodeGemv (tools/cuda-emu/run.mjs decode): emu.h's model (a block's threads
// are std::threads, __syncthreads a std::barrier, __shared__ arrays function statics: one block at a time) plus
// warp shuffles (a per-warp exchange array and barrier: every lane of a warp must call them together, as on the
// GPU), the dynamic shared row (me_emu::dyn), atomics and fences as plain sequential operations (blocks run
// one after another); common.cuh itself supplies the kernels' loads, activations, reductions and orderKey.
#pragma once
#include <atomic>
#include <memory>
#include <vector>
#include <cuda_fp16.h>  // before the macros below: compiled as host code, as g++ sees them
#include <cuda_bf16.h>
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
}  // namespace me
#include "common.cuh"  // the kernels' own f32 / f16 / bf16 loads, activations, reductions and orderKey
