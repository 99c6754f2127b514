// scanWarp2: the Mamba-1 prefill scan (N ≤ 16) with a warp per channel and a parallel scan over time inside it, so
// x, dt, z are read once, y written once and every exp(Δ·A) taken once (MAMBA_EDGE_CUDA_SCAN=warp2, opt-in;
// UNMEASURED when written: built and run on the CPU emulator only, tools/cuda-emu/run.mjs warp2).
//
// Why (issue 9: ≥ 70 % of a copy's bandwidth; [1, 16384, 1536] × N 16 moves 403 MB of x, dt, z, y, so 70 % of the
// H100's ~2,900 GB/s copy is 0.199 ms): scan_tiled.cu's scanTiled (0.360 ms) runs 3 passes — x and dt read twice
// (~604 MB: 0.21 ms at the copy's rate) and every exp taken twice (~0.19-0.23 ms of SFU: 16 MUFU/clk/SM × 132 SMs ×
// 1.98 GHz) — so it cannot get there. One pass that takes each exp once has floors of ~0.14 ms (memory) and ~0.12 ms
// (SFU: 16 ex2 + softplus' ex2, lg2 + silu's ex2 per channel-step, 25.2 M channel-steps). That is scan.cu's scanWarp
// (mamba_ssm's selective_scan_fwd design), which measured 0.885 ms; this is it with what held it back fixed:
// - B, C staged once per block of CB = 4 / 8 / 12 channels (not 4) with 16-byte cp.async in the tile's own
//   [256 steps][N4 float4s] order (the tile is contiguous in memory: 4 copies a thread a tensor at CB = 8), read
//   back as float4s (4 states a load) without bank conflicts (w2Unit's swizzle), instead of 8,192 4-byte
//   cp.async a 4-channel block transposed to [n][step] (32 KB of L2 traffic per 12 KB of x, dt, z).
// - x, dt, z also with 16-byte copies ([256][CB] rows of CB floats; 4-byte ones only where I % 4 ≠ 0 or a
//   pointer is not 16-byte aligned), read as scalars at a 4-way bank conflict — the least any layout of
//   4-channel units allows (a warp reads one float of 32 units; a float's bank is fixed mod 4 within its unit,
//   so 8 banks) and 24 loads a lane a tile against 64 float4 loads of B and C.
// - Double-buffered: tile k + 1's copies are in flight while tile k is computed (scanWarp waited for its loads,
//   then computed, the block idle meanwhile).
// - One pass where the blocks fill at least half the GPU (B · ⌈I / CB⌉ ≥ SMs / 2: 128 blocks of 12 at I = 1536
//   on 132 SMs); three passes with scanTiled's carry (scan_tiled.cu scanTiledCarry, its n-major scratch)
//   only for few channels and T ≥ 1,024, in chunks of ≥ 512 steps.
// - 2^x, softplus and silu on the SFU's approximations (scan_fast.cuh's ex2, softplusFast, siluFast) instead of
//   expf / log1pf / precise division; MAMBA_EDGE_CUDA_SCAN_POLY=k moves the top k states' 2^x to ex2Poly on the
//   FMA pipe (the SFU floor above is near the issue floor: A/B it).
// - States in groups of 4 (one float4 of B, of C): 4 independent fold chains and 4 shuffle scans interleaved
//   (ILP: at I = 1536 there are only ~11.6 warps an SM, so latency is hidden within a warp, not across warps).
// - No re-fold: after step i of its 8 a lane's h is pa_i·h_start + pb_i ((pa, pb) its running fold, h_start the
//   state entering its first step, known after the scan), so y_i's C·h is C·pb_i (added at once) + (C·pa_i)·h_start:
//   8 numbers a state held across the scan instead of the 16 (a, b) pairs a re-fold needs (scanWarp's), one FMUL more
//   per step and state. With A·log2 e and the carried h in shared memory (lane 31 writes the new h: its inclusive
//   pair is the tile's) instead of 32 registers, the y kernel takes 148 registers on sm_90 (126 on sm_80), no spills,
//   so 12 warps (384 threads) fit an SM; __launch_bounds__(384, 1) (without the 1, ptxas aimed at 2 blocks and spilled).
// - MAMBA_EDGE_CUDA_SCAN_R=2 (A/B; N 13–16 without POLY): two channels a warp over the same steps, so each B / C
//   float4 load serves both. Why it may win: per SM and 256-step tile at CB 12 the B / C float4 loads are 12 warps ×
//   64 × 4 wavefronts = 3,072 shared-memory cycles and x, dt, z, y ~1,536 more (4-way), against ~3,600 issue cycles —
//   shared memory, not the SFU, may bind R = 1 (~0.17 ms at I 1536). R = 2 halves the B / C part; it takes 220
//   registers (no spills), so a block of 12 channels is 6 warps and one block an SM: fewer warps, 8 chains each.
// Channels a block (scanWarp2Channels): the fewest channels on the busiest SM, B · ⌈I / CB⌉ / SMs rounded up,
// times CB; ties to the larger CB (B / C staged for more channels): CB 12 at I = 1536 (128 blocks on 132 SMs),
// CB 8 at I = 4096 (512 blocks: 4 an SM, one resident at a time: 8 warps); MAMBA_EDGE_CUDA_SCAN_CB=4|8|12 forces it
// (A/B). Shared memory: 2 stages × 256 × (3·CB + 8·N4) floats + 128 B a warp (137 KB at CB 12, N 16; sm_80's
// 163 KB a block fits it).
// Per lane, 8 steps and 4 states: 32 ex2 (or ex2Poly), 32 FMUL for Δ·A, 32 FFMA + 32 FMUL folding (a, b),
// 64 for C·pb and C·pa, a 5-level shuffle scan (40 SHFL), 8 SHFL for the exclusive pair, 32 FFMA for (C·pa)·h_start.
// The recurrence, as in scan.cu (Gu & Dao 2023, Alg. 2; HF MambaMixer.slow_forward): Δ = softplus(dt + dt_bias);
// h_n ← exp(Δ·A_n)·h_n + Δ·x·B_n; y = (Σ_n C_n·h_n + D·x)·silu(z).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include "common.cuh"
#include "scan_common.cuh"
#include "scan_fast.cuh"

namespace me {

constexpr int kW2Items = 8;             // consecutive steps a lane holds
constexpr int kW2Tile = 32 * kW2Items;  // steps a block stages at once (256)
constexpr int kW2MaxCB = 12;            // channels (warps) a block at most: 384 threads, ≤ 168 registers each

/** Floats one stage holds: x, dt, z as [256][CB], B and C as [256][4·N4]; two stages double-buffer. */
__host__ __device__ constexpr int w2StageFloats(int CB, int N4) { return kW2Tile * (3 * CB + 8 * N4); }
/** A block's dynamic shared memory: 2 stages, then per warp its channel's A·log2 e and carried h (16 floats each). */
__host__ __device__ constexpr int w2SmemBytes(int CB, int N4) { return (2 * w2StageFloats(CB, N4) + 32 * CB) * 4; }

/**
 * Where float4 unit u of a staged [256 steps][U units] tile lives (t = u / U its step): its slot in its 128-byte
 * line (u's low 3 bits) XORed with t / 8 mod 8, the lane that reads step t. Lanes l read steps 8l + i for one i
 * at a time, i.e. units u = (8l + i)·U + q whose low 3 bits are the same for every l: unswizzled, all 32 lanes
 * would hit one 16-byte bank group. With the XOR the 8 lanes of a quarter warp hit 8 different groups (B and C's
 * float4 loads: conflict-free), and x's scalar loads 8 banks (4-way, the least for 4-channel units).
 */
__device__ __forceinline__ int w2Unit(int u, int t) { return u ^ ((t >> 3) & 7); }

/** A compile-time count of states taking ex2Poly in a group of 4 (scanWarp2's group lambda). */
template <int P>
struct PolyK {
  static constexpr int value = P;
};

/** The block's dynamic shared memory (2 stages of w2StageFloats). */
__device__ __forceinline__ float4* w2Smem() {
  extern __shared__ float4 w2SmemArr[];
  return w2SmemArr;
}

/**
 * Copies steps [row0, row0 + nt) of K row-major tensors (row t at src[k] + (row0 + t)·stride + col0; `width` valid
 * columns) into dst[k] as [256 steps][units float4s] in w2Unit's swizzled slots, zero past nt and past width.
 * vec: 16-byte copies (width's columns 16-byte aligned, every row start too), else 4-byte ones.
 */
template <int K>
__device__ __forceinline__ void w2StageRows(float* const (&dst)[K], const float* const (&src)[K], int64_t row0, int nt, int64_t stride, int col0,
                                            int width, int units, bool vec) {
  for (int e = threadIdx.x; e < kW2Tile * units; e += blockDim.x) {
    const int t = e / units, q = e - t * units;
    const int d = 4 * w2Unit(e, t);
    if (vec) {
      const bool ok = t < nt && 4 * q < width;
      const int64_t g = ok ? (row0 + t) * stride + col0 + 4 * q : 0;
#pragma unroll
      for (int k = 0; k < K; k++) cpAsync16(dst[k] + d, src[k] + g, ok);
    } else {
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const bool ok = t < nt && 4 * q + r < width;
        const int64_t g = ok ? (row0 + t) * stride + col0 + 4 * q + r : 0;
#pragma unroll
        for (int k = 0; k < K; k++) cpAsync4(dst[k] + d + r, src[k] + g, ok);
      }
    }
  }
}

/**
 * Issues the copies of steps [row0, row0 + nt) (rows of batch row b's [T, ·] tensors; nt ≤ 256, zero past nt, past
 * the block's cw channels and past N) into stage `st`, and commits them as one cp.async group.
 * vecX: I % 4 == 0 and x, dt, z 16-byte aligned (16-byte copies of 4 channels); vecBC: N % 4 == 0 and B, C aligned.
 */
template <bool WY>
__device__ __forceinline__ void w2Stage(float* st, const ScanArgs& a, int64_t row0, int nt, int I, int N, int c0, int cw, int CB, int N4,
                                        bool vecX, bool vecBC) {
  float* sX = st;
  float* sD = sX + kW2Tile * CB;
  float* sZ = sD + kW2Tile * CB;
  float* sB = sZ + kW2Tile * CB;
  float* sC = sB + kW2Tile * 4 * N4;
  if (WY) {
    float* const dst[3] = {sX, sD, sZ};
    const float* const src[3] = {a.x, a.dt, a.z};
    w2StageRows<3>(dst, src, row0, nt, I, c0, cw, CB >> 2, vecX);
    float* const dBC[2] = {sB, sC};
    const float* const sBC[2] = {a.Bm, a.Cm};
    w2StageRows<2>(dBC, sBC, row0, nt, N, 0, N, N4, vecBC);
  } else {
    float* const dst[2] = {sX, sD};
    const float* const src[2] = {a.x, a.dt};
    w2StageRows<2>(dst, src, row0, nt, I, c0, cw, CB >> 2, vecX);
    float* const dB[1] = {sB};
    const float* const sB1[1] = {a.Bm};
    w2StageRows<1>(dB, sB1, row0, nt, N, 0, N, N4, vecBC);
  }
  cpAsyncCommit();
}

/**
 * One chunk (blockIdx.y) of CB channels of one batch row (blockIdx.x = b · ⌈I / CB⌉ + channel block); warp w runs
 * channels c0 + R·w … c0 + R·w + R − 1 over the same steps, so each B / C float4 it loads serves R channels (R = 2:
 * half the shared-memory reads of B and C a channel, 2·4 independent chains a state group, CB / 2 warps a block).
 * WY: write y (the single pass and pass 3); else sum Δ for the carry. start / end: scan_common.cuh's; scratch as
 * scanTiled's (hc [B, chunks, N, I], sd [B, chunks, I]) so its carry pass runs between.
 * K: the top K states' 2^x from ex2Poly (FMA pipe) instead of ex2 (SFU).
 */
template <bool WY, int N4, int K, int R>
__global__ void __launch_bounds__(32 * kW2MaxCB / R, 1) scanWarp2(ScanShape sh, ScanArgs a, int CB, int chunks, int chunkLen, float* hc,
                                                                  float* sd, int start, int end, bool vecX, bool vecBC) {
  float* smem = reinterpret_cast<float*>(w2Smem());
  const int stage = w2StageFloats(CB, N4);
  const int N = sh.N, I = sh.I, T = sh.T;
  const int blocksPerRow = (I + CB - 1) / CB;
  const int b = blockIdx.x / blocksPerRow, c0 = (blockIdx.x % blocksPerRow) * CB;
  const int cw = min(CB, I - c0);  // channels this block holds
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const bool active = R * warp < cw;  // warp-uniform; idle warps still stage and meet the barriers
  int cl[R];                          // the warp's channels in the block (past cw: the last, computed and not stored)
#pragma unroll
  for (int j = 0; j < R; j++) cl[j] = min(R * warp + j, cw - 1);
  const int chunk = blockIdx.y;
  const int t0 = chunk * chunkLen, t1 = min(T, t0 + chunkLen);
  const int64_t g = (int64_t)b * chunks + chunk;  // hc / sd row of this (b, chunk)

  // Each channel's A·log2 e (exp(Δ·A) = 2^(Δ·A·log2 e)) and its state h carried from tile to tile, 0 past N, in
  // shared memory (sA2[channel][0..3], sH[channel][0..3] float4s) rather than 32 registers: a group of 4 states reads
  // one float4 of each (a broadcast), and lane 31, whose inclusive pair is the whole tile's, writes the new h back.
  float4* sAH = reinterpret_cast<float4*>(smem + 2 * stage);  // [CB][8]: A2 float4s 0..3, h float4s 4..7
  if (active && lane < 16) {
#pragma unroll
    for (int j = 0; j < R; j++) {
      const int ci = c0 + cl[j];
      float av = 0.f, hv = 0.f;
      if (lane < N) {
        av = a.A[(int64_t)ci * N + lane] * kLog2eT;
        if (start == kFromState) hv = a.state[((int64_t)b * I + ci) * N + lane];
        else if (start == kFromScratch) hv = hc[(g * N + lane) * I + ci];
      }
      reinterpret_cast<float*>(sAH + (R * warp + j) * 8)[lane] = av;
      reinterpret_cast<float*>(sAH + (R * warp + j) * 8 + 4)[lane] = hv;
    }
  }
  __syncwarp();
  float Dv[R], bias[R], dsum[R];
  int xo[R];  // channel j's place in a staged x row: its unit (cl / 4) and float in it (cl % 4)
#pragma unroll
  for (int j = 0; j < R; j++) {
    Dv[j] = WY ? a.D[c0 + cl[j]] : 0.f;
    bias[j] = a.dtBias[c0 + cl[j]];
    dsum[j] = 0.f;
    xo[j] = cl[j];
  }
  const int first = lane * kW2Items;  // this lane's first step in a tile
  const int U = CB >> 2;              // x rows: U units
  const int64_t rowB = (int64_t)b * T;

  w2Stage<WY>(smem, a, rowB + t0, min(kW2Tile, t1 - t0), I, N, c0, cw, CB, N4, vecX, vecBC);
  for (int tb = t0, k = 0; tb < t1; tb += kW2Tile, k++) {
    float* sX = smem + (k & 1) * stage;
    float* sD = sX + kW2Tile * CB;
    float* sZ = sD + kW2Tile * CB;
    float4* sB = reinterpret_cast<float4*>(sZ + kW2Tile * CB);
    float4* sC = sB + kW2Tile * N4;
    const int nt = min(kW2Tile, t1 - tb);
    if (tb + kW2Tile < t1) {  // the next tile into the other stage (every read of it ended at the last barrier)
      w2Stage<WY>(smem + ((k + 1) & 1) * stage, a, rowB + tb + kW2Tile, min(kW2Tile, t1 - tb - kW2Tile), I, N, c0, cw, CB, N4, vecX, vecBC);
      cpAsyncWait1();
    } else {
      cpAsyncWait0();
    }
    __syncthreads();  // this tile's copies, by every thread, have landed

    if (active) {
      float dl[R][kW2Items], dx[R][kW2Items], yv[R][kW2Items];
#pragma unroll
      for (int i = 0; i < kW2Items; i++) {
        const int t = first + i;
        const bool ok = t < nt;  // steps past T: the identity pair (decay 1, input 0)
#pragma unroll
        for (int j = 0; j < R; j++) {
          const int f = 4 * w2Unit(t * U + (xo[j] >> 2), t) + (xo[j] & 3);
          const float xv = sX[f];
          const float delta = softplusFast(sD[f] + bias[j]);
          dl[j][i] = ok ? delta : 0.f;
          dx[j][i] = ok ? delta * xv : 0.f;
          yv[j][i] = Dv[j] * xv;
          if (!WY) dsum[j] += dl[j][i];
        }
      }
      // One group of 4 states (a float4 of B, of C) for the warp's R channels: P of them (the top) take 2^x from ex2Poly.
      auto group = [&](auto poly, int q) __attribute__((always_inline)) {
        constexpr int P = decltype(poly)::value;
        // Per step i of the lane: the pair (a, b) = (2^(Δ·A·log2 e), Δ·x·B_n), folded into the lane's running pair
        // (pa, pb) — h after step i is pa·h_start + pb, h_start the state entering the lane's first step, known only
        // after the scan — so C·h splits into C·pb (added to y now) and v_i = C·pa (times h_start after the scan):
        // 8 v's a state held across the scan instead of the 16 (a, b) a re-fold would need.
        float pa[R][4], pb[R][4], v[R][4][kW2Items];
        float4 A2[R];
#pragma unroll
        for (int j = 0; j < R; j++) {
          A2[j] = sAH[(R * warp + j) * 8 + q];
#pragma unroll
          for (int r = 0; r < 4; r++) {
            pa[j][r] = 1.f;
            pb[j][r] = 0.f;
          }
        }
        // Unit (t, q) of B / C for t = 8·lane + i: w2Unit(t·N4 + q, t) = 8·N4·lane + ((i·N4 + q) ^ (lane & 7)) (the XOR
        // touches the low 3 bits only); at N4 = 4 that is 32·lane + 8·(i / 2) + ((4·(i % 2) + q) ^ (lane & 7)): two
        // XORs a group and immediate offsets, instead of the index math per step.
        const int sw = lane & 7, qs0 = q ^ sw, qs1 = (4 + q) ^ sw;
        (void)qs0, (void)qs1;  // N4 ≠ 4 uses w2Unit
#pragma unroll
        for (int i = 0; i < kW2Items; i++) {
          int u;
          if constexpr (N4 == 4) u = 32 * lane + 8 * (i >> 1) + ((i & 1) ? qs1 : qs0);
          else u = w2Unit((first + i) * N4 + q, first + i);
          float4 Bv = sB[u];
          float4 Cv = WY ? sC[u] : Bv;
#pragma unroll
          for (int j = 0; j < R; j++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
              const float x2 = dl[j][i] * comp(A2[j], r);
              const float da = r >= 4 - P ? ex2Poly(x2) : ex2(x2);
              pb[j][r] = da * pb[j][r] + dx[j][i] * comp(Bv, r);
              pa[j][r] *= da;
              if (WY) {
                yv[j][i] += comp(Cv, r) * pb[j][r];
                v[j][r][i] = comp(Cv, r) * pa[j][r];
              }
            }
          }
        }
        // An inclusive scan of the folded pairs over the lanes ((a1, b1) then (a2, b2) is (a1·a2, a2·b1 + b2)), 4·R at once.
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) {
#pragma unroll
          for (int j = 0; j < R; j++) {
#pragma unroll
            for (int r = 0; r < 4; r++) {
              const float qa = __shfl_up_sync(0xffffffffu, pa[j][r], off), qb = __shfl_up_sync(0xffffffffu, pb[j][r], off);
              if (lane >= off) {
                pb[j][r] = pa[j][r] * qb + pb[j][r];
                pa[j][r] *= qa;
              }
            }
          }
        }
        // The lane's start state: the lanes before it (exclusive scan) applied to the carried h; the new carried h:
        // lane 31's inclusive pair (all 32 lanes') applied to it, written back once every lane has read the old one.
#pragma unroll
        for (int j = 0; j < R; j++) {
          float4* sH = sAH + (R * warp + j) * 8 + 4;
          float4 h4 = sH[q], hNew;
          float hs[4];
#pragma unroll
          for (int r = 0; r < 4; r++) {
            const float ea = __shfl_up_sync(0xffffffffu, pa[j][r], 1), eb = __shfl_up_sync(0xffffffffu, pb[j][r], 1);
            const float hv = comp(h4, r);
            hs[r] = lane == 0 ? hv : ea * hv + eb;
            comp(hNew, r) = pa[j][r] * hv + pb[j][r];
          }
          __syncwarp();
          if (lane == 31) sH[q] = hNew;
          if (WY) {
#pragma unroll
            for (int i = 0; i < kW2Items; i++)
#pragma unroll
              for (int r = 0; r < 4; r++) yv[j][i] += v[j][r][i] * hs[r];
          }
        }
      };
      // Groups on the SFU, the one the top K states end in, then those wholly by polynomial (K compile-time).
      constexpr int kFull = K / 4, kPart = K % 4, kPlain = N4 - kFull - (kPart ? 1 : 0);
#pragma unroll 1
      for (int q = 0; q < kPlain; q++) group(PolyK<0>{}, q);
      if (kPart) group(PolyK<kPart>{}, kPlain);
#pragma unroll 1
      for (int q = N4 - kFull; q < N4; q++) group(PolyK<4>{}, q);
      if (WY) {  // y into each channel's x column (only this lane read x there), stored coalesced below
#pragma unroll
        for (int i = 0; i < kW2Items; i++) {
          const int t = first + i;
#pragma unroll
          for (int j = 0; j < R; j++) {
            if (R * warp + j < cw) {  // a duplicate channel past cw writes nothing (it would race its twin)
              const int f = 4 * w2Unit(t * U + (xo[j] >> 2), t) + (xo[j] & 3);
              sX[f] = yv[j][i] * siluFast(sZ[f]);
            }
          }
        }
      }
    }
    if (WY) {
      __syncthreads();  // every warp's y columns are in sX
      for (int e = threadIdx.x; e < nt * U; e += blockDim.x) {
        const int t = e / U, q = e - t * U;
        const float* src = sX + 4 * w2Unit(e, t);
        float* dst = a.y + (rowB + tb + t) * I + c0 + 4 * q;
        if (vecX) {
          if (4 * q < cw) __stcs(reinterpret_cast<float4*>(dst), *reinterpret_cast<const float4*>(src));
        } else {
#pragma unroll
          for (int r = 0; r < 4; r++)
            if (4 * q + r < cw) __stcs(dst + r, src[r]);
        }
      }
    }
    __syncthreads();  // every read of this stage is done before the tile after next is copied into it
  }
  if (!active || end == kNoEnd) return;
  __syncwarp();  // lane 31's last writes of sH
#pragma unroll
  for (int j = 0; j < R; j++) {
    if (end == kToScratch) {
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) dsum[j] += __shfl_xor_sync(0xffffffffu, dsum[j], o, 32);
    }
    if (R * warp + j >= cw) continue;  // warp-uniform
    const int ci = c0 + cl[j];
    if (lane < N) {
      const float hv = reinterpret_cast<const float*>(sAH + (R * warp + j) * 8 + 4)[lane];
      if (end == kToState) a.state[((int64_t)b * I + ci) * N + lane] = hv;
      else hc[(g * N + lane) * I + ci] = hv;
    }
    if (end == kToScratch && lane == 0) sd[g * I + ci] = dsum[j];
  }
}

/** MAMBA_EDGE_CUDA_SCAN_CB: scanWarp2's channels a block (4, 8 or 12; else 0 = chosen per shape). */
static int forcedChannels() {
  static const int cb = [] {
    const char* v = std::getenv("MAMBA_EDGE_CUDA_SCAN_CB");
    const int n = v ? std::atoi(v) : 0;
    return n == 4 || n == 8 || n == 12 ? n : 0;
  }();
  return cb;
}

/** MAMBA_EDGE_CUDA_SCAN_R: scanWarp2's channels a warp (1, or 2 for N 13–16 with no polynomial states; default 1). */
static int forcedPerWarp() {
  static const int r = [] {
    const char* v = std::getenv("MAMBA_EDGE_CUDA_SCAN_R");
    return v && std::strcmp(v, "2") == 0 ? 2 : 1;
  }();
  return r;
}

static int multiprocessorCount() {
  static const int sms = [] {
    int dev = 0, n = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) return 132;
    return std::max(1, n);
  }();
  return sms;
}

bool scanWarp2Fits(const ScanShape& sh) { return !sh.ssd && sh.N >= 1 && sh.N <= 16; }

/** The most dynamic shared memory a block may opt in to (227 KB on an H100, 163 KB on an A100, 99 KB on sm_86 / sm_89). */
static int sharedOptin() {
  static const int bytes = [] {
    int dev = 0, n = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) return 163 * 1024;
    return n;
  }();
  return bytes;
}

int scanWarp2Channels(const ScanShape& sh, int multiprocessors) {
  const int N4 = (sh.N + 3) / 4;
  int best = kW2MaxCB;
  if (forcedChannels()) {
    best = forcedChannels();
  } else {
    const int64_t sms = std::max(1, multiprocessors);
    int64_t bestLoad = INT64_MAX;
    for (int cb = kW2MaxCB; cb >= 4; cb -= 4) {
      const int64_t blocks = (int64_t)sh.B * ((sh.I + cb - 1) / cb);
      const int64_t load = (blocks + sms - 1) / sms * cb;  // channels on the busiest SM
      if (load < bestLoad) best = cb, bestLoad = load;
    }
  }
  while (best > 4 && w2SmemBytes(best, N4) > sharedOptin()) best -= 4;  // GPUs with less shared memory a block
  return best;
}

int scanWarp2Chunks(const ScanShape& sh, int multiprocessors) {
  const int cb = scanWarp2Channels(sh, multiprocessors);
  const int64_t blocks = (int64_t)sh.B * ((sh.I + cb - 1) / cb);
  const int64_t sms = std::max(1, multiprocessors);
  if (2 * blocks >= sms || sh.T < 1024) return 1;
  const int64_t chunks = std::min<int64_t>((sms + blocks - 1) / blocks, sh.T / 512);
  return (int)std::max<int64_t>(1, std::min<int64_t>(chunks, 65535));
}

static bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <int N4, int K, int R = 1>
static cudaError_t warp2N(const ScanShape& sh, const ScanArgs& a, int CB, int chunks, void* scratch, cudaStream_t s) {
  static bool configured = false;  // > 48 KB of dynamic shared memory needs an opt-in per kernel
  if (!configured) {
    const int most = w2SmemBytes(kW2MaxCB, N4);
    for (auto k : {scanWarp2<true, N4, K, R>, scanWarp2<false, N4, K, R>}) {
      cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, most);
      cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
    }
    configured = true;
  }
  const bool vecX = sh.I % 4 == 0 && aligned16(a.x) && aligned16(a.dt) && aligned16(a.z) && aligned16(a.y);
  const bool vecBC = sh.N % 4 == 0 && aligned16(a.Bm) && aligned16(a.Cm);
  const size_t smem = w2SmemBytes(CB, N4);
  const unsigned gx = (unsigned)((int64_t)sh.B * ((sh.I + CB - 1) / CB));
  if (chunks <= 1) {
    scanWarp2<true, N4, K, R><<<dim3(gx, 1), CB * 32 / R, smem, s>>>(sh, a, CB, 1, sh.T, nullptr, nullptr, kFromState, kToState, vecX, vecBC);
    return cudaGetLastError();
  }
  const int chunkLen = (sh.T + chunks - 1) / chunks;
  chunks = (sh.T + chunkLen - 1) / chunkLen;
  float* hc = static_cast<float*>(scratch);               // [B, chunks, N, I]
  float* sd = hc + (size_t)sh.B * chunks * sh.N * sh.I;  // [B, chunks, I]: scanScratchBytes' sizes, scanTiled's layout
  scanWarp2<false, N4, K, R><<<dim3(gx, chunks), CB * 32 / R, smem, s>>>(sh, a, CB, chunks, chunkLen, hc, sd, kFromZero, kToScratch, vecX, vecBC);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  if ((e = launchScanTiledCarry(sh, a.A, a.state, hc, sd, chunks, s)) != cudaSuccess) return e;
  scanWarp2<true, N4, K, R><<<dim3(gx, chunks), CB * 32 / R, smem, s>>>(sh, a, CB, chunks, chunkLen, hc, sd, kFromScratch, kNoEnd, vecX, vecBC);
  return cudaGetLastError();
}

cudaError_t launchScanWarp2(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, int poly, cudaStream_t s) {
  const int CB = scanWarp2Channels(sh, multiprocessorCount());
  const int N4 = (sh.N + 3) / 4;
  if (N4 <= 1) return warp2N<1, 0>(sh, a, CB, chunks, scratch, s);
  if (N4 == 2) return warp2N<2, 0>(sh, a, CB, chunks, scratch, s);
  if (N4 == 3) return warp2N<3, 0>(sh, a, CB, chunks, scratch, s);
  switch (poly) {  // N4 = 4 (N 13–16): the top `poly` states by polynomial
    case 1: return warp2N<4, 1>(sh, a, CB, chunks, scratch, s);
    case 2: return warp2N<4, 2>(sh, a, CB, chunks, scratch, s);
    case 3: return warp2N<4, 3>(sh, a, CB, chunks, scratch, s);
    case 4: return warp2N<4, 4>(sh, a, CB, chunks, scratch, s);
    case 5: return warp2N<4, 5>(sh, a, CB, chunks, scratch, s);
    case 6: return warp2N<4, 6>(sh, a, CB, chunks, scratch, s);
    case 7: return warp2N<4, 7>(sh, a, CB, chunks, scratch, s);
    case 8: return warp2N<4, 8>(sh, a, CB, chunks, scratch, s);
    default: return forcedPerWarp() == 2 ? warp2N<4, 0, 2>(sh, a, CB, chunks, scratch, s) : warp2N<4, 0>(sh, a, CB, chunks, scratch, s);
  }
}

}  // namespace me
