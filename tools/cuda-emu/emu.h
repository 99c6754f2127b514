// Host emulation of the few CUDA built-ins scan_tiled.cu's and ssd_tiled.cu's kernels use (tools/cuda-emu/run.mjs): a block's
// threads are std::threads, __syncthreads a std::barrier, __shared__ arrays function statics (one block
// runs at a time), cp.async a synchronous copy, ex2 / lg2 libm's exp2f / log2f. It checks index math,
// tails, staging and the pass / carry logic on a machine without a GPU — not timing, not races between
// asynchronous copies, not the SFU approximations (test/cuda/scan.test.ts does those on a GPU).
#pragma once
#include "emu_core.h"
#include <memory>
#include <thread>
#include <vector>
inline float __ldcs(const float* p) { return *p; }
inline void __stcs(float* p, float v) { *p = v; }
inline float __fdividef(float a, float b) { return a / b; }
namespace me {
struct ScanShape { bool ssd; int B, T; int I; int N; int H, P, G; float dtMin, dtMax; };
struct ScanArgs { const float *x, *dt, *dtBias, *A, *Bm, *Cm, *D, *z; float* state; float* y; };
enum Start : int { kFromZero, kFromState, kFromScratch };
enum End : int { kToState, kToScratch, kNoEnd };
inline float ex2(float x) { return exp2f(x); }
inline float softplusf(float x) { return x > 20.f ? x : log1pf(expf(x)); }  // common.cuh's
inline void cpAsync4(float* dst, const float* src, bool valid) { *dst = valid ? *src : 0.f; }
inline unsigned blocksFor(int64_t n, int threads) { return (unsigned)((n + threads - 1) / threads); }
}
// Warp shuffles and __syncwarp (scan_fast.cuh's warpScanAffine, compiled with scan_tiled.cu): each warp's 32 threads meet at a barrier of their own, write
// their value, meet again and read their source lane's. Every lane of a warp must make the same calls (the
// kernels call them with full masks and warp-uniform control flow).
namespace me_emu { inline std::vector<std::barrier<>*> warpBars; inline float shflBuf[1024]; }
inline std::barrier<>& warpBar() { return *me_emu::warpBars[threadIdx.x / 32]; }
inline void __syncwarp(unsigned = 0xffffffffu) { warpBar().arrive_and_wait(); }
inline float shflFrom(float v, int src) {
  const int t = threadIdx.x, base = t & ~31;
  me_emu::shflBuf[t] = v;
  warpBar().arrive_and_wait();
  const float r = me_emu::shflBuf[base + src];
  warpBar().arrive_and_wait();
  return r;
}
inline float __shfl_up_sync(unsigned, float v, unsigned d) { const int l = threadIdx.x & 31; return shflFrom(v, l >= (int)d ? l - (int)d : l); }
inline float __shfl_sync(unsigned, float v, int src) { return shflFrom(v, src & 31); }

// A <<<grid, threads>>> launch of f, block by block, each block's threads as std::threads sharing a barrier.
template <class F> void launch(dim3 grid, int threads, F f) {
  me_emu::gdim = grid; me_emu::bdim = dim3(threads, 1, 1);
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  me_emu::warpBars.clear();
  for (int w = 0; w < (threads + 31) / 32; w++) {
    warps.push_back(std::make_unique<std::barrier<>>(std::min(32, threads - 32 * w)));
    me_emu::warpBars.push_back(warps.back().get());
  }
  for (unsigned by = 0; by < grid.y; by++) for (unsigned bx = 0; bx < grid.x; bx++) {
    me_emu::bid = make_uint3(bx, by, 0);
    std::barrier<> bar(threads); me_emu::bar = &bar;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) ts.emplace_back([&, t] { me_emu::tid = make_uint3(t, 0, 0); f(); });
    for (auto& t : ts) t.join();
  }
}
