// The selective scans of Mamba-1 and Mamba-2 as one chunked parallel scan.
//
// Both are a diagonal linear recurrence per channel c and state entry n
//   Mamba-1 (Gu & Dao 2023, Alg. 2; HF MambaMixer.slow_forward), c = (b, i):
//     Δ = softplus(dt + dt_bias);  h_n ← exp(Δ·A[i,n])·h_n + Δ·B_n·x;  y = Σ_n C_n·h_n + D·x;  y ← y·silu(z)
//   Mamba-2 (Dao & Gu 2024, SSD recurrent form; HF Mamba2Mixer), c = (b, head, p), group g = head / (H/G):
//     Δ = clamp(softplus(dt + dt_bias), dt_min, dt_max);  h_n ← exp(Δ·A[head])·h_n + Δ·x·B[g,n];  y = Σ_n C[g,n]·h_n + D·x
// so a chunk of tokens [t0, t1) maps a start state h to exp(A·ΣΔ)·h + h_local, where h_local is the same
// chunk scanned from zero (the decay over a chunk is exp(A·Σ_t Δ_t), one number per channel and n).
// That gives three passes when T is long and there are too few channels to fill the GPU:
//   1. every chunk from zero, in parallel: h_local and ΣΔ per (channel, chunk)      (scanChunk, no y)
//   2. per (channel, n), walk the chunks: start_c = carried; carried = exp(A·ΣΔ_c)·carried + h_local_c
//                                                                                     (scanCombine)
//   3. every chunk again from its true start state, writing y                       (scanChunk)
// and a single pass (start from the state, write y and the state) when there are channels enough
// or T is short — the decode step is that pass with T = 1. This is mamba_ssm's chunk-state /
// state-passing / chunk-output split (ssd_combined.py) with the intra-chunk part done as a scan
// rather than as the quadratic matrix form.
//
// scan_tiled.cu's scanTiled (Mamba-1, N ≤ 16: the WebGPU backend's tiled three-pass design, 64 channels ×
// 64-step chunks a block) is the prefill default for Mamba-1 (kTiledDefault: on the H100, 2026-12-06,
// [1, 16384, 1536] 0.360 ms = 38.6 % of the copy against scanWarp's 0.885 ms, [.., 4096] 0.891 vs 2.004 ms);
// MAMBA_EDGE_CUDA_SCAN=tiled3one (one pass) is its variant, =warp the previous default. (A one-pass kernel
// taking each exponential once, scanOnce, ran at 0.52× the three passes on the H100 and was removed:
// BENCHMARKS.md, tenth session; so was one walk over T with a lane per state entry, scanStates, at 0.63×:
// eleventh session.)
// Prefill (T ≥ 32) takes the two newer kernels where a shape fits them: scanWarp below (Mamba-1, N ≤ 16:
// a parallel scan over time within a warp per channel, one pass) and ssd.cu's ssdMma (Mamba-2, P and N
// multiples of 16: the SSD chunked matrix form on tensor cores). Otherwise, and for the decode step,
// two recurrent kernels compute a chunk:
// - scanTile: a channel's N state entries live in S = min(16, pow2ceil(N)) registers of
//   L = pow2ceil(N) / S lanes (one lane per channel for Mamba-1's N = 16; 8 for Mamba-2's N = 128), so
//   the per-step work that does not depend on n (loads of x, dt, z, softplus, the y store) is done once
//   per channel, not once per state entry. Every channel of a block reads the same B_t, C_t (Mamba-1) or
//   its group's (Mamba-2): the block stages a tile of steps of them in shared memory with coalesced loads,
//   while each thread loads its own steps of x, dt, z into registers, all before any is used.
// - scanChunk (the fallback for shapes whose B/C tile does not fit in shared memory, and for A/B runs
//   with MAMBA_EDGE_CUDA_SCAN=lanes): N entries over L = min(32, pow2ceil(N)) lanes, S = ⌈N / L⌉ ≤ 8
//   per lane, B and C loaded per lane, U steps of inputs in flight.
// Either way y's sum over n is a shuffle reduction within a channel's L lanes.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include "common.cuh"
#include "scan_common.cuh"

namespace me {

constexpr int kMaxS = 8;  // N ≤ 256
constexpr int kScanThreads = 128;
constexpr int kMinChunk = 32;


static int lanesFor(int N) {
  int L = 1;
  while (L < N && L < 32) L <<= 1;
  return L;
}

/**
 * One chunk of one channel per group of L lanes; S state entries per lane (S·L ≥ N). The time loop
 * runs in blocks of U steps whose inputs (x, dt, z, B, C) are all loaded before any is used, so U
 * steps' loads are in flight at once instead of one step's: the recurrence is sequential, its loads
 * are not, and without this the kernel waits on memory latency once per step.
 */
template <bool SSD, int S>
__global__ void __launch_bounds__(kScanThreads) scanChunk(ScanShape sh, ScanArgs a, int chunks, int chunkLen, int L, float* hScratch,
                                                          float* dScratch, int start, int end, bool writeY) {
  constexpr int U = S <= 2 ? 8 : 4;
  const float* __restrict__ x = a.x;
  const float* __restrict__ dt = a.dt;
  const float* __restrict__ Bm = a.Bm;
  const float* __restrict__ Cm = a.Cm;
  const float* __restrict__ z = a.z;
  float* __restrict__ y = a.y;
  const int64_t channels = (int64_t)sh.B * sh.I;
  const int64_t c0 = (int64_t)blockIdx.x * (blockDim.x / L) + threadIdx.x / L;
  const bool active = c0 < channels;  // idle lanes still run (they take part in the shuffles) on channel 0's data
  const int64_t c = active ? c0 : 0;
  const int lane = threadIdx.x % L;
  const int chunk = blockIdx.y;
  const int t0 = chunk * chunkLen, t1 = min(sh.T, t0 + chunkLen);
  const int N = sh.N, I = sh.I;
  const int b = (int)(c / I), ci = (int)(c % I);
  const int head = SSD ? ci / sh.P : ci;  // Mamba-1: the channel's own index into dt, dt_bias, D
  const int bcStride = SSD ? sh.G * N : N;
  const int bcOff = SSD ? (head / (sh.H / sh.G)) * N : 0;
  const int64_t slot = c * chunks + chunk;

  float h[S], A[S];
#pragma unroll
  for (int s = 0; s < S; s++) {
    const int n = lane + s * L;
    h[s] = 0.f;
    A[s] = 0.f;
    if (n < N) {
      A[s] = SSD ? a.A[head] : a.A[(int64_t)ci * N + n];
      if (start == kFromState) h[s] = a.state[c * N + n];
      else if (start == kFromScratch) h[s] = hScratch[slot * N + n];
    }
  }
  const float Dv = a.D[head], dtBias = a.dtBias[head];
  float dsum = 0.f;
  for (int tb = t0; tb < t1; tb += U) {
    const int nb = min(U, t1 - tb);
    float xs[U], ds[U], zs[U], Bs[U][S], Cs[U][S];
#pragma unroll
    for (int u = 0; u < U; u++) {
      xs[u] = ds[u] = zs[u] = 0.f;
#pragma unroll
      for (int s = 0; s < S; s++) Bs[u][s] = Cs[u][s] = 0.f;
      if (u < nb) {
        const int64_t row = (int64_t)b * sh.T + tb + u;
        xs[u] = x[row * I + ci];
        ds[u] = dt[SSD ? row * sh.H + head : row * I + ci];
        if (!SSD && writeY) zs[u] = z[row * I + ci];
        const float* Bt = Bm + row * bcStride + bcOff;
        const float* Ct = Cm + row * bcStride + bcOff;
#pragma unroll
        for (int s = 0; s < S; s++) {
          const int n = lane + s * L;
          if (n < N) {
            Bs[u][s] = Bt[n];
            if (writeY) Cs[u][s] = Ct[n];
          }
        }
      }
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      if (u < nb) {  // uniform across the warp: every lane of a block works on the same chunk
        float delta = softplusf(ds[u] + dtBias);
        if (SSD) delta = fminf(fmaxf(delta, sh.dtMin), sh.dtMax);
        dsum += delta;
        const float decay = SSD ? expf(delta * A[0]) : 0.f;
        const float dx = delta * xs[u];
        float acc = 0.f;
#pragma unroll
        for (int s = 0; s < S; s++) {
          h[s] = (SSD ? decay : expf(delta * A[s])) * h[s] + dx * Bs[u][s];  // entries n ≥ N stay 0: B is 0 there
          acc += h[s] * Cs[u][s];
        }
        if (writeY) {
          acc = groupSum(acc, L);
          if (lane == 0 && active) {
            float yv = acc + Dv * xs[u];
            if (!SSD) yv *= siluf(zs[u]);
            y[((int64_t)b * sh.T + tb + u) * I + ci] = yv;
          }
        }
      }
    }
  }
  if (!active || end == kNoEnd) return;
#pragma unroll
  for (int s = 0; s < S; s++) {
    const int n = lane + s * L;
    if (n < N) {
      if (end == kToState) a.state[c * N + n] = h[s];
      else hScratch[slot * N + n] = h[s];
    }
  }
  if (end == kToScratch && lane == 0) dScratch[slot] = dsum;
}

constexpr int kTileMaxS = 16;      // state entries per lane in scanTile
constexpr size_t kTileSmem = 48 * 1024;

/** Time steps a scanTile block stages at once: fewer when each thread holds R channels' inputs. */
__host__ __device__ constexpr int tileSteps(int R) { return R >= 4 ? 8 : 16; }

/** scanTile's lanes per channel: S·L = pow2ceil(N), S ≤ 16. */
static int tileLanes(int N) {
  int p = 1;
  while (p < N) p <<= 1;
  return p <= kTileMaxS ? 1 : p / kTileMaxS;
}

/** Whether MAMBA_EDGE_CUDA_SCAN asks for `name` (A/B runs: "lanes" = scanChunk, "tile1" = scanTile with R = 1). */
static bool scanOverride(const char* name) {
  static const char* v = std::getenv("MAMBA_EDGE_CUDA_SCAN");
  return v && std::strcmp(v, name) == 0;
}

/**
 * Channels per thread in scanTile: Mamba-2's channels of one head share Δ, the decay and B_t, C_t, so a
 * thread that runs R of them reads each B_t[n], C_t[n] from shared memory once for R updates (shared
 * memory reads, not arithmetic, bound the one-channel form at N = 128). Mamba-1: 1 (A differs per channel).
 */
static int tileChannels(const ScanShape& sh) {
  if (!sh.ssd || scanOverride("tile1")) return 1;
  return sh.P % 4 == 0 ? 4 : sh.P % 2 == 0 ? 2 : 1;
}

/** Channels a scanTile block holds and the group rows of B/C it stages per step (Mamba-1: 1). */
struct TileGeometry {
  int L, R, channelsPerBlock, blocksPerRow, groupSpan;
  size_t smemBytes;
};

static TileGeometry tileGeometry(const ScanShape& sh) {
  TileGeometry g{};
  g.L = tileLanes(sh.N);
  g.R = tileChannels(sh);
  g.channelsPerBlock = kScanThreads / g.L * g.R;
  g.blocksPerRow = (sh.I + g.channelsPerBlock - 1) / g.channelsPerBlock;
  g.groupSpan = 1;
  if (sh.ssd) {
    // The widest run of groups any block's channels touch (heads are P channels, groups H/G heads).
    const int headsPerGroup = sh.H / sh.G;
    for (int blk = 0; blk < g.blocksPerRow; blk++) {
      const int first = blk * g.channelsPerBlock, last = std::min(sh.I, first + g.channelsPerBlock) - 1;
      g.groupSpan = std::max(g.groupSpan, (last / sh.P) / headsPerGroup - (first / sh.P) / headsPerGroup + 1);
    }
  }
  g.smemBytes = (size_t)2 * tileSteps(g.R) * g.groupSpan * sh.N * sizeof(float);
  return g;
}

/**
 * One chunk of TT-step tiles for the channels of one block (all of one batch row b, so they share
 * B_t and C_t rows). Per tile: the block copies B and C of the tile's steps (the group rows its
 * channels read) into shared memory while each thread loads its channels' x, dt, z for the steps;
 * then each thread runs the steps on its R channels × S state entries, reading each B_t[n], C_t[n]
 * from shared memory once. R > 1 only for Mamba-2, with R dividing P: a thread's channels share a head.
 */
template <bool SSD, int S, int R>
__global__ void __launch_bounds__(kScanThreads) scanTile(ScanShape sh, ScanArgs a, int chunks, int chunkLen, int L, int groupSpan,
                                                         float* hScratch, float* dScratch, int start, int end, bool writeY) {
  constexpr int TT = tileSteps(R);
  extern __shared__ float smem[];
  const float* __restrict__ x = a.x;
  const float* __restrict__ dt = a.dt;
  const float* __restrict__ Bm = a.Bm;
  const float* __restrict__ Cm = a.Cm;
  const float* __restrict__ z = a.z;
  float* __restrict__ y = a.y;
  const int N = sh.N, I = sh.I;
  const int groupsPerBlock = blockDim.x / L;  // lane groups, R channels each
  const int cpb = groupsPerBlock * R;
  const int blocksPerRow = (I + cpb - 1) / cpb;
  const int b = blockIdx.x / blocksPerRow, blk = blockIdx.x % blocksPerRow;
  const int ciRaw = blk * cpb + (threadIdx.x / L) * R;
  const bool active = ciRaw < I;  // idle lanes mirror the block's last channels (they join the shuffles and barriers)
  const int ci = active ? ciRaw : I - R;  // the first of this thread's R channels (I is a multiple of R)
  const int lane = threadIdx.x % L;
  const int64_t c = (int64_t)b * I + ci;
  const int chunk = blockIdx.y;
  const int t0 = chunk * chunkLen, t1 = min(sh.T, t0 + chunkLen);
  const int head = SSD ? ci / sh.P : ci;
  const int bcStride = SSD ? sh.G * N : N;
  const int headsPerGroup = SSD ? sh.H / sh.G : 1;
  const int gFirst = SSD ? ((blk * cpb) / sh.P) / headsPerGroup : 0;  // first group row staged
  const int width = groupSpan * N;                                   // floats staged per step, for B and for C
  const int myOff = SSD ? (head / headsPerGroup - gFirst) * N : 0;
  float* sB = smem;
  float* sC = smem + TT * width;

  float h[R][S], A[S];
#pragma unroll
  for (int s = 0; s < S; s++) {
    const int n = lane + s * L;
    A[s] = 0.f;
#pragma unroll
    for (int r = 0; r < R; r++) h[r][s] = 0.f;
    if (n < N) {
      // Mamba-1 takes exp(Δ·A[n]) for every n and step: as exp2(Δ·A[n]·log2 e), one multiply and one
      // ex2 per entry (the dominant cost of this kernel), with A·log2 e formed once here.
      A[s] = SSD ? a.A[head] : a.A[(int64_t)ci * N + n] * 1.4426950408889634f;
#pragma unroll
      for (int r = 0; r < R; r++) {
        if (start == kFromState) h[r][s] = a.state[(c + r) * N + n];
        else if (start == kFromScratch) h[r][s] = hScratch[((c + r) * chunks + chunk) * N + n];
      }
    }
  }
  const float Dv = a.D[head], dtBias = a.dtBias[head];
  float dsum = 0.f;
  for (int tb = t0; tb < t1; tb += TT) {
    const int nb = min(TT, t1 - tb);
    float xs[TT][R], ds[TT], zs[TT];
#pragma unroll
    for (int u = 0; u < TT; u++) {
      ds[u] = zs[u] = 0.f;
#pragma unroll
      for (int r = 0; r < R; r++) xs[u][r] = 0.f;
      if (u < nb) {
        const int64_t row = (int64_t)b * sh.T + tb + u;
#pragma unroll
        for (int r = 0; r < R; r++) xs[u][r] = x[row * I + ci + r];
        ds[u] = dt[SSD ? row * sh.H + head : row * I + ci];
        if (!SSD && writeY) zs[u] = z[row * I + ci];
      }
    }
    __syncthreads();  // the previous tile's reads of sB / sC are done
    // The block's own group rows only: the last groups of a row may be fewer than the widest span.
    const int staged = SSD ? min(groupSpan, sh.G - gFirst) * N : N;
    for (int i = threadIdx.x; i < nb * staged; i += blockDim.x) {
      const int u = i / staged, j = i - u * staged;
      const int64_t src = ((int64_t)b * sh.T + tb + u) * bcStride + (int64_t)gFirst * N + j;
      sB[u * width + j] = Bm[src];
      if (writeY) sC[u * width + j] = Cm[src];
    }
    __syncthreads();
#pragma unroll
    for (int u = 0; u < TT; u++) {
      if (u < nb) {  // uniform across the block: every thread works on the same steps
        float delta = softplusf(ds[u] + dtBias);
        if (SSD) delta = fminf(fmaxf(delta, sh.dtMin), sh.dtMax);
        dsum += delta;
        const float decay = SSD ? expf(delta * A[0]) : 0.f;
        float dx[R], acc[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
          dx[r] = delta * xs[u][r];
          acc[r] = 0.f;
        }
        const float* Bu = sB + u * width + myOff;
        const float* Cu = sC + u * width + myOff;
#pragma unroll
        for (int s = 0; s < S; s++) {
          const int n = lane + s * L;
          if (n < N) {  // S·L may exceed N (N not a power of two): those entries stay 0
            const float Bn = Bu[n], Cn = writeY ? Cu[n] : 0.f;
            const float dA = SSD ? decay : exp2f(delta * A[s]);
#pragma unroll
            for (int r = 0; r < R; r++) {
              h[r][s] = dA * h[r][s] + dx[r] * Bn;
              acc[r] += h[r][s] * Cn;
            }
          }
        }
        if (writeY) {
#pragma unroll
          for (int r = 0; r < R; r++) {
            const float sum = groupSum(acc[r], L);
            if (lane == 0 && active) {
              float yv = sum + Dv * xs[u][r];
              if (!SSD) yv *= siluf(zs[u]);
              y[((int64_t)b * sh.T + tb + u) * I + ci + r] = yv;
            }
          }
        }
      }
    }
  }
  if (!active || end == kNoEnd) return;
#pragma unroll
  for (int r = 0; r < R; r++) {
    const int64_t slot = (c + r) * chunks + chunk;
#pragma unroll
    for (int s = 0; s < S; s++) {
      const int n = lane + s * L;
      if (n < N) {
        if (end == kToState) a.state[(c + r) * N + n] = h[r][s];
        else hScratch[slot * N + n] = h[r][s];
      }
    }
    if (end == kToScratch && lane == 0) dScratch[slot] = dsum;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// scanWarp: Mamba-1 (N ≤ 16) as a parallel scan over time inside a warp — mamba_ssm's selective_scan_fwd
// design (csrc/selective_scan/selective_scan_fwd_kernel.cuh: each thread holds kNItems consecutive steps,
// the loop over states n is outermost, and for each n the (exp(Δ·A_n), Δ·B_n·x) pairs of the chunk are
// combined by a block-wide scan, so every exp is taken once and nothing is walked twice), laid out for our
// time-major [B, T, I] tensors:
// - a warp is one channel; lane l holds steps 8l … 8l + 7 of a 256-step tile, so the scan over the tile
//   is a lane-local fold of 8 pairs, a 5-level shuffle scan and a lane-local re-fold that also sums
//   y_t += C_t,n·h_t,n; the state carried from tile to tile is h_n, the same in every lane;
// - a block is CB channels (warps) of one batch row; it stages each tile of x, dt, z (CB floats a row)
//   and of B, C (N floats a row) into shared memory with coalesced 4-byte cp.async (any I, N, T, any
//   alignment; rows past T or I are zero-filled), transposed to [channel or n][step] so a lane reads its
//   8 steps as two float4s; y goes back through the x rows to be stored coalesced.
// Bytes: x, dt, z read once, y written once; B, C from L2 once per block.
// The combine over chunks (when B·I/CB blocks cannot fill the GPU) is scanCombine's, as for scanTile.
constexpr int kWItems = 8;                 // consecutive steps a lane holds
constexpr int kWTile = 32 * kWItems;       // steps a block stages at once
constexpr int kWRow = kWTile + 4;          // staged row stride in floats: +4 moves each row 4 banks over
constexpr int kWMaxN = 16;
constexpr float kLog2e = 1.4426950408889634f;

/**
 * Where step t of a staged row lives: float4 q = t / 4 is swapped with its neighbour (q ^ 1) in every
 * other run of 8, so the 8 lanes of a quarter warp, reading float4s 2l (or 2l + 1), hit 8 different
 * 16-byte bank groups (without it lanes l and l + 4 collide).
 */
__device__ __forceinline__ int swz(int t) {
  const int q = t >> 2;
  return ((q ^ ((q >> 3) & 1)) << 2) | (t & 3);
}

/** A lane's 8 steps of a staged row (two float4 loads). */
__device__ __forceinline__ void load8(const float* row, int first, float (&v)[kWItems]) {
  const float4 a = *reinterpret_cast<const float4*>(row + swz(first));
  const float4 b = *reinterpret_cast<const float4*>(row + swz(first + 4));
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void store8(float* row, int first, const float (&v)[kWItems]) {
  *reinterpret_cast<float4*>(row + swz(first)) = make_float4(v[0], v[1], v[2], v[3]);
  *reinterpret_cast<float4*>(row + swz(first + 4)) = make_float4(v[4], v[5], v[6], v[7]);
}

/** Shared memory a scanWarp block stages: x, dt, z rows for CB channels and B, C rows for N states. */
static size_t warpSmem(int CB, int N) { return (size_t)(3 * CB + 2 * N) * kWRow * sizeof(float); }

/**
 * Inclusive scan over a warp's 32 lanes of the affine maps h ↦ a·h + b, lane 0's applied first (Kogge–Stone,
 * 5 shuffle rounds): lane l ends with lanes 0 … l composed, (a1, b1) then (a2, b2) being (a1·a2, a2·b1 + b2).
 */
__device__ __forceinline__ void warpScanAffine(float& a, float& b, int lane) {
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const float qa = __shfl_up_sync(0xffffffffu, a, off), qb = __shfl_up_sync(0xffffffffu, b, off);
    if (lane >= off) {
      b = a * qb + b;
      a *= qa;
    }
  }
}

template <int CB, bool WY>
__global__ void __launch_bounds__(CB * 32) scanWarp(ScanShape sh, ScanArgs a, int chunks, int chunkLen, float* hScratch, float* dScratch,
                                                   int start, int end) {
  extern __shared__ float4 smem4[];
  float* sX = reinterpret_cast<float*>(smem4);  // [CB][kWRow]: x, then y
  float* sD = sX + CB * kWRow;                  // dt
  float* sZ = sD + CB * kWRow;                  // z
  float* sB = sZ + CB * kWRow;                  // [N][kWRow]
  float* sC = sB + sh.N * kWRow;
  const int N = sh.N, I = sh.I, T = sh.T;
  const int blocksPerRow = (I + CB - 1) / CB;
  const int b = blockIdx.x / blocksPerRow, c0 = (blockIdx.x % blocksPerRow) * CB;
  const int cw = min(CB, I - c0);  // channels this block holds
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const bool active = warp < cw;  // warp-uniform; idle warps still stage and meet the barriers
  const int ci = c0 + (active ? warp : 0);
  const int64_t c = (int64_t)b * I + ci;
  const int chunk = blockIdx.y;
  const int t0 = chunk * chunkLen, t1 = min(T, t0 + chunkLen);
  const int64_t slot = c * chunks + chunk;

  float A2[kWMaxN], h[kWMaxN];  // A·log2 e (exp(Δ·A) = 2^(Δ·A·log2 e)) and the state carried across tiles
#pragma unroll
  for (int n = 0; n < kWMaxN; n++) {
    A2[n] = h[n] = 0.f;
    if (active && n < N) {
      A2[n] = a.A[(int64_t)ci * N + n] * kLog2e;
      if (start == kFromState) h[n] = a.state[c * N + n];
      else if (start == kFromScratch) h[n] = hScratch[slot * N + n];
    }
  }
  const float Dv = a.D[ci], bias = a.dtBias[ci];
  const int first = lane * kWItems;  // this lane's first step in a tile
  float dsum = 0.f;
  for (int tb = t0; tb < t1; tb += kWTile) {
    const int nt = min(kWTile, t1 - tb);
    const int64_t row0 = (int64_t)b * T + tb;
    // Stage the tile. Element e = (step e / CB, channel e % CB): a warp reads 32 / CB rows of CB floats.
    for (int e = threadIdx.x; e < kWTile * CB; e += CB * 32) {
      const int t = e / CB, k = e % CB;
      const bool ok = t < nt && k < cw;
      const int64_t g = ok ? (row0 + t) * I + c0 + k : 0;
      const int s = k * kWRow + swz(t);
      cpAsync4(sX + s, a.x + g, ok);
      cpAsync4(sD + s, a.dt + g, ok);
      if (WY) cpAsync4(sZ + s, a.z + g, ok);
    }
    for (int e = threadIdx.x; e < kWTile * N; e += CB * 32) {
      const int t = e / N, n = e - t * N;
      const bool ok = t < nt;
      const int64_t g = ok ? (row0 + t) * N + n : 0;
      const int s = n * kWRow + swz(t);
      cpAsync4(sB + s, a.Bm + g, ok);
      if (WY) cpAsync4(sC + s, a.Cm + g, ok);
    }
    cpAsyncWaitAll();
    __syncthreads();

    if (active) {
      float dl[kWItems], dx[kWItems], yv[kWItems];
      {
        float xs[kWItems], ds[kWItems];
        load8(sX + warp * kWRow, first, xs);
        load8(sD + warp * kWRow, first, ds);
#pragma unroll
        for (int i = 0; i < kWItems; i++) {
          const bool ok = first + i < nt;  // steps past T: the identity pair (decay 1, input 0)
          const float delta = softplusf(ds[i] + bias);
          dl[i] = ok ? delta : 0.f;
          dx[i] = ok ? delta * xs[i] : 0.f;
          yv[i] = Dv * xs[i];
          dsum += dl[i];
        }
      }
#pragma unroll
      for (int n = 0; n < kWMaxN; n++) {
        if (n < N) {
          float Bv[kWItems], Cv[kWItems], da[kWItems], db[kWItems];
          load8(sB + n * kWRow, first, Bv);
          if (WY) load8(sC + n * kWRow, first, Cv);
#pragma unroll
          for (int i = 0; i < kWItems; i++) {
            da[i] = ex2(dl[i] * A2[n]);
            db[i] = dx[i] * Bv[i];
          }
          // (a1, b1) then (a2, b2) is (a1·a2, a2·b1 + b2): fold the lane's 8 steps, then scan the lanes.
          float pa = da[0], pb = db[0];
#pragma unroll
          for (int i = 1; i < kWItems; i++) {
            pb = da[i] * pb + db[i];
            pa *= da[i];
          }
          warpScanAffine(pa, pb, lane);
          // The lane's start state: the lanes before it (exclusive scan) applied to the carried h_n.
          const float ea = __shfl_up_sync(0xffffffffu, pa, 1), eb = __shfl_up_sync(0xffffffffu, pb, 1);
          float hs = lane == 0 ? h[n] : ea * h[n] + eb;
          h[n] = __shfl_sync(0xffffffffu, pa, 31) * h[n] + __shfl_sync(0xffffffffu, pb, 31);
          if (WY) {
#pragma unroll
            for (int i = 0; i < kWItems; i++) {
              hs = da[i] * hs + db[i];
              yv[i] += Cv[i] * hs;
            }
          }
        }
      }
      if (WY) {
        float zs[kWItems];
        load8(sZ + warp * kWRow, first, zs);
#pragma unroll
        for (int i = 0; i < kWItems; i++) yv[i] *= siluf(zs[i]);
        store8(sX + warp * kWRow, first, yv);  // this warp's own row: only it read x there
      }
    }
    if (WY) {
      __syncthreads();
      for (int e = threadIdx.x; e < kWTile * CB; e += CB * 32) {
        const int t = e / CB, k = e % CB;
        if (t < nt && k < cw) a.y[(row0 + t) * I + c0 + k] = sX[k * kWRow + swz(t)];
      }
    }
    __syncthreads();  // every read of this tile's rows is done before the next tile lands
  }
  if (!active || end == kNoEnd) return;
  dsum = groupSum(dsum, 32);
  if (lane == 0) {
#pragma unroll
    for (int n = 0; n < kWMaxN; n++) {
      if (n < N) {
        if (end == kToState) a.state[c * N + n] = h[n];
        else hScratch[slot * N + n] = h[n];
      }
    }
    if (end == kToScratch) dScratch[slot] = dsum;
  }
}

/** Pass 2: per (channel, n), turn each chunk's h_local into its true start state; the last carry is the new state. */
template <bool SSD>
__global__ void scanCombine(ScanShape sh, const float* Aall, float* state, float* hScratch, const float* dScratch, int chunks) {
  const int64_t total = (int64_t)sh.B * sh.I * sh.N;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = i / sh.N;
    const int n = i % sh.N, ci = c % sh.I;
    const float A = SSD ? Aall[ci / sh.P] : Aall[(int64_t)ci * sh.N + n];
    float carried = state[i];
    constexpr int kAhead = 8;  // the loads do not depend on the carry: issue 8 chunks' at once
    for (int k0 = 0; k0 < chunks; k0 += kAhead) {
      float local[kAhead], decay[kAhead];
#pragma unroll
      for (int j = 0; j < kAhead; j++) {
        const int64_t slot = c * chunks + k0 + j;
        local[j] = k0 + j < chunks ? hScratch[slot * sh.N + n] : 0.f;
        decay[j] = k0 + j < chunks ? expf(A * dScratch[slot]) : 1.f;
      }
#pragma unroll
      for (int j = 0; j < kAhead; j++) {
        if (k0 + j < chunks) {
          hScratch[(c * chunks + k0 + j) * sh.N + n] = carried;
          carried = decay[j] * carried + local[j];
        }
      }
    }
    state[i] = carried;
  }
}

size_t scanScratchBytes(const ScanShape& sh, int chunks) {
  if (chunks <= 1) return 0;
  const size_t slots = (size_t)sh.B * sh.I * chunks;
  return slots * sh.N * sizeof(float) + slots * sizeof(float);
}

/** Whether scanTile runs this shape: its B/C tile fits in shared memory, and no A/B override asks for scanChunk. */
static bool useTile(const ScanShape& sh) { return !scanOverride("lanes") && tileGeometry(sh).smemBytes <= kTileSmem; }

/** scanWarp's channels a block: 4 (rows of 16 bytes; 384 blocks at I = 1536, about 3 an SM) or 8 (MAMBA_EDGE_CUDA_SCAN=warp8). */
static int warpChannels() { return scanOverride("warp8") ? 8 : 4; }

/**
 * scan_tiled.cu's scanTiled (the WebGPU tiled three-pass design) as the prefill default for Mamba-1, N ≤ 16,
 * T ≥ 32: 2.2-2.5× scanWarp on the H100 (BENCHMARKS.md, "The merged tree on the H100").
 */
constexpr bool kTiledDefault = true;

/**
 * Whether scanTiled runs this shape: MAMBA_EDGE_CUDA_SCAN=tiled3 forces it for any T (Mamba-1, N ≤ 16),
 * =tiled3one too, always as one pass (the A/B of one pass against three, and the test of long single walks);
 * else where kTiledDefault and no other kernel is asked for, for T ≥ 32 (a decode step stays on scanTile).
 */
static bool useTiled(const ScanShape& sh) {
  if (!scanTiledFits(sh)) return false;
  if (scanOverride("tiled3") || scanOverride("tiled3one")) return true;
  if constexpr (kTiledDefault) {
    for (const char* other : {"warp", "warp8", "tile", "tile1", "lanes"})
      if (scanOverride(other)) return false;
    return sh.T >= 32;
  }
  return false;
}

/**
 * Whether scanWarp runs this shape: Mamba-1 with N ≤ 16, T ≥ 32 (a decode step, T = 1, is lighter as
 * scanTile's single pass than as a 256-step tile); MAMBA_EDGE_CUDA_SCAN=warp|warp8 forces it for any T,
 * =tile|tile1|lanes picks the earlier kernels (A/B runs).
 */
static bool useWarp(const ScanShape& sh) {
  if (sh.ssd || sh.N > kWMaxN || useTiled(sh)) return false;
  if (scanOverride("warp") || scanOverride("warp8")) return true;
  if (scanOverride("tile") || scanOverride("tile1") || scanOverride("lanes")) return false;
  return sh.T >= 32;
}

/**
 * Whether Mamba-2 runs ssd.cu's tensor-core matrix form: P, N multiples of 16, T ≥ 32 (the decode step
 * stays on scanTile); MAMBA_EDGE_CUDA_SCAN=mma (3×TF32) | mma1 (plain TF32) forces it for any T,
 * =tile|tile1|lanes picks the recurrent kernels.
 */
static bool useMma(const ScanShape& sh) {
  if (!sh.ssd || !ssdMmaFits(sh)) return false;
  if (scanOverride("mma") || scanOverride("mma1")) return true;
  if (scanOverride("tile") || scanOverride("tile1") || scanOverride("lanes")) return false;
  return sh.T >= 32;
}

const char* scanKernelName(const ScanShape& sh) {
  if (useMma(sh)) return scanOverride("mma1") ? "ssd matrix form, TF32" : "ssd matrix form, 3xTF32";
  if (useTiled(sh)) return "tiled, 64 channels a block (three passes, or one where the channels fill the GPU)";
  if (useWarp(sh)) return warpChannels() == 8 ? "warp scan, 8 channels a block" : "warp scan, 4 channels a block";
  if (!useTile(sh)) return "lanes";
  const int R = tileChannels(sh);
  return R == 4 ? "tile, 4 channels a thread" : R == 2 ? "tile, 2 channels a thread" : "tile";
}

int scanChunks(const ScanShape& sh, int multiprocessors) {
  if (useMma(sh)) return ssdMmaChunks(sh, multiprocessors);
  if (useTiled(sh)) return scanOverride("tiled3one") ? 1 : scanTiledChunks(sh, multiprocessors);
  if (useWarp(sh)) {
    // One pass (x, dt, z read once) while the blocks fill the GPU; else chunks of ≥ 128 steps, three passes.
    const int64_t blocks = (int64_t)sh.B * ((sh.I + warpChannels() - 1) / warpChannels());
    const int64_t sms = std::max(1, multiprocessors);
    if (blocks >= sms || sh.T < 256) return 1;
    const int64_t chunks = std::min<int64_t>((2 * sms + blocks - 1) / blocks, sh.T / 128);
    return (int)std::max<int64_t>(1, std::min<int64_t>(chunks, 65535));
  }
  const bool tile = useTile(sh);
  const int64_t threads = (int64_t)sh.B * sh.I * (tile ? tileLanes(sh.N) : lanesFor(sh.N)) / (tile ? tileChannels(sh) : 1);
  const int64_t resident = (int64_t)std::max(1, multiprocessors) * 2048;  // threads an SM keeps in flight
  // Each chunk adds N floats of state per channel to the scratch traffic (written, combined, read back)
  // against ~2 floats per step of inputs and outputs: chunks of at least 2N steps keep that under half.
  const int minChunk = tile ? std::max(kMinChunk, 2 * sh.N) : kMinChunk;
  if (threads * 2 >= resident || sh.T < 2 * minChunk) return 1;
  int64_t chunks = (resident + threads - 1) / threads;
  chunks = std::min<int64_t>(chunks, sh.T / minChunk);
  return (int)std::max<int64_t>(1, std::min<int64_t>(chunks, 65535));
}

template <bool SSD, int S>
static cudaError_t scanT(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s) {
  const int L = lanesFor(sh.N);
  const int64_t channels = (int64_t)sh.B * sh.I;
  const unsigned gx = (unsigned)((channels + kScanThreads / L - 1) / (kScanThreads / L));
  if (chunks <= 1) {
    scanChunk<SSD, S><<<dim3(gx, 1), kScanThreads, 0, s>>>(sh, a, 1, sh.T, L, nullptr, nullptr, kFromState, kToState, true);
    return cudaGetLastError();
  }
  const int chunkLen = (sh.T + chunks - 1) / chunks;
  chunks = (sh.T + chunkLen - 1) / chunkLen;
  float* hScratch = static_cast<float*>(scratch);
  float* dScratch = hScratch + (size_t)channels * chunks * sh.N;
  scanChunk<SSD, S><<<dim3(gx, chunks), kScanThreads, 0, s>>>(sh, a, chunks, chunkLen, L, hScratch, dScratch, kFromZero, kToScratch, false);
  const int64_t total = channels * sh.N;
  scanCombine<SSD><<<(unsigned)std::min<int64_t>(blocksFor(total, 256), 1 << 20), 256, 0, s>>>(sh, a.A, a.state, hScratch, dScratch, chunks);
  scanChunk<SSD, S><<<dim3(gx, chunks), kScanThreads, 0, s>>>(sh, a, chunks, chunkLen, L, hScratch, dScratch, kFromScratch, kNoEnd, true);
  return cudaGetLastError();
}

/** The same three passes (or one) with scanTile. */
template <bool SSD, int S, int R>
static cudaError_t tileT(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s) {
  const TileGeometry g = tileGeometry(sh);
  const int64_t channels = (int64_t)sh.B * sh.I;
  const unsigned gx = (unsigned)((int64_t)sh.B * g.blocksPerRow);
  const size_t smem = g.smemBytes;
  if (chunks <= 1) {
    scanTile<SSD, S, R><<<dim3(gx, 1), kScanThreads, smem, s>>>(sh, a, 1, sh.T, g.L, g.groupSpan, nullptr, nullptr, kFromState, kToState, true);
    return cudaGetLastError();
  }
  const int chunkLen = (sh.T + chunks - 1) / chunks;
  chunks = (sh.T + chunkLen - 1) / chunkLen;
  float* hScratch = static_cast<float*>(scratch);
  float* dScratch = hScratch + (size_t)channels * chunks * sh.N;
  scanTile<SSD, S, R><<<dim3(gx, chunks), kScanThreads, smem, s>>>(sh, a, chunks, chunkLen, g.L, g.groupSpan, hScratch, dScratch, kFromZero,
                                                                 kToScratch, false);
  const int64_t total = channels * sh.N;
  scanCombine<SSD><<<(unsigned)std::min<int64_t>(blocksFor(total, 256), 1 << 20), 256, 0, s>>>(sh, a.A, a.state, hScratch, dScratch, chunks);
  scanTile<SSD, S, R><<<dim3(gx, chunks), kScanThreads, smem, s>>>(sh, a, chunks, chunkLen, g.L, g.groupSpan, hScratch, dScratch, kFromScratch,
                                                                 kNoEnd, true);
  return cudaGetLastError();
}

template <bool SSD, int R>
static cudaError_t tileS(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s, int S) {
  if (S <= 1) return tileT<SSD, 1, R>(sh, a, chunks, scratch, s);
  if (S <= 2) return tileT<SSD, 2, R>(sh, a, chunks, scratch, s);
  if (S <= 4) return tileT<SSD, 4, R>(sh, a, chunks, scratch, s);
  if (S <= 8) return tileT<SSD, 8, R>(sh, a, chunks, scratch, s);
  return tileT<SSD, kTileMaxS, R>(sh, a, chunks, scratch, s);
}

/** The same three passes (or one) with scanWarp. */
template <int CB>
static cudaError_t warpT(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s) {
  static bool configured = false;  // > 48 KB of dynamic shared memory needs an opt-in per kernel
  if (!configured) {
    const int most = (int)warpSmem(CB, kWMaxN);
    for (auto k : {scanWarp<CB, true>, scanWarp<CB, false>}) {
      cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, most);
      cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
    }
    configured = true;
  }
  const size_t smem = warpSmem(CB, sh.N);
  const int64_t channels = (int64_t)sh.B * sh.I;
  const unsigned gx = (unsigned)((int64_t)sh.B * ((sh.I + CB - 1) / CB));
  if (chunks <= 1) {
    scanWarp<CB, true><<<dim3(gx, 1), CB * 32, smem, s>>>(sh, a, 1, sh.T, nullptr, nullptr, kFromState, kToState);
    return cudaGetLastError();
  }
  const int chunkLen = (sh.T + chunks - 1) / chunks;
  chunks = (sh.T + chunkLen - 1) / chunkLen;
  float* hScratch = static_cast<float*>(scratch);
  float* dScratch = hScratch + (size_t)channels * chunks * sh.N;
  scanWarp<CB, false><<<dim3(gx, chunks), CB * 32, smem, s>>>(sh, a, chunks, chunkLen, hScratch, dScratch, kFromZero, kToScratch);
  const int64_t total = channels * sh.N;
  scanCombine<false><<<(unsigned)std::min<int64_t>(blocksFor(total, 256), 1 << 20), 256, 0, s>>>(sh, a.A, a.state, hScratch, dScratch, chunks);
  scanWarp<CB, true><<<dim3(gx, chunks), CB * 32, smem, s>>>(sh, a, chunks, chunkLen, hScratch, dScratch, kFromScratch, kNoEnd);
  return cudaGetLastError();
}

/** Mamba-2 in ssd.cu's matrix form: one pass, or runs of whole 64-step chunks in the three passes. */
static cudaError_t mmaT(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s) {
  const bool split3 = !scanOverride("mma1");
  if (chunks <= 1) return launchSsdMmaPass(sh, a, 1, sh.T, nullptr, nullptr, kFromState, kToState, true, split3, s);
  const int chunkLen = ((sh.T + chunks - 1) / chunks + 63) / 64 * 64;
  chunks = (sh.T + chunkLen - 1) / chunkLen;
  const int64_t channels = (int64_t)sh.B * sh.I;
  float* hScratch = static_cast<float*>(scratch);
  float* dScratch = hScratch + (size_t)channels * chunks * sh.N;
  cudaError_t e = launchSsdMmaPass(sh, a, chunks, chunkLen, hScratch, dScratch, kFromZero, kToScratch, false, split3, s);
  if (e != cudaSuccess) return e;
  const int64_t total = channels * sh.N;
  scanCombine<true><<<(unsigned)std::min<int64_t>(blocksFor(total, 256), 1 << 20), 256, 0, s>>>(sh, a.A, a.state, hScratch, dScratch, chunks);
  if ((e = cudaGetLastError()) != cudaSuccess) return e;
  return launchSsdMmaPass(sh, a, chunks, chunkLen, hScratch, dScratch, kFromScratch, kNoEnd, true, split3, s);
}

/** S = state entries per lane, rounded up to a power of two (the kernels guard n < N). */
template <bool SSD>
static cudaError_t scanS(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s) {
  if (SSD && useMma(sh)) return mmaT(sh, a, chunks, scratch, s);
  if (!SSD && useTiled(sh)) return launchScanTiled(sh, a, chunks, scratch, s);
  if (!SSD && useWarp(sh)) return warpChannels() == 8 ? warpT<8>(sh, a, chunks, scratch, s) : warpT<4>(sh, a, chunks, scratch, s);
  if (useTile(sh)) {
    const int S = (sh.N + tileLanes(sh.N) - 1) / tileLanes(sh.N);
    if constexpr (SSD) {
      const int R = tileChannels(sh);
      if (R == 4) return tileS<SSD, 4>(sh, a, chunks, scratch, s, S);
      if (R == 2) return tileS<SSD, 2>(sh, a, chunks, scratch, s, S);
    }
    return tileS<SSD, 1>(sh, a, chunks, scratch, s, S);
  }
  const int L = lanesFor(sh.N), S = (sh.N + L - 1) / L;
  if (S <= 1) return scanT<SSD, 1>(sh, a, chunks, scratch, s);
  if (S <= 2) return scanT<SSD, 2>(sh, a, chunks, scratch, s);
  if (S <= 4) return scanT<SSD, 4>(sh, a, chunks, scratch, s);
  return scanT<SSD, kMaxS>(sh, a, chunks, scratch, s);
}

cudaError_t launchScan(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s) {
  if ((int64_t)sh.B * sh.T * sh.I == 0) return cudaGetLastError();
  return sh.ssd ? scanS<true>(sh, a, chunks, scratch, s) : scanS<false>(sh, a, chunks, scratch, s);
}

}  // namespace me
