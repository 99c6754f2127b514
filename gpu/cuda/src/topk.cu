// The k largest entries of one row of logits, so generation reads back k (id, value) pairs instead of
// a vocabulary of logits (Backend.readTopK). The same rule as gpu/wgsl/top_k.wgsl and src/api/sampler.ts:
// ties go to the lower id, NaN and −∞ are never candidates, so the host's seeded draw over these
// candidates picks the token it would pick from the full row.
// One block of 1024 threads, on order-preserving u32 keys:
//   1. the k-th largest key, a radix select of four 8-bit digits (a 256-bin shared histogram each);
//   2. every entry above it, then entries equal to it in id order until k: each thread owns a contiguous
//      block of ids, and output positions come from block-wide prefix sums of the per-thread counts.
#include "common.cuh"

namespace me {

constexpr int kTopKThreads = 1024;
constexpr uint32_t kInvalid = 0x007fffffu;  // key of −∞; NaN maps to 0: keys ≤ kInvalid are never candidates

__device__ __forceinline__ uint32_t orderKey(float v) {
  uint32_t b = __float_as_uint(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) return 0u;  // NaN
  if (b == 0x80000000u) b = 0u;                    // −0 ties with +0
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

/** Exclusive prefix sum over the block (blockDim.x = 1024); `total` gets the sum. */
__device__ __forceinline__ uint32_t blockExclusiveSum(uint32_t v, uint32_t* warpSums, uint32_t* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint32_t inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    const uint32_t t = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += t;
  }
  __syncthreads();  // warpSums may still be read by a previous call
  if (lane == 31) warpSums[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    uint32_t w = warpSums[lane];
    uint32_t wi = w;
    for (int o = 1; o < 32; o <<= 1) {
      const uint32_t t = __shfl_up_sync(0xffffffffu, wi, o);
      if (lane >= o) wi += t;
    }
    warpSums[lane] = wi - w;  // exclusive over warps
    if (lane == 31) *total = wi;
  }
  __syncthreads();
  return warpSums[warp] + inc - v;
}

__global__ void __launch_bounds__(kTopKThreads) topK(uint32_t* out, const float* __restrict__ x, int V, int k) {
  __shared__ uint32_t hist[256];
  __shared__ uint32_t warpSums[32];
  __shared__ uint32_t sPrefix, sRemaining, sGtTotal, sEqTotal;
  const int tid = threadIdx.x;
  uint32_t prefix = 0, mask = 0;
  if (tid == 0) sRemaining = (uint32_t)k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (tid < 256) hist[tid] = 0;
    __syncthreads();
    // Logits crowd into few bins: lanes of a warp that hit the same bin add once (warp-aggregated),
    // so the whole warp's trip count is uniform (i runs to V rounded up) for __match_any_sync.
    for (int i0 = tid - (tid & 31); i0 < V; i0 += kTopKThreads) {
      const int i = i0 + (tid & 31);
      const uint32_t key = i < V ? orderKey(x[i]) : 0u;
      const bool counted = key > kInvalid && (key & mask) == prefix;
      const uint32_t bin = counted ? (key >> shift) & 255u : 256u;
      const unsigned peers = __match_any_sync(0xffffffffu, bin);
      if (counted && __ffs(peers) - 1 == (tid & 31)) atomicAdd(&hist[bin], (uint32_t)__popc(peers));
    }
    __syncthreads();
    if (tid == 0) {
      uint32_t want = sRemaining, cum = 0;
      int digit = -1;
      for (int d = 255; d >= 0; d--) {
        if (cum + hist[d] >= want) {
          digit = d;
          break;
        }
        cum += hist[d];
      }
      if (digit < 0) {
        // Fewer than k valid entries in this range: take them all (threshold just above kInvalid).
        sPrefix = 0xffffffffu;
      } else {
        sPrefix = prefix | ((uint32_t)digit << shift);
        sRemaining = want - cum;
      }
    }
    __syncthreads();
    if (sPrefix == 0xffffffffu) break;
    prefix = sPrefix;
    mask |= 255u << shift;
  }
  // thr: the k-th largest key; entries > thr are all taken, entries == thr in id order until k.
  const bool takeAll = sPrefix == 0xffffffffu;
  const uint32_t thr = takeAll ? kInvalid + 1 : prefix;
  const int per = (V + kTopKThreads - 1) / kTopKThreads;
  const int i0 = min(V, tid * per), i1 = min(V, i0 + per);
  uint32_t gt = 0, eq = 0;
  for (int i = i0; i < i1; i++) {
    const uint32_t key = orderKey(x[i]);
    if (key <= kInvalid) continue;
    if (key > thr) gt++;
    else if (key == thr) eq++;
  }
  const uint32_t gtAt = blockExclusiveSum(gt, warpSums, &sGtTotal);
  const uint32_t eqAt = blockExclusiveSum(eq, warpSums, &sEqTotal);
  const uint32_t gtTotal = sGtTotal;
  const uint32_t eqTake = min(sEqTotal, (uint32_t)k - min((uint32_t)k, gtTotal));
  uint32_t g = gtAt, e = eqAt;
  for (int i = i0; i < i1; i++) {
    const float v = x[i];
    const uint32_t key = orderKey(v);
    if (key <= kInvalid) continue;
    int pos = -1;
    if (key > thr) pos = (int)g++;
    else if (key == thr && e < eqTake) pos = (int)(gtTotal + e++);
    if (pos >= 0 && pos < k) {
      out[1 + pos] = (uint32_t)i;
      out[1 + k + pos] = __float_as_uint(v);
    }
  }
  if (tid == 0) out[0] = min((uint32_t)k, gtTotal + eqTake);
}

cudaError_t launchTopK(uint32_t* out, const float* x, int V, int k, cudaStream_t s) {
  if (V <= 0 || k <= 0) return cudaMemsetAsync(out, 0, 4, s);
  topK<<<1, kTopKThreads, 0, s>>>(out, x, V, k);
  return cudaGetLastError();
}

}  // namespace me
