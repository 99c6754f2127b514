// The SFU / FMA-pipe math and the 16-byte asynchronous copies that scan_tiled.cu's scanTiled and
// scan_warp2.cu's scanWarp2 share (moved here from scan_tiled.cu unchanged; cpAsyncWait1 added for
// scanWarp2's double buffer). tools/cuda-emu/run.mjs swaps the inline-PTX ones for host equivalents.
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

/**
 * 2^x on the FMA and integer pipes, not the SFU (FlashAttention-4's device for softmax; here Cephes' exp2f
 * polynomial for f32): x = j + f with j = round(x) by the 1.5·2^23 magic-number addition, f ∈ [−½, ½],
 * 2^f = 1 + f·P(f) (degree 6, relative error ~1e-7, about ex2.approx's 2 ulp), and j added to the exponent
 * bits. x is clamped to [−125, 126] so the exponent stays normal: below, 2^x ≤ 2^-125 where ex2.approx.ftz
 * gives 0 (a decay of an f32 state: either is 0 to the state's precision). ~12 instructions against one
 * MUFU. Per 8 tokens a thread issues ~660 instructions (PTX count of pass 1: the 4 per state, loads, address
 * math) while the SFU needs 8 clocks a warp for each of 8 × 18 ex2 / lg2 = 1,152 clocks: SFU-bound. Moving
 * k of the 16 states here costs 13·8·k issue slots and saves 64·k SFU clocks: k = 3 evens them out
 * (~970 against 1,152, −16 %, if the pass is SFU-bound; k = 4: ~1,080). Unmeasured.
 */
__device__ __forceinline__ float ex2Poly(float x) {
  x = fminf(fmaxf(x, -125.f), 126.f);
  const float t = x + 12582912.f;  // 1.5·2^23: t's low mantissa bits hold round(x) in two's complement
  const float f = x - (t - 12582912.f);
  float p = 1.535336188319500e-4f;
  p = fmaf(p, f, 1.339887440266574e-3f);
  p = fmaf(p, f, 9.618437357674640e-3f);
  p = fmaf(p, f, 5.550332471162809e-2f);
  p = fmaf(p, f, 2.402264791363012e-1f);
  p = fmaf(p, f, 6.931472028550421e-1f);
  p = fmaf(p, f, 1.f);
  return __int_as_float(__float_as_int(p) + ((__float_as_int(t) - 0x4B400000) << 23));
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
/** Waits for all but the most recent committed group (the tile being computed has landed; the next may be in flight). */
__device__ __forceinline__ void cpAsyncWait1() { asm volatile("cp.async.wait_group 1;\n" ::); }

/** Component r of a float4 (r a compile-time constant after unrolling: no local memory). */
__device__ __forceinline__ float& comp(float4& v, int r) { return r == 0 ? v.x : r == 1 ? v.y : r == 2 ? v.z : v.w; }

}  // namespace me
