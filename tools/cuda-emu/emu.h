// Host emulation of the few CUDA built-ins scan_tiled.cu's and ssd_tiled.cu's kernels use (tools/cuda-emu/run.mjs): a block's
// threads are std::threads, __syncthreads a std::barrier, __shared__ arrays function statics (one block
// runs at a time), cp.async a synchronous copy, ex2 / lg2 libm's exp2f / log2f. It checks index math,
// tails, staging and the pass / carry logic on a machine without a GPU — not timing, not races between
// asynchronous copies, not the SFU approximations (test/cuda/scan.test.ts does those on a GPU).
#pragma once
#include "emu_core.h"
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
// A <<<grid, threads>>> launch of f, block by block, each block's threads as std::threads sharing a barrier.
template <class F> void launch(dim3 grid, int threads, F f) {
  me_emu::gdim = grid; me_emu::bdim = dim3(threads, 1, 1);
  for (unsigned by = 0; by < grid.y; by++) for (unsigned bx = 0; bx < grid.x; bx++) {
    me_emu::bid = make_uint3(bx, by, 0);
    std::barrier<> bar(threads); me_emu::bar = &bar;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) ts.emplace_back([&, t] { me_emu::tid = make_uint3(t, 0, 0); f(); });
    for (auto& t : ts) t.join();
  }
}
