// Batch-1 decode kernels: what a decode step of ~100 dependent launches needs beyond the generic ops.
// A step of mamba-130m moves 0.5 GB of weights, 0.19 ms at the copy's bandwidth, yet took ~1 ms as 171
// kernels of 5–7 µs: each kernel pays a launch, a ramp and a few DRAM round trips in series. So:
//  - fewer kernels: a norm folded into the GEMV that reads its output (every block forms the row in
//    shared memory itself; block 0 also writes it, and the residual sum, for later readers), and
//    Mamba-1's dt_proj folded into its scan step (48 multiply-adds per channel);
//  - overlap between them: programmatic dependent launch (pdl.cuh), each GEMV loading its first
//    weights before it waits for the kernel before it.
#include <algorithm>
#include "common.cuh"
#include "pdl.cuh"

namespace me {

static bool gPdl = false;
bool pdlOn() { return gPdl; }
bool setPdl(bool on, int major) {
  gPdl = on && major >= 9;
  return gPdl;
}

constexpr int kDgWarps = 8;
/** float4s of weights per lane held in registers before the dependency wait (the first 1,024 of a row). */
constexpr int kDgPrefetch = 8;

/** Column `col` of the batch's concatenated outputs → (matrix, row of it); false past the end. */
__device__ __forceinline__ bool locate(const GemvBatch& batch, int col, int& item, int& m) {
  int i = 0;
  while (i < batch.count && col >= batch.item[i].M) col -= batch.item[i++].M;
  item = i;
  m = col;
  return i < batch.count;
}

/** conv1d.cu conv1dStep's output for channel i of one T = 1 conv (the state only read). */
__device__ __forceinline__ float convOut(const float* w, const float* bias, const float* state, const float* x, int i, int K, bool silu) {
  const int hist = K - 1;
  const float* st = state + (int64_t)i * hist;
  float acc = bias ? bias[i] : 0.f;
  for (int k = 0; k < hist; k++) acc += w[(int64_t)i * K + k] * st[k];
  acc += w[(int64_t)i * K + hist] * x[i];
  return silu ? siluf(acc) : acc;
}

/**
 * conv1dStep's state shift for channel i: state ← src's last K − 2 entries ++ x[i] (src == state: in place, as
 * conv1dStep; src ≠ state: a ping-pong step graph's read block and write block, the same values).
 */
__device__ __forceinline__ void convShiftOne(float* state, const float* src, const float* x, int i, int K) {
  float* st = state + (int64_t)i * (K - 1);
  const float* sr = src + (int64_t)i * (K - 1);
  for (int k = 0; k + 2 < K; k++) st[k] = sr[k + 1];
  if (K > 1) st[K - 2] = x[i];
}

/** The prologue: x [K] into shared memory (see RowPrologue); the same arithmetic, in the same order, as norms.cu. */
__device__ __forceinline__ void formRow(float* xs, const float* x, int K, const RowPrologue& p) {
  const bool first = blockIdx.x == 0;
  if (p.kind == 0) {
    for (int k = threadIdx.x; k < K; k += blockDim.x) xs[k] = x[k];
    return;
  }
  if (p.kind == 3) {  // conv1d.cu conv1dStep's output, same order; the state is shifted by a later kernel
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
      const float v = convOut(p.w, p.b, p.state, p.a, k, p.convK, p.silu);
      xs[k] = v;
      if (first && p.normed) p.normed[k] = v;
    }
    return;
  }
  if (p.kind == 1) {  // norms.cu rmsNorm / addRmsNorm
    float ss = 0.f;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
      const float v = p.b ? p.a[k] + p.b[k] : p.a[k];
      if (first && p.sum) p.sum[k] = v;
      xs[k] = v;
      ss += v * v;
    }
    const float inv = rsqrtf(blockSum(ss) / K + p.eps);
    for (int k = threadIdx.x; k < K; k += blockDim.x) {  // each thread rescales only the entries it wrote
      const float v = p.w[k] * (xs[k] * inv);
      xs[k] = v;
      if (first && p.normed) p.normed[k] = v;
    }
    return;
  }
  // norms.cu gatedRmsNorm: g = a · silu(b), rmsnorm over groups of p.group, · w.
  for (int g0 = 0; g0 < K; g0 += p.group) {
    float ss = 0.f;
    for (int k = threadIdx.x; k < p.group; k += blockDim.x) {
      const float g = p.a[g0 + k] * siluf(p.b[g0 + k]);
      xs[g0 + k] = g;
      ss += g * g;
    }
    const float inv = rsqrtf(blockSum(ss) / p.group + p.eps);
    for (int k = threadIdx.x; k < p.group; k += blockDim.x) {
      const float v = p.w[g0 + k] * (xs[g0 + k] * inv);
      xs[g0 + k] = v;
      if (first && p.normed) p.normed[g0 + k] = v;
    }
  }
}

/** The convs of `ce` whose input is output `item` of the GEMV batch: channel m's conv of v = y_item[m] (conv1dStepBatch's arithmetic). */
__device__ __forceinline__ void convEpilogue(const ConvEpilogues& ce, int item, int m, float v) {
  const int K = ce.K, hist = K - 1;
  for (int j = 0; j < ce.count; j++) {
    const ConvEpilogue& e = ce.e[j];
    if (e.item != item) continue;
    float* st = e.state + (int64_t)m * hist;
    const float* sr = (e.src ? e.src : e.state) + (int64_t)m * hist;  // the state before the step (ping-pong: the other block)
    float acc = e.bias ? e.bias[m] : 0.f;
    if (e.snap) {
      float* sp = e.snap + (int64_t)m * hist;
      for (int k = 0; k < hist; k++) sp[k] = sr[k];
    }
    for (int k = 0; k < hist; k++) acc += e.w[m * K + k] * sr[k];
    acc += e.w[m * K + hist] * v;
    for (int k = 0; k + 1 < hist; k++) st[k] = sr[k + 1];
    if (hist > 0) st[hist - 1] = v;
    e.out[m] = ce.silu ? siluf(acc) : acc;
  }
}

/**
 * One row through the batch's matrices: S warps per output column (S = 1: a warp per column, matmul.cu
 * gemvColumn's order), grid-stride over the columns of all matrices, the row in shared memory.
 * S > 1 (split-K, for matrices with few rows such as out_proj's 768: one warp a column leaves too few bytes in
 * flight): warp `slice` of a column's S takes the float4s lane + 32·(slice + S·j), its lanes' sum goes to
 * shared memory after the row, and the column's first warp adds the S partial sums in slice order — a fixed
 * order, so the result is the same on every run (not bit-equal to S = 1's).
 * EPI: the convs of `epi` applied to the outputs they read, by the lane that writes them.
 */
template <int WT, int EPI>  // EPI 0: none; 1: the convs of `epi`; 2: the greedy draw `am` (one matrix)
__global__ void __launch_bounds__(kDgWarps * 32) decodeGemv(GemvBatch batch, const float* x, int K, RowPrologue pro, int total, ConvEpilogues epi,
                                                          ArgmaxEpilogue am, int S) {
  unsigned long long best = 0;  // EPI 2, lane 0: this warp's (key << 32 | ~id), largest wins: larger key, then lower id
  extern __shared__ float4 xs4[];
  float* xs = reinterpret_cast<float*>(xs4);
  float* part = xs + K;  // S > 1: [2][kDgWarps] partial sums (two buffers: one barrier an iteration)
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int nk4 = K >> 2;
  const int perBlock = kDgWarps / S;  // columns a block takes at a time
  const int slice = warp % S;
  const int col0 = blockIdx.x * perBlock + warp / S;
  const int k40 = lane + 32 * slice, kStep = 32 * S;  // this warp's float4s of a row: k40 + kStep·j
  // Before the wait: this warp's first column's weights (no kernel writes weights).
  float pw[kDgPrefetch][4];
  int item, m;
  if (locate(batch, col0, item, m)) {
    const void* w = batch.item[item].w;
    const int64_t row = (int64_t)m * K;
#pragma unroll
    for (int j = 0; j < kDgPrefetch; j++) {
      const int k4 = k40 + kStep * j;
      if (k4 < nk4) load4<WT>(w, row + 4 * (int64_t)k4, pw[j]);
    }
  }
  pdlWait();
  pdlTrigger();
  formRow(xs, x, K, pro);
  __syncthreads();
  int buf = 0;
  for (int base = blockIdx.x * perBlock; base < total; base += gridDim.x * perBlock) {  // block-uniform (S > 1 has a barrier in it)
    const int col = base + warp / S;
    const bool have = col < total;  // warp-uniform
    float s = 0.f;
    if (have) {
      locate(batch, col, item, m);
      const GemvItem& g = batch.item[item];
      const int64_t row = (int64_t)m * K;
      float acc = 0.f;
      int k4 = k40;
      if (col == col0) {
#pragma unroll
        for (int j = 0; j < kDgPrefetch; j++) {
          if (k4 < nk4) {
            const float4 xv = xs4[k4];
            acc += pw[j][0] * xv.x + pw[j][1] * xv.y + pw[j][2] * xv.z + pw[j][3] * xv.w;
          }
          k4 += kStep;
        }
      }
#pragma unroll 4
      for (; k4 < nk4; k4 += kStep) {
        float wv[4];
        load4<WT>(g.w, row + 4 * (int64_t)k4, wv);
        const float4 xv = xs4[k4];
        acc += wv[0] * xv.x + wv[1] * xv.y + wv[2] * xv.z + wv[3] * xv.w;
      }
      s = groupSum(acc, 32);
    }
    if (S > 1) {
      if (lane == 0) part[buf * kDgWarps + warp] = s;
      __syncthreads();  // the other buffer's readers passed this barrier before anyone writes it again
      if (lane == 0 && slice == 0) {
        s = part[buf * kDgWarps + warp];
        for (int i = 1; i < S; i++) s += part[buf * kDgWarps + warp + i];
      }
      buf ^= 1;
    }
    if (have && lane == 0 && slice == 0) {
      const GemvItem& g = batch.item[item];
      const float v = s + (g.bias ? g.bias[m] : 0.f);
      g.y[m] = v;
      if constexpr (EPI == 1) convEpilogue(epi, item, m, v);
      if constexpr (EPI == 2) {
        const unsigned long long p = ((unsigned long long)orderKey(v) << 32) | (0xffffffffu - (uint32_t)m);
        if (p > best) best = p;
      }
    }
  }
  if constexpr (EPI == 2) {  // (its shared words only in this variant: the others keep the whole 48 KB for the row)
    __shared__ unsigned long long sBest[kDgWarps];
    __shared__ bool sLast;
    if (lane == 0) sBest[warp] = best;
    __threadfence();  // every lane's logits visible device-wide before this block is counted
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long b = sBest[0];
      for (int w = 1; w < kDgWarps; w++) b = sBest[w] > b ? sBest[w] : b;
      atomicMax(&am.scratch[0], b);
      __threadfence();  // its atomicMax before its count
      sLast = atomicAdd(&am.scratch[1], 1ull) == (unsigned long long)gridDim.x - 1;
    }
    __syncthreads();
    if (sLast && threadIdx.x == 0) {  // every block's logits and best are in
      __threadfence();
      const unsigned long long b = atomicAdd(&am.scratch[0], 0ull);
      const uint32_t key = (uint32_t)(b >> 32), id = 0xffffffffu - (uint32_t)b;
      const bool found = key > kInvalid;
      am.out[0] = found ? 1u : 0u;
      am.out[1] = found ? id : 0u;
      am.out[2] = found ? __float_as_uint(__ldcg(batch.item[0].y + id)) : 0u;
      am.out[3] = found ? id : 0xffffffffu;
      am.out[4] = found ? id : 0u;  // what the next step's embedding reads: always a row of the table
      if (am.idOut) *am.idOut = (int32_t)am.out[4];
      am.scratch[0] = 0ull;  // for the next launch (a graph replays this one)
      am.scratch[1] = 0ull;
    }
  }
}

static int gSplitK = 0;
/** Split-K only up to this K: its 64 bytes of partial sums beside the row, with the static shared words (blockSum's,
 * the greedy draw's), stay well inside the 48 KB (out_proj's K is 2·d_model: 1,536-5,120 for 130M-2.8B). */
constexpr int kDecodeSplitMaxK = 8192;
int setDecodeSplit(int mode) {
  gSplitK = mode == -1 || mode == 2 || mode == 4 || mode == 8 ? mode : 0;
  return gSplitK;
}

/**
 * Warps per column for decodeGemv (setDecodeSplit's mode: 0 one; 2, 4, 8 that many; −1 chosen here): the most
 * (≤ 8) that keep every column's warp resident in one wave (4 blocks of 8 warps an SM, launchDecodeGemv's
 * grid) and give each warp at least 64 float4s of the row (two of the 8 prefetched per lane; shorter slices
 * only add barriers). out_proj of the 130M models (768 columns, K = 1,536) on 132 SMs: 4; their in_proj and
 * the head: 1 (3,072-50,280 columns already fill the wave).
 */
static int splitFor(int total, int K, int multiprocessors) {
  if (gSplitK == 0 || K > kDecodeSplitMaxK) return 1;
  if (gSplitK > 0) return gSplitK;
  const int64_t wave = 4LL * kDgWarps * std::max(1, multiprocessors);
  int S = 1;
  while (S < kDgWarps && (int64_t)total * (2 * S) <= wave && (K >> 2) / (2 * S) >= 64) S *= 2;
  return S;
}

cudaError_t launchDecodeGemv(const GemvBatch& batch, const float* x, WeightType wt, int K, const RowPrologue& pro, int multiprocessors,
                             cudaStream_t s, const ConvEpilogues* epi, const ArgmaxEpilogue* argmax) {
  int total = 0;
  for (int i = 0; i < batch.count; i++) total += batch.item[i].M;
  if (K % 4 != 0 || K <= 0 || K > kDecodeGemvMaxK || (pro.kind == 2 && (pro.group <= 0 || K % pro.group != 0)) || (pro.kind == 3 && pro.convK < 1)) {
    return cudaErrorInvalidValue;
  }
  if (total <= 0) return cudaGetLastError();
  // One wave: at most 4 blocks of 256 threads per SM are resident, so every warp's first loads are in
  // flight at once; a warp then takes further columns (the head's 50k) in turn.
  const int S = splitFor(total, K, multiprocessors);
  const unsigned grid = (unsigned)std::min<int64_t>(blocksFor(total, kDgWarps / S), 4LL * std::max(1, multiprocessors));
  const size_t smem = ((size_t)K + (S > 1 ? 2 * kDgWarps : 0)) * sizeof(float);
  ConvEpilogues e{};
  if (epi && epi->count > 0) {
    if (epi->count > kConvEpilogueMax || epi->K < 1) return cudaErrorInvalidValue;
    for (int j = 0; j < epi->count; j++) {
      const ConvEpilogue& c = epi->e[j];
      if (c.item < 0 || c.item >= batch.count || !c.w || !c.state || !c.out) return cudaErrorInvalidValue;
    }
    e = *epi;
  }
  ArgmaxEpilogue am{};
  if (argmax) {
    if (e.count > 0 || batch.count != 1 || !argmax->scratch || !argmax->out) return cudaErrorInvalidValue;
    am = *argmax;
  }
  const dim3 g(grid), b(kDgWarps * 32);
  if (argmax) {
    switch (wt) {
      case kF32: return launchPdl(decodeGemv<kF32, 2>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
      case kF16: return launchPdl(decodeGemv<kF16, 2>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
      case kBF16: return launchPdl(decodeGemv<kBF16, 2>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
    }
    return cudaErrorInvalidValue;
  }
  if (e.count > 0) {
    switch (wt) {
      case kF32: return launchPdl(decodeGemv<kF32, 1>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
      case kF16: return launchPdl(decodeGemv<kF16, 1>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
      case kBF16: return launchPdl(decodeGemv<kBF16, 1>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
    }
    return cudaErrorInvalidValue;
  }
  switch (wt) {
    case kF32: return launchPdl(decodeGemv<kF32, 0>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
    case kF16: return launchPdl(decodeGemv<kF16, 0>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
    case kBF16: return launchPdl(decodeGemv<kBF16, 0>, g, b, smem, s, batch, x, K, pro, total, e, am, S);
  }
  return cudaErrorInvalidValue;
}

/**
 * Mamba-1, one token (MambaMixer.slow_forward with T = 1, as scan.cu's scanTile computes it, plus dt_proj):
 *   dt = W_dt · dtLow;  Δ = softplus(dt + dt_bias);  h_n ← exp(Δ·A[i,n])·h_n + Δ·x·B_n;  y = (Σ_n C_n·h_n + D·x)·silu(z)
 * L lanes per channel (L = pow2ceil(N) ≤ 32): they split dt's R products and the N state entries, and
 * sum each with a shuffle reduction.
 */
template <int WT>
__global__ void __launch_bounds__(256) scanDtStep(ScanDtArgs a, int L) {
  const int c0 = (blockIdx.x * blockDim.x + threadIdx.x) / L;
  const int lane = threadIdx.x % L;
  const bool active = c0 < a.I;  // idle lanes take part in the shuffles on channel 0's data
  const int c = active ? c0 : 0;
  const float dtBias = a.dtBias[c], Dv = a.D[c];
  pdlWait();
  pdlTrigger();
  float dt = 0.f;
  for (int r = lane; r < a.R; r += L) dt += loadW<WT>(a.wDt, (int64_t)c * a.R + r) * a.dtLow[r];
  dt = groupSum(dt, L);
  const float delta = softplusf(dt + dtBias);
  const float xv = a.x[c];
  const float dx = delta * xv;
  const float* hIn = a.stateIn ? a.stateIn : a.state;  // h before the step (ping-pong: the graph's read block)
  float acc = 0.f;
  for (int n = lane; n < a.N; n += L) {
    const int64_t at = (int64_t)c * a.N + n;
    const float dA = exp2f(delta * (a.A[at] * 1.4426950408889634f));  // scan.cu: exp(Δ·A) as exp2(Δ·A·log2 e)
    const float h0 = hIn[at];
    const float h = dA * h0 + dx * a.Bm[n];
    if (active && a.snap) a.snap[at] = h0;  // the undo point of a run-ahead step, from the read the update makes anyway
    if (active) a.state[at] = h;
    acc += h * a.Cm[n];
  }
  const float sum = groupSum(acc, L);
  if (active && lane == 0) {
    a.y[c] = (sum + Dv * xv) * siluf(a.z[c]);
    a.dtOut[c] = dt;
    if (a.convState) convShiftOne(a.convState, a.convIn ? a.convIn : a.convState, a.convX, c, a.convK);  // left by the conv folded into x_proj (which read the old state)
  }
}

__global__ void __launch_bounds__(256) convShift(float* state, const float* src, const float* x, int C, int K) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  pdlWait();
  pdlTrigger();
  if (c < C) convShiftOne(state, src, x, c, K);
}

cudaError_t launchConvShift(float* state, const float* x, int C, int K, cudaStream_t s, const float* src) {
  if (C <= 0 || K <= 1) return cudaGetLastError();
  return launchPdl(convShift, dim3(blocksFor(C, 256)), dim3(256), 0, s, state, src ? src : state, x, C, K);
}

cudaError_t launchScanDtStep(const ScanDtArgs& a, WeightType wt, cudaStream_t s) {
  if (a.I <= 0) return cudaGetLastError();
  int L = 1;
  while (L < a.N && L < 32) L <<= 1;
  const unsigned grid = blocksFor((int64_t)a.I * L, 256);
  switch (wt) {
    case kF32: return launchPdl(scanDtStep<kF32>, dim3(grid), dim3(256), 0, s, a, L);
    case kF16: return launchPdl(scanDtStep<kF16>, dim3(grid), dim3(256), 0, s, a, L);
    case kBF16: return launchPdl(scanDtStep<kBF16>, dim3(grid), dim3(256), 0, s, a, L);
  }
  return cudaErrorInvalidValue;
}

/**
 * Mamba-2, one token (Mamba2Mixer.torch_forward with T = 1, as scan.cu's scanTile computes it), c = (head, p):
 *   Δ = clamp(softplus(dt[head] + dt_bias[head]), dt_min, dt_max);  h_n ← exp(Δ·A[head])·h_n + Δ·x·B[g,n];
 *   y = Σ_n C[g,n]·h_n + D[head]·x,  g = head / (H/G)
 * L lanes per channel (pow2ceil(N) ≤ 32) split the N state entries (coalesced: lane + L·j) and sum y with a shuffle.
 */
/** ssdStep<HOLD>: state entries per lane loaded at once (N ≤ 32 · 4 = 128: all of them; mamba2's N is 128). */
constexpr int kSsdHold = 4;
static bool gSsdHold = false;
bool setSsdHold(bool on) {
  gSsdHold = on;
  return gSsdHold;
}

template <bool CONV, bool HOLD>
__global__ void __launch_bounds__(256) ssdStep(SsdStepArgs a, SsdConv cv, int L) {
  extern __shared__ float bc[];  // CONV: B then C of every group, [2, G·N]
  __shared__ bool sLast;
  const int c0 = (blockIdx.x * blockDim.x + threadIdx.x) / L;
  const int lane = threadIdx.x % L;
  const int I = a.H * a.P;
  const bool active = c0 < I;  // idle lanes take part in the shuffles on channel 0's data
  const int c = active ? c0 : 0;
  const int head = c / a.P;
  const int g = head / (a.H / a.G);
  const int GN = a.G * a.N;
  const float Ah = a.A[head], dtBias = a.dtBias[head], Dv = a.D[head];
  pdlWait();
  pdlTrigger();
  float xv;
  const float *Bg, *Cg;
  if constexpr (CONV) {
    for (int i = threadIdx.x; i < GN; i += blockDim.x) {
      bc[i] = convOut(cv.wB, cv.bB, cv.sB, cv.Bin, i, cv.K, cv.silu);
      bc[GN + i] = convOut(cv.wC, cv.bC, cv.sC, cv.Cin, i, cv.K, cv.silu);
    }
    xv = convOut(cv.wx, cv.bx, cv.sx, cv.xin, c, cv.K, cv.silu);  // every lane of the channel, from the old state
    __syncthreads();  // bc complete; and every read of the B/C states by this block is done
    if (threadIdx.x == 0) {
      __threadfence();
      sLast = atomicAdd(cv.counter, 1u) == gridDim.x - 1;
    }
    __syncthreads();
    Bg = bc + (int64_t)g * a.N;
    Cg = bc + GN + (int64_t)g * a.N;
  } else {
    xv = a.x[c];
    Bg = a.Bm + (int64_t)g * a.N;
    Cg = a.Cm + (int64_t)g * a.N;
  }
  float delta = softplusf(a.dt[head] + dtBias);
  delta = fminf(fmaxf(delta, a.dtMin), a.dtMax);
  const float decay = expf(delta * Ah);
  const float dx = delta * xv;
  const float* hIn = a.stateIn ? a.stateIn : a.state;  // h before the step (ping-pong: the graph's read block)
  float acc = 0.f;
  int n0 = lane;
  if constexpr (HOLD) {
    // Every state entry (and B, C) this lane updates, loaded before the first store: the loop below makes one
    // DRAM round trip per entry (the compiler cannot move a load of `state` above a store to `state` or `snap`),
    // with only I·L threads (1,536 channels · 32 lanes: ~12 warps an SM) in flight. Same products, same order.
    float h0s[kSsdHold], bs[kSsdHold], cs[kSsdHold];
#pragma unroll
    for (int j = 0; j < kSsdHold; j++) {
      const int n = lane + L * j;
      const bool in = n < a.N;
      h0s[j] = in ? hIn[(int64_t)c * a.N + n] : 0.f;
      bs[j] = in ? Bg[n] : 0.f;
      cs[j] = in ? Cg[n] : 0.f;
    }
#pragma unroll
    for (int j = 0; j < kSsdHold; j++) {
      const int n = lane + L * j;
      if (n < a.N) {
        const int64_t at = (int64_t)c * a.N + n;
        const float h = decay * h0s[j] + dx * bs[j];
        if (active && a.snap) a.snap[at] = h0s[j];
        if (active) a.state[at] = h;
        acc += h * cs[j];
      }
    }
    n0 = lane + L * kSsdHold;  // N > L·kSsdHold: the rest as below
  }
  for (int n = n0; n < a.N; n += L) {
    const int64_t at = (int64_t)c * a.N + n;
    const float h0 = hIn[at];
    const float h = decay * h0 + dx * Bg[n];
    if (active && a.snap) a.snap[at] = h0;  // the undo point of a run-ahead step, from the read the update makes anyway
    if (active) a.state[at] = h;
    acc += h * Cg[n];
  }
  const float sum = groupSum(acc, L);
  if (active && lane == 0) {
    a.y[c] = sum + Dv * xv;
    if constexpr (CONV) {
      cv.xOut[c] = xv;
      convShiftOne(cv.sx, cv.sx, cv.xin, c, cv.K);  // this channel's lanes read it above, before the shuffle
    }
  }
  if constexpr (CONV) {
    if (sLast) {  // every other block has read the old B/C states
      for (int i = threadIdx.x; i < GN; i += blockDim.x) {
        cv.BOut[i] = bc[i];
        cv.COut[i] = bc[GN + i];
        convShiftOne(cv.sB, cv.sB, cv.Bin, i, cv.K);
        convShiftOne(cv.sC, cv.sC, cv.Cin, i, cv.K);
      }
      if (threadIdx.x == 0) *cv.counter = 0u;  // for the next launch (a graph replays this one)
    }
  }
}

cudaError_t launchSsdStep(const SsdStepArgs& a, cudaStream_t s) {
  const int I = a.H * a.P;
  if (I <= 0) return cudaGetLastError();
  if (a.G <= 0 || a.H % a.G != 0) return cudaErrorInvalidValue;
  int L = 1;
  while (L < a.N && L < 32) L <<= 1;
  const dim3 g(blocksFor((int64_t)I * L, 256)), b(256);
  return gSsdHold ? launchPdl(ssdStep<false, true>, g, b, 0, s, a, SsdConv{}, L) : launchPdl(ssdStep<false, false>, g, b, 0, s, a, SsdConv{}, L);
}

cudaError_t launchSsdConvStep(const SsdStepArgs& a, const SsdConv& c, cudaStream_t s) {
  const int I = a.H * a.P;
  if (I <= 0) return cudaGetLastError();
  if (a.snap || (a.stateIn && a.stateIn != a.state)) return cudaErrorInvalidValue;  // its conv states are shifted by other threads: the caller copies the undo point (or the ping-pong block) first
  if (a.G <= 0 || a.H % a.G != 0 || a.G * a.N > kSsdConvMaxGN || c.K < 1 || !c.counter) return cudaErrorInvalidValue;
  int L = 1;
  while (L < a.N && L < 32) L <<= 1;
  const size_t smem = 2 * (size_t)a.G * a.N * sizeof(float);
  const dim3 g(blocksFor((int64_t)I * L, 256)), b(256);
  return gSsdHold ? launchPdl(ssdStep<true, true>, g, b, smem, s, a, c, L) : launchPdl(ssdStep<true, false>, g, b, smem, s, a, c, L);
}

/**
 * dst ← src in float4s: a state member's undo point, for a run-ahead step whose kernel writing that member
 * does not save it itself. Launched without PDL (it has no dependency wait): it starts once the kernel
 * before it has completed, and the PDL-launched kernel after it waits for it.
 */
__global__ void stateCopy(float4* __restrict__ dst, const float4* __restrict__ src, int64_t n4) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) dst[i] = src[i];
}

cudaError_t launchStateCopy(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  if (bytes % 16 != 0 || (reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src)) % 16 != 0) return cudaErrorInvalidValue;
  const int64_t n4 = (int64_t)(bytes / 16);
  if (n4 == 0) return cudaGetLastError();
  stateCopy<<<(unsigned)std::min<int64_t>(blocksFor(n4, 256), 1024), 256, 0, s>>>(static_cast<float4*>(dst), static_cast<const float4*>(src), n4);
  return cudaGetLastError();
}

}  // namespace me
