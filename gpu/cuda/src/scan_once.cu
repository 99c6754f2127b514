// scanOnce: the Mamba-1 prefill scan (N ≤ 16) in one pass that takes every exponential once — the kernel
// the ninth session's probe of scanTiled asked for (BENCHMARKS.md, "where the Mamba-1 scan's time goes": the
// three tiled passes are bound by their 38 SFU operations a token and channel, then by ~19 instructions a state
// update; a pass that reaches issue 9's 70 % must take each decay's ex2 once and spend ≤ ~12 instructions an
// update). MAMBA_EDGE_CUDA_SCAN=once selects it; not the default until it measures faster on a GPU.
//
// The recurrence (Gu & Dao 2023, Alg. 2; HF MambaMixer.slow_forward), channel i of batch row b:
//   Δ = softplus(dt + dt_bias);  h_n ← exp(Δ·A[i,n])·h_n + Δ·x·B_n;  y = (Σ_n C_n·h_n + D·x)·silu(z)
// as mamba_ssm's selective_scan_fwd does it (csrc/selective_scan/selective_scan_fwd_kernel.cuh): a warp is one
// channel and walks T in tiles of 512 steps, lane l holding steps 16l … 16l + 15; for each state n the lane
// folds its 16 pairs (a_t, b_t) = (2^(Δ_t·A_n·log2 e), Δ_t·x_t·B_t,n) into one (a, b) — a's product taken as
// one ex2 of ΣΔ — the lanes scan their pairs with 5 shuffles (Kogge–Stone), and each lane re-walks its steps
// from its start state, y_t += C_t,n·h_t, with the a_t, b_t it kept in registers: one ex2 a state update.
// What differs from scanWarp (scan.cu, the first port of that design, 34 instructions an update on the H100):
// 16 steps a lane (the shuffle scan's cost halves per update), the lane's decay product as one ex2 of ΣΔ
// instead of 7 dependent multiplies, the SFU softplus / silu of scan_fast.cuh instead of libm's, the tile's
// rows staged with 16-byte loads and written transposed (no 4-byte cp.async with a runtime division each),
// B and C staged 8 states at a time (58 KB of shared memory a block: 3 blocks of 4 warps an SM), and the
// loop over n not unrolled, with A·log2 e and the carried state of each n in shared memory, so the registers
// hold one n's 16 (a_t, b_t) pairs rather than every n's.
//
// A block is 4 channels (a warp each) of one batch row: 384 blocks at mamba-130m's 1,536 channels. Shared rows
// are [channel or state][step], a step's float4 swapped within its lane's four (swz16) so the 8 lanes of a
// quarter warp reading float4 j of their 16 steps hit 8 different bank groups. Steps past T are the identity
// pair (Δ = 0: a = 1, b = 0) with B = C = 0, so they change nothing and are never stored.
#include <algorithm>
#include "common.cuh"
#include "scan_common.cuh"
#include "scan_fast.cuh"

namespace me {

constexpr int kOC = 4;             // channels a block, a warp each
constexpr int kOK = 16;            // consecutive steps a lane holds
constexpr int kOTile = 32 * kOK;   // steps a tile
constexpr int kORow = kOTile + 4;  // a staged row's stride in floats (+4: each row 4 banks over)
constexpr int kON = 16;            // N ≤ 16
constexpr int kOHalf = 8;          // states of B and C staged at once
constexpr float kOLog2e = 1.4426950408889634f;
// A lane's 16 steps as two chains of 8 in the fold and in the re-walk (the second re-walk chain starting from
// the state after step 7, that is 2^(A·ΣΔ of steps 0–7)·start + the first chain's fold): half the dependent
// FMAs on a state's critical path for 2 more ex2 a state and lane. A timing candidate (tools/cuda-probe's
// once-split, tools/cuda-emu checks both), off until a GPU says it helps.
constexpr bool kOSplit = false;

/** Where step t of a staged row lives: its float4 q = t / 4 XOR-swapped within the lane's four by ((t / 32) & 3). */
__device__ __forceinline__ int swz16(int t) {
  const int q = t >> 2;
  return ((q ^ ((q >> 3) & 3)) << 2) | (t & 3);
}

/** Where a lane's four float4s live in a staged row: swz16 of its steps 16l, 16l + 4, …, computed once a kernel. */
struct LaneSlots {
  int at[kOK / 4];
  __device__ explicit LaneSlots(int first) {
#pragma unroll
    for (int j = 0; j < kOK / 4; j++) at[j] = swz16(first + 4 * j);
  }
};

/** A lane's 16 steps of a staged row (four float4 loads). */
__device__ __forceinline__ void load16(const float* row, const LaneSlots& slots, float (&v)[kOK]) {
#pragma unroll
  for (int j = 0; j < kOK / 4; j++) {
    const float4 f = *reinterpret_cast<const float4*>(row + slots.at[j]);
    v[4 * j] = f.x, v[4 * j + 1] = f.y, v[4 * j + 2] = f.z, v[4 * j + 3] = f.w;
  }
}
__device__ __forceinline__ void store16(float* row, const LaneSlots& slots, const float (&v)[kOK]) {
#pragma unroll
  for (int j = 0; j < kOK / 4; j++)
    *reinterpret_cast<float4*>(row + slots.at[j]) = make_float4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
}

/** Shared memory of a block: x (then y), dt, z rows of 4 channels, B and C rows of 8 states. */
constexpr size_t kOnceSmem = (size_t)(3 * kOC + 2 * kOHalf) * kORow * sizeof(float);

/**
 * One tile row t of the block's 4 channels of `src` ([B, T, I]) into rows [4][kORow] at swz16(t): a 16-byte load
 * where `vec` (I % 4 == 0 and src 16-byte aligned; the block's first channel is a multiple of 4), else 4-byte
 * loads of the channels that exist. ok = false (t past T) writes zeros.
 */
__device__ __forceinline__ void stageChannels(float* rows, const float* src, int64_t at, int cw, bool ok, bool vec, int t) {
  float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
  if (ok) {
    if (vec) v = *reinterpret_cast<const float4*>(src + at);
    else {
      v.x = src[at];
      if (cw > 1) v.y = src[at + 1];
      if (cw > 2) v.z = src[at + 2];
      if (cw > 3) v.w = src[at + 3];
    }
  }
  const int s = swz16(t);
  rows[s] = v.x, rows[kORow + s] = v.y, rows[2 * kORow + s] = v.z, rows[3 * kORow + s] = v.w;
}

/** One pass over all T for 4 channels of batch row blockIdx.x / ⌈I/4⌉: state in, y and state out. */
__global__ void __launch_bounds__(kOC * 32, 3) scanOnce(ScanShape sh, ScanArgs a, bool vecX, bool vecBC) {
  extern __shared__ float4 onceSmem4[];
  float* sX = reinterpret_cast<float*>(onceSmem4);  // [kOC][kORow]: x, then y
  float* sD = sX + kOC * kORow;                      // dt
  float* sZ = sD + kOC * kORow;                      // z
  float* sB = sZ + kOC * kORow;                      // [kOHalf][kORow]: B of states 8·half …
  float* sC = sB + kOHalf * kORow;
  __shared__ float sA2[kOC][kON], sH[kOC][kON];  // A·log2 e and the state carried from tile to tile
  const int N = sh.N, I = sh.I, T = sh.T;
  const int blocksPerRow = (I + kOC - 1) / kOC;
  const int b = blockIdx.x / blocksPerRow, c0 = (blockIdx.x % blocksPerRow) * kOC;
  const int cw = min(kOC, I - c0);  // channels this block holds
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const bool active = warp < cw;  // warp-uniform; idle warps stage and meet the barriers
  const int ci = c0 + (active ? warp : 0);
  const int64_t c = (int64_t)b * I + ci;
  if (lane < kON) {
    const bool on = active && lane < N;
    sA2[warp][lane] = on ? a.A[(int64_t)ci * N + lane] * kOLog2e : 0.f;
    sH[warp][lane] = on ? a.state[c * N + lane] : 0.f;
  }
  const float Dv = a.D[ci], bias = a.dtBias[ci];
  const int first = lane * kOK;  // this lane's first step in a tile
  const LaneSlots slots(first);
  const int halves = (N + kOHalf - 1) / kOHalf;

  for (int tb = 0; tb < T; tb += kOTile) {
    const int nt = min(kOTile, T - tb);
    const int64_t row0 = (int64_t)b * T + tb;
    __syncthreads();  // the previous tile's y rows are stored and every read of this tile's buffers is done
    for (int t = threadIdx.x; t < kOTile; t += kOC * 32) {
      const int64_t at = (row0 + min(t, nt - 1)) * I + c0;
      stageChannels(sX, a.x, at, cw, t < nt, vecX, t);
      stageChannels(sD, a.dt, at, cw, t < nt, vecX, t);
      stageChannels(sZ, a.z, at, cw, t < nt, vecX, t);
    }
    float dl[kOK], dx[kOK], yv[kOK];
    float sumDl = 0.f, sumLo = 0.f;  // ΣΔ over the lane's 16 steps, over its first 8
    for (int half = 0; half < halves; half++) {
      if (half > 0) __syncthreads();  // every warp is done with the previous half's B, C rows
      // B, C of states [8·half, 8·half + 8) for this tile: rows [state][step], zero past T and past N.
      for (int e = threadIdx.x; e < kOTile * (kOHalf / 4); e += kOC * 32) {
        const int t = e >> 1, q = 2 * half + (e & 1);  // two float4s of 4 states a step
        float4 vb = make_float4(0.f, 0.f, 0.f, 0.f), vc = vb;
        if (t < nt && 4 * q < N) {
          const int64_t g = (row0 + t) * N + 4 * q;
          if (vecBC) {
            vb = *reinterpret_cast<const float4*>(a.Bm + g);
            vc = *reinterpret_cast<const float4*>(a.Cm + g);
          } else {
            float* pb = reinterpret_cast<float*>(&vb);
            float* pc = reinterpret_cast<float*>(&vc);
#pragma unroll
            for (int r = 0; r < 4; r++)
              if (4 * q + r < N) pb[r] = a.Bm[g + r], pc[r] = a.Cm[g + r];
          }
        }
        const int s = swz16(t), r0 = 4 * (q - 2 * half);
        sB[r0 * kORow + s] = vb.x, sB[(r0 + 1) * kORow + s] = vb.y, sB[(r0 + 2) * kORow + s] = vb.z, sB[(r0 + 3) * kORow + s] = vb.w;
        sC[r0 * kORow + s] = vc.x, sC[(r0 + 1) * kORow + s] = vc.y, sC[(r0 + 2) * kORow + s] = vc.z, sC[(r0 + 3) * kORow + s] = vc.w;
      }
      __syncthreads();
      if (!active) continue;
      if (half == 0) {  // this tile's Δ, Δ·x and D·x, once for all states
        float xs[kOK], ds[kOK];
        load16(sX + warp * kORow, slots, xs);
        load16(sD + warp * kORow, slots, ds);
#pragma unroll
        for (int i = 0; i < kOK; i++) {
          const bool ok = first + i < nt;
          const float delta = ok ? softplusFast(ds[i] + bias) : 0.f;
          dl[i] = delta;
          dx[i] = delta * xs[i];
          yv[i] = Dv * xs[i];
          sumDl += delta;
          if (i == kOK / 2 - 1) sumLo = sumDl;
        }
      }
      const int nEnd = min(kOHalf, N - kOHalf * half);
#pragma unroll 1
      for (int k = 0; k < nEnd; k++) {
        const int n = kOHalf * half + k;
        const float A2 = sA2[warp][n], h = sH[warp][n];
        float da[kOK], db[kOK];
        {
          float Bv[kOK];
          load16(sB + k * kORow, slots, Bv);
#pragma unroll
          for (int i = 0; i < kOK; i++) {
            da[i] = ex2(dl[i] * A2);
            db[i] = dx[i] * Bv[i];
          }
        }
        // (a1, b1) then (a2, b2) is (a1·a2, a2·b1 + b2): fold the lane's 16 steps, then scan the lanes.
        constexpr int kFold = kOSplit ? kOK / 2 : kOK;  // steps in the first fold chain
        float pbLo = db[0];
#pragma unroll
        for (int i = 1; i < kFold; i++) pbLo = da[i] * pbLo + db[i];
        float pb = pbLo;
        if constexpr (kOSplit) {
          float pbHi = db[kFold];
#pragma unroll
          for (int i = kFold + 1; i < kOK; i++) pbHi = da[i] * pbHi + db[i];
          pb = ex2(A2 * (sumDl - sumLo)) * pbLo + pbHi;
        }
        float pa = ex2(A2 * sumDl);
        warpScanAffine(pa, pb, lane);
        // The lane's start state: the lanes before it (exclusive) applied to the carried h; lane 31's
        // inclusive pair carries h to the next tile.
        const float ea = __shfl_up_sync(0xffffffffu, pa, 1), eb = __shfl_up_sync(0xffffffffu, pb, 1);
        const float la = __shfl_sync(0xffffffffu, pa, 31), lb = __shfl_sync(0xffffffffu, pb, 31);
        float hs = lane == 0 ? h : ea * h + eb;
        {
          float Cv[kOK];
          load16(sC + k * kORow, slots, Cv);
          // kOSplit: the state after step 7 from the lane's start state and the first fold, so the second
          // half's chain need not wait for the first's.
          float hm = kOSplit ? ex2(A2 * sumLo) * hs + pbLo : 0.f;
#pragma unroll
          for (int i = 0; i < kOK; i++) {
            float& hv = kOSplit && i >= kOK / 2 ? hm : hs;
            hv = da[i] * hv + db[i];
            yv[i] += Cv[i] * hv;
          }
        }
        __syncwarp();  // every lane has read sH[warp][n] before lane 0 replaces it
        if (lane == 0) sH[warp][n] = la * h + lb;
      }
    }
    if (active) {
      float zs[kOK];
      load16(sZ + warp * kORow, slots, zs);
#pragma unroll
      for (int i = 0; i < kOK; i++) yv[i] *= siluFast(zs[i]);
      store16(sX + warp * kORow, slots, yv);  // this warp's own x row: only it read x there
    }
    __syncthreads();
    for (int t = threadIdx.x; t < nt; t += kOC * 32) {
      const int64_t at = (row0 + t) * I + c0;
      const int s = swz16(t);
      if (vecX) {
        *reinterpret_cast<float4*>(a.y + at) = make_float4(sX[s], sX[kORow + s], sX[2 * kORow + s], sX[3 * kORow + s]);
      } else {
        for (int k = 0; k < cw; k++) a.y[at + k] = sX[k * kORow + s];
      }
    }
  }
  __syncthreads();
  if (active && lane < N) a.state[c * N + lane] = sH[warp][lane];
}

bool scanOnceFits(const ScanShape& sh) { return !sh.ssd && sh.N >= 1 && sh.N <= kON; }

int64_t scanOnceBlocks(const ScanShape& sh) { return (int64_t)sh.B * ((sh.I + kOC - 1) / kOC); }

cudaError_t launchScanOnce(const ScanShape& sh, const ScanArgs& a, cudaStream_t s) {
  static bool configured = false;  // > 48 KB of dynamic shared memory needs an opt-in per kernel
  if (!configured) {
    cudaFuncSetAttribute(scanOnce, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kOnceSmem);
    cudaFuncSetAttribute(scanOnce, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
    configured = true;
  }
  const auto aligned = [](const float* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  const bool vecX = sh.I % 4 == 0 && aligned(a.x) && aligned(a.dt) && aligned(a.z) && aligned(a.y);
  const bool vecBC = sh.N % 4 == 0 && aligned(a.Bm) && aligned(a.Cm);
  const unsigned gx = (unsigned)scanOnceBlocks(sh);
  scanOnce<<<gx, kOC * 32, kOnceSmem, s>>>(sh, a, vecX, vecBC);
  return cudaGetLastError();
}

}  // namespace me
