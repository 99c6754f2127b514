// Host emulation of the few CUDA built-ins scan_tiled.cu's and ssd_tiled.cu's kernels use (tools/cuda-emu/run.mjs): a block's
// threads are std::threads, __syncthreads a std::barrier, __shared__ arrays function statics (one block
// runs at a time), cp.async a synchronous copy, ex2 / lg2 libm's exp2f / log2f. It checks index math,
// tails, staging and the pass / carry logic on a machine without a GPU — not timing, not races between
// asynchronous copies, not the SFU approximations (test/cuda/scan.test.ts does those on a GPU).
#pragma once
#include <cmath>
#include <cstring>
#include <cstdint>
#include <algorithm>
#include <barrier>
#include <vector_types.h>
#include <vector_functions.h>
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__
#define __syncthreads() (me_emu::bar->arrive_and_wait())
namespace me_emu { inline std::barrier<>* bar; inline thread_local uint3 tid; inline uint3 bid; inline dim3 bdim, gdim; }
#define threadIdx (me_emu::tid)
#define blockIdx (me_emu::bid)
#define blockDim (me_emu::bdim)
#define gridDim (me_emu::gdim)
using std::min; using std::max;
inline float __ldcs(const float* p) { return *p; }
inline void __stcs(float* p, float v) { *p = v; }
inline float __fdividef(float a, float b) { return a / b; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
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
