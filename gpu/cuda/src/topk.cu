// The k largest entries of one row of logits, so generation reads back k (id, value) pairs instead of
// a vocabulary of logits (Backend.readTopK). The same rule as gpu/wgsl/top_k.wgsl and src/api/sampler.ts:
// ties go to the lower id, NaN and −∞ are never candidates, so the host's seeded draw over these
// candidates picks the token it would pick from the full row.
// One block of 1024 threads, on order-preserving u32 keys:
//   1. the k-th largest key, a radix select of four 8-bit digits (a 256-bin shared histogram each);
//   2. every entry above it, then entries equal to it in id order until k: each thread owns a contiguous
//      block of ids, and output positions come from block-wide prefix sums of the per-thread counts.
#include "common.cuh"
#include "pdl.cuh"

namespace me {

constexpr int kTopKThreads = 1024;
// orderKey and kInvalid (common.cuh): the candidate rule's order, shared with decode.cu's greedy epilogue.

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

/** The top-k of x[0, V) into out (the body of topK and topKSample; one block of kTopKThreads). */
__device__ __forceinline__ void topKRow(uint32_t* out, const float* __restrict__ x, int V, int k) {
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

/**
 * k = 1 (greedy decoding): the largest key in one pass instead of topKRow's four radix passes — each
 * thread keeps its best (the first of equal keys: its ids ascend), then the block reduces (larger key,
 * then lower id). Same rule: NaN and −∞ never count, so no finite entry gives a count of 0.
 */
__device__ __forceinline__ void argmaxRow(uint32_t* out, const float* __restrict__ x, int V) {
  __shared__ uint32_t sKey[32];
  __shared__ int sAt[32];
  uint32_t best = 0;
  int at = 0x7fffffff;
#pragma unroll 8
  for (int i = threadIdx.x; i < V; i += kTopKThreads) {
    const uint32_t key = orderKey(x[i]);
    if (key > best) {
      best = key;
      at = i;
    }
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    const uint32_t k2 = __shfl_xor_sync(0xffffffffu, best, o);
    const int a2 = __shfl_xor_sync(0xffffffffu, at, o);
    if (k2 > best || (k2 == best && a2 < at)) {
      best = k2;
      at = a2;
    }
  }
  if (lane == 0) {
    sKey[warp] = best;
    sAt[warp] = at;
  }
  __syncthreads();
  if (warp == 0) {
    best = sKey[lane];  // kTopKThreads / 32 = 32 warps: every lane holds one
    at = sAt[lane];
    for (int o = 16; o > 0; o >>= 1) {
      const uint32_t k2 = __shfl_xor_sync(0xffffffffu, best, o);
      const int a2 = __shfl_xor_sync(0xffffffffu, at, o);
      if (k2 > best || (k2 == best && a2 < at)) {
        best = k2;
        at = a2;
      }
    }
    if (lane == 0) {
      const bool found = best > kInvalid;
      out[0] = found ? 1u : 0u;
      if (found) {
        out[1] = (uint32_t)at;
        out[2] = __float_as_uint(x[at]);
      }
    }
  }
}

__global__ void __launch_bounds__(kTopKThreads) topK(uint32_t* out, const float* __restrict__ x, int V, int k) {
  pdlTrigger();
  if (k == 1) argmaxRow(out, x, V);
  else topKRow(out, x, V, k);
}

__device__ __forceinline__ bool rankedAhead(float va, uint32_t ia, float vb, uint32_t ib) { return va > vb || (va == vb && ia < ib); }

/**
 * The top-k, then one token chosen from it by src/api/sampler.ts's rule (`sampleToken`), as
 * gpu/wgsl/sample_top_k.wgsl does for the webgpu backend: candidates best first (logit descending,
 * ties to the lower id); greedy takes the first; otherwise weights exp((l − l_max) / temperature), the
 * shortest prefix whose share of the total is ≥ topP, and the first candidate whose running weight
 * exceeds u × (kept weight). The host computes the same in f64 and checks this f32 answer on every
 * token (sampleFromCandidates): a disagreement (u within f32 rounding of a boundary) re-runs one step.
 * Thread j < n ranks candidate j by counting those ahead of it; thread 0 walks the ranked weights.
 */
__device__ __forceinline__ void sampleRow(uint32_t* out, const float* __restrict__ x, int V, int k, bool greedy, float temperature, float topP,
                                          float u) {
  __shared__ uint32_t rid[kSampleMaxK];
  __shared__ float rval[kSampleMaxK];
  if (k == 1) argmaxRow(out, x, V);
  else topKRow(out, x, V, k);
  __syncthreads();  // out[] was written by other threads of this block
  const int lid = threadIdx.x;
  const uint32_t n = min(out[0], (uint32_t)k);
  if (lid < (int)n) {
    const uint32_t id = out[1 + lid];
    const float v = __uint_as_float(out[1 + k + lid]);
    uint32_t rank = 0;
    for (uint32_t j = 0; j < n; j++) {
      if (rankedAhead(__uint_as_float(out[1 + k + j]), out[1 + j], v, id)) rank++;
    }
    rid[rank] = id;
    rval[rank] = v;
  }
  __syncthreads();
  if (lid != 0) return;
  uint32_t* chosen = out + 1 + 2 * k;
  uint32_t pick = 0xffffffffu;
  if (n == 0) {
  } else if (greedy) {
    pick = rid[0];
  } else {
    // +∞ logits (compared on the bits) are equally likely and everything else impossible, as in the host rule.
    const bool maxInf = __float_as_uint(rval[0]) == 0x7f800000u;
    const float top = rval[0];
    float total = 0.f;
    for (uint32_t i = 0; i < n; i++) {
      const float w = maxInf ? (__float_as_uint(rval[i]) == 0x7f800000u ? 1.f : 0.f) : expf((rval[i] - top) / temperature);
      rval[i] = w;  // the logits are not needed past here: keep the weights in their place
      total += w;
    }
    uint32_t kept = n;
    float keptWeight = total;
    if (topP < 1.f) {
      float cum = 0.f;
      for (uint32_t i = 0; i < n; i++) {
        cum += rval[i];
        if (cum / total >= topP) {
          kept = i + 1;
          keptWeight = cum;
          break;
        }
      }
    }
    const float r = u * keptWeight;
    float cum = 0.f;
    uint32_t last = 0;
    pick = 0xffffffffu;
    for (uint32_t i = 0; i < kept; i++) {
      if (rval[i] == 0.f) continue;
      cum += rval[i];
      last = i;
      if (cum > r) {
        pick = rid[i];
        break;
      }
    }
    if (pick == 0xffffffffu) pick = rid[last];
  }
  chosen[0] = pick;
  chosen[1] = pick == 0xffffffffu ? 0u : pick;  // what the next step's embedding reads: always a row of the table
}

__global__ void __launch_bounds__(kTopKThreads) topKSample(uint32_t* out, const float* __restrict__ x, int V, int k, bool greedy,
                                                           float temperature, float topP, float u) {
  pdlTrigger();
  sampleRow(out, x, V, k, greedy, temperature, topP, u);
}

/**
 * topKSample inside the run-ahead step graph: launched with PDL after the head GEMV (so its launch overlaps
 * that GEMV's tail), the draw's temperature, top-p and u read from params [3], which the host writes before
 * each launch of the graph (the graph's own arguments stay as recorded).
 */
__global__ void __launch_bounds__(kTopKThreads) topKSampleFrom(uint32_t* out, const float* __restrict__ x, int V, int k, bool greedy,
                                                               const float* __restrict__ params, int32_t* idOut) {
  pdlWait();
  pdlTrigger();
  const float temperature = greedy ? 1.f : params[0], topP = greedy ? 1.f : params[1], u = greedy ? 0.f : params[2];
  sampleRow(out, x, V, k, greedy, temperature, topP, u);
  // Thread 0 wrote the id the next embedding reads (out[2 + 2k]); the next launch's embedding reads it from idOut.
  if (threadIdx.x == 0 && idOut) *idOut = (int32_t)out[2 + 2 * k];
}

cudaError_t launchTopKSampleFrom(uint32_t* out, const float* x, int V, int k, bool greedy, const float* params, int32_t* idOut, cudaStream_t s) {
  if (V <= 0 || k <= 0 || k > kSampleMaxK || (!greedy && !params)) return cudaErrorInvalidValue;
  return launchPdl(topKSampleFrom, dim3(1), dim3(kTopKThreads), 0, s, out, x, V, k, greedy, params, idOut);
}

cudaError_t launchTopKSample(uint32_t* out, const float* x, int V, int k, bool greedy, float temperature, float topP, float u, cudaStream_t s) {
  if (V <= 0 || k <= 0 || k > kSampleMaxK) return cudaErrorInvalidValue;
  topKSample<<<1, kTopKThreads, 0, s>>>(out, x, V, k, greedy, temperature, topP, u);
  return cudaGetLastError();
}

cudaError_t launchTopK(uint32_t* out, const float* x, int V, int k, cudaStream_t s) {
  if (V <= 0 || k <= 0) return cudaMemsetAsync(out, 0, 4, s);
  topK<<<1, kTopKThreads, 0, s>>>(out, x, V, k);
  return cudaGetLastError();
}

}  // namespace me
