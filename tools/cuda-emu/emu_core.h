// The part of tools/cuda-emu's CUDA emulation that every kernel needs (emu.h, decode_emu.h include it): a
// block's threads are std::threads, __syncthreads a std::barrier, __shared__ arrays function statics (one
// block runs at a time), threadIdx / blockIdx / blockDim / gridDim per-thread or per-launch variables.
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
#undef __launch_bounds__
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
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
