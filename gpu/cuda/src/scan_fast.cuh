// The SFU math and the 16-byte asynchronous copies of scan_tiled.cu's scanTiled (moved out of scan_tiled.cu
// unchanged). tools/cuda-emu/run.mjs swaps the inline-PTX ones for host equivalents.
#pragma once
#include <cuda_runtime.h>
#include "scan_common.cuh"

namespace me {

constexpr float kLn2 = 0.6931471805599453f;
constexpr float kLog2eT = 1.4426950408889634f;

/** lg2.approx (~2^-22 absolute error; the argument here is ≥ 1). */
__device__ __forceinline__ float lg2(float x) {
  float y;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

/**
 * torch's softplus (threshold 20) on the SFU: ln(1 + e^v) = ln2 · log2(1 + 2^(v·log2 e)). Where e = e^v < 2^-5
 * the series e − e²/2 + e³/3 instead: lg2.approx's absolute error (~2^-22) would be a large relative one
 * on a small log, and 1 + e drops e's low bits; the series' relative error there is ≤ e³/4 < 8e-6, as is
 * the log's at e = 2^-5 (2^-22 / log2(1 + 2^-5)). Δ enters the scan as Δ·x and exp(Δ·A): ~1e-5 relative.
 */
__device__ __forceinline__ float softplusFast(float v) {
  const float e = ex2(v * kLog2eT);
  const float r = e < 0.03125f ? e * (1.f - e * (0.5f - e * 0.33333334f)) : kLn2 * lg2(1.f + e);
  return v > 20.f ? v : r;
}

/** silu(z) = z / (1 + e^-z); __fdividef gives 0 where e^-z overflows (z < −88), silu's limit. */
__device__ __forceinline__ float siluFast(float z) { return __fdividef(z, 1.f + ex2(-z * kLog2eT)); }

/** 16 bytes global → shared (sm_80+, .cg: L2 only); valid = false writes 16 zero bytes and reads nothing. */
__device__ __forceinline__ void cpAsync16(void* dst, const void* src, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cpAsyncWait0() { asm volatile("cp.async.wait_group 0;\n" ::); }

/** Component r of a float4 (r a compile-time constant after unrolling: no local memory). */
__device__ __forceinline__ float& comp(float4& v, int r) { return r == 0 ? v.x : r == 1 ? v.y : r == 2 ? v.z : v.w; }

}  // namespace me
