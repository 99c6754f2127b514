// What the prefill scan kernels (scan.cu, ssd.cu) share: where a chunk's start state comes from and
// its end state goes (the three-pass split of scan.cu's header), 4-byte cp.async staging with
// zero-fill, 2^x on the SFU alone, and ssd.cu's entry points that scan.cu's launcher drives.
#pragma once
#include <cuda_runtime.h>
#include "kernels.h"

namespace me {

enum Start : int { kFromZero, kFromState, kFromScratch };
enum End : int { kToState, kToScratch, kNoEnd };

// ssd.cu: Mamba-2's SSD in the chunked matrix form on tensor cores (see ssd.cu's header).
/** Whether ssdMma runs this shape: P and N multiples of 16, its tiles within shared memory. */
bool ssdMmaFits(const ScanShape& sh);
/** Blocks along T (each a run of 64-step chunks) so that B·H·chunks fills the GPU once; 1 = one pass. */
int ssdMmaChunks(const ScanShape& sh, int multiprocessors);
/**
 * One pass of ssdMma over `chunks` runs of chunkLen steps (grid B·H × chunks): states from / to
 * `start` / `end` (hScratch [B·I, chunks, N], dScratch [B·I, chunks] = ΣΔ), y written when writeY.
 * split3: products in 3×TF32 (f32-accurate); false: plain TF32 (the A/B that shows why not).
 */
cudaError_t launchSsdMmaPass(const ScanShape& sh, const ScanArgs& a, int chunks, int chunkLen, float* hScratch, float* dScratch,
                             int start, int end, bool writeY, bool split3, cudaStream_t s);

// scan_tiled.cu: Mamba-1 (N ≤ 16) as the WebGPU backend's tiled three-pass scan (see its header).
/** Whether scanTiled runs this shape: Mamba-1 with 1 ≤ N ≤ 16. */
bool scanTiledFits(const ScanShape& sh);
/** Chunks of MAMBA_EDGE_CUDA_SCAN_CHUNK (64) steps, or 1 (one pass) for T ≤ that or channels enough to fill the GPU. */
int scanTiledChunks(const ScanShape& sh, int multiprocessors);
/** scanTiled's one pass (chunks = 1) or three (chunk states, carry, output) in scratch of scanScratchBytes(sh, chunks). */
cudaError_t launchScanTiled(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s);

/** Copies 4 bytes global → shared without a register round trip (sm_80+); valid = false writes 0 (src is not read). */
__device__ __forceinline__ void cpAsync4(float* dst, const float* src, bool valid) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 4 : 0));  // src-size 0: zero-fill
}
/** Waits for every cp.async this thread issued (a __syncthreads must follow before others read them). */
__device__ __forceinline__ void cpAsyncWaitAll() { asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::); }

/** 2^x on the SFU alone (ex2.approx: ~2 ulp; flushes results below 2^-126 to 0, which a decay may be). */
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace me
