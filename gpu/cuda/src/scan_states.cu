// scanStates: the Mamba-1 prefill scan (N ≤ 16) as one walk over T with a lane per state entry.
//
// The recurrence (Gu & Dao 2023, Alg. 2; HF MambaMixer.slow_forward), channel i of batch row b:
//   Δ = softplus(dt + dt_bias);  h_n ← exp(Δ·A[i,n])·h_n + Δ·x·B_n;  y = (Σ_n C_n·h_n + D·x)·silu(z)
// walked in order, once. scan_tiled.cu's three passes get their parallelism from chunks of T and pay for
// it with every exp(Δ·A) taken twice (the SFU alone caps them at 59 % of a copy on the H100, and they
// measure 37.8 %: BENCHMARKS.md, ninth and tenth sessions). Here the parallelism comes from n instead:
// lane n of a channel's 16 owns h_n, so B·I·16 threads walk (24,576 at mamba-130m's width: ~6 warps an
// H100 SM), each exponential is taken once and nothing goes through scratch.
//
// A block is kSC = 8 channels × 16 lanes. T is staged kStage steps at a time with cp.async, DEPTH tiles in
// flight (3 where the grid is one wave at 3 blocks an SM, else 2, which lets 4 blocks share an SM). Per tile:
//   1. prep: Δ and Δ·x once per (step, channel) — not once per lane — stored channel-major, and B, C
//      transposed to [n][step], so a lane reads its values of 4 steps as one float4;
//   2. walk, 16 steps at a time: a = 2^(Δ·A·log2 e), h = a·h + Δx·B_n, p_u = C_n·h;
//   3. y's sum over n as a transpose through shared memory: the 16 lanes store their p, lane u adds up
//      step u's 16 (16 stores, 4 loads, 15 adds a lane per 16 steps, against 4 shuffles and 4 adds a
//      step for a butterfly), gates it with D·x and silu(z) and leaves it in a staged y tile,
//   4. which goes out as 32-byte rows while the next tile is prepared.
// Lanes n ≥ N hold A = B = C = 0 (their h stays 0); steps past T get Δ = Δ·x = 0 (h unchanged there).
// MAMBA_EDGE_CUDA_SCAN=states selects it (scan.cu's useStates).
#include <algorithm>
#include "common.cuh"
#include "scan_common.cuh"
#include "scan_fast.cuh"

namespace me {

constexpr int kSC = 8;                  // channels a block
constexpr int kSL = 16;                 // lanes a channel: one per state entry (N ≤ 16)
constexpr int kSThreads = kSC * kSL;    // 128
constexpr int kStage = 64;              // steps a staged tile
constexpr int kSub = 16;                // steps a run between y's sums over n: lane u of a channel sums step u
constexpr int kRow = kStage + 4;        // a channel's (or an n's) row of the prepared tile: 16-byte aligned, rows 4 banks apart
constexpr int kPRow = 20;               // p's row of one step (16 lanes + 4): the reading lanes' float4s spread over the banks
constexpr int kPChan = kSub * kPRow + 16;  // p's block of one channel: the two channels of a warp 16 banks apart
// Shared memory, in floats. A raw tile (as staged): x, dt, z [kStage][kSC], B, C [kStage][16].
constexpr int kRawX = 0, kRawDt = kStage * kSC, kRawZ = 2 * kStage * kSC, kRawB = 3 * kStage * kSC, kRawC = kRawB + kStage * 16;
constexpr int kRawFloats = kRawC + kStage * 16;
// After the DEPTH raw tiles: Δ, Δx [kSC][kRow], Bᵀ, Cᵀ [16][kRow], p [kSC][kPChan], y [2][kStage][kSC].
constexpr int kPrepDelta = 0, kPrepDx = kSC * kRow, kPrepB = 2 * kSC * kRow, kPrepC = kPrepB + 16 * kRow, kP = kPrepC + 16 * kRow;
constexpr int kY = kP + kSC * kPChan;
constexpr int kWorkFloats = kY + 2 * kStage * kSC;
constexpr size_t statesSmemBytes(int depth) { return sizeof(float) * ((size_t)depth * kRawFloats + kWorkFloats); }

/** Waits until at most K of this thread's cp.async groups are pending (K a compile-time constant). */
template <int K>
__device__ __forceinline__ void cpAsyncWaitN() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(K));
}

/**
 * A thread's share of staging a tile: fixed (step, column) slots, so only t0 moves from tile to tile. VX: x, dt, z
 * rows as two 16-byte copies (I % 4 == 0, 16-byte aligned), else 4-byte ones; VBC: the same for B, C (N % 4 == 0).
 * Zero past T, past I and past N. One cp.async group a tile.
 */
template <bool VX, bool VBC>
struct StatesStager {
  static constexpr int kXPer = VX ? kStage * 2 / kSThreads : kStage * kSC / kSThreads;   // slots of each of x, dt, z: 1 or 4
  static constexpr int kBPer = VBC ? kStage * 4 / kSThreads : kStage * 16 / kSThreads;  // slots of each of B, C: 2 or 8
  static constexpr int kXStep = VX ? kSThreads / 2 : kSThreads / kSC;                   // steps between a thread's slots
  static constexpr int kBStep = VBC ? kSThreads / 4 : kSThreads / 16;
  int xRow, xCol, bRow, bCol;  // first slot's step and column (column: floats into the row)
  bool xOn, bOn;               // the column is inside I / N
  int64_t xOff, bOff;          // global offset of the first slot at t0 = 0

  __device__ StatesStager(const ScanShape& sh, int b, int i0) {
    const int t = threadIdx.x;
    xRow = VX ? t >> 1 : t / kSC;
    xCol = VX ? 4 * (t & 1) : t % kSC;
    bRow = VBC ? t >> 2 : t >> 4;
    bCol = VBC ? 4 * (t & 3) : t & 15;
    xOn = i0 + xCol < sh.I;  // with VX, I % 4 == 0: a 16-byte column is all in or all out
    bOn = bCol < sh.N;
    xOff = ((int64_t)b * sh.T + xRow) * sh.I + i0 + xCol;
    bOff = ((int64_t)b * sh.T + bRow) * sh.N + bCol;
  }

  __device__ __forceinline__ void stage(float* raw, const ScanShape& sh, const ScanArgs& a, int t0) const {
    const int64_t xAt = xOff + (int64_t)t0 * sh.I, bAt = bOff + (int64_t)t0 * sh.N;
#pragma unroll
    for (int j = 0; j < kXPer; j++) {
      const int t = xRow + j * kXStep;
      const bool ok = xOn && t0 + t < sh.T;
      const int64_t g = ok ? xAt + (int64_t)j * kXStep * sh.I : 0;
      float* d = raw + t * kSC + xCol;
      if (VX) {
        cpAsync16(d + kRawX, a.x + g, ok);
        cpAsync16(d + kRawDt, a.dt + g, ok);
        cpAsync16(d + kRawZ, a.z + g, ok);
      } else {
        cpAsync4(d + kRawX, a.x + g, ok);
        cpAsync4(d + kRawDt, a.dt + g, ok);
        cpAsync4(d + kRawZ, a.z + g, ok);
      }
    }
#pragma unroll
    for (int j = 0; j < kBPer; j++) {
      const int t = bRow + j * kBStep;
      const bool ok = bOn && t0 + t < sh.T;
      const int64_t g = ok ? bAt + (int64_t)j * kBStep * sh.N : 0;
      float* d = raw + t * 16 + bCol;
      if (VBC) {
        cpAsync16(d + kRawB, a.Bm + g, ok);
        cpAsync16(d + kRawC, a.Cm + g, ok);
      } else {
        cpAsync4(d + kRawB, a.Bm + g, ok);
        cpAsync4(d + kRawC, a.Cm + g, ok);
      }
    }
    cpAsyncCommit();
  }
};

/** Writes the staged y tile of steps [t0, t0 + kStage) (rows of channels [i0, i0 + 8)), up to T and I. */
template <bool VX>
__device__ __forceinline__ void storeStatesY(const float* sY, const ScanShape& sh, float* y, int b, int i0, int t0) {
  const int T = sh.T, I = sh.I;
  const int64_t rowY = (int64_t)b * T;
  if (VX) {
    const int t = threadIdx.x >> 1, half = threadIdx.x & 1;  // 64 rows × 2 float4s: one each
    if (t0 + t < T && i0 + 4 * half < I)
      __stcs(reinterpret_cast<float4*>(y + (rowY + t0 + t) * I + i0 + 4 * half), *reinterpret_cast<const float4*>(sY + t * kSC + 4 * half));
  } else {
#pragma unroll
    for (int j = 0; j < kStage * kSC / kSThreads; j++) {
      const int k = threadIdx.x + j * kSThreads, t = k / kSC, c = k % kSC;
      if (t0 + t < T && i0 + c < I) __stcs(y + (rowY + t0 + t) * I + i0 + c, sY[t * kSC + c]);
    }
  }
}

/** One quad of 4 steps of a lane's walk inputs, read from the prepared tile as float4s (Δ, Δ·x of its channel; B, C of its n). */
struct StatesQuad {
  float4 d, dx, b, c;
  __device__ __forceinline__ static StatesQuad load(const float* dRow, const float* dxRow, const float* bRow, const float* cRow, int t) {
    return {*reinterpret_cast<const float4*>(dRow + t), *reinterpret_cast<const float4*>(dxRow + t), *reinterpret_cast<const float4*>(bRow + t),
            *reinterpret_cast<const float4*>(cRow + t)};
  }
  /** exp(Δ·A) of the 4 steps, A2 = A·log2 e. */
  __device__ __forceinline__ float4 decay(float A2) const { return make_float4(ex2(d.x * A2), ex2(d.y * A2), ex2(d.z * A2), ex2(d.w * A2)); }
};

/** One step of a lane: h ← a·h + Δx·B as one fused multiply-add on the serial path; returns p = C·h. */
__device__ __forceinline__ float statesStep(float& h, float a, float dx, float bn, float cn) {
  h = __fmaf_rn(a, h, dx * bn);
  return cn * h;
}

/** y of step t (channel c) from its 16 p values: (Σ_n C_n·h_n + D·x)·silu(z), into the staged y tile. */
__device__ __forceinline__ void statesEmit(float* yTile, const float* raw, float4 q0, float4 q1, float4 q2, float4 q3, int t, int c, float Dv) {
  const float ch = (((q0.x + q0.y) + (q0.z + q0.w)) + ((q1.x + q1.y) + (q1.z + q1.w))) + (((q2.x + q2.y) + (q2.z + q2.w)) + ((q3.x + q3.y) + (q3.z + q3.w)));
  yTile[t * kSC + c] = (ch + Dv * raw[kRawX + t * kSC + c]) * siluFast(raw[kRawZ + t * kSC + c]);
}

/** One block: batch row b = blockIdx.x / ⌈I/8⌉, channels i0 .. i0 + 7; the state is read and written in place. */
template <int DEPTH, bool VX, bool VBC>
__global__ void __launch_bounds__(kSThreads, 4) scanStates(ScanShape sh, ScanArgs a) {
  extern __shared__ float4 scanStatesSmem[];
  float* const smem = reinterpret_cast<float*>(scanStatesSmem);
  float* const work = smem + DEPTH * kRawFloats;
  const int N = sh.N, I = sh.I, T = sh.T;
  const int blocksPerRow = (I + kSC - 1) / kSC;
  const int b = blockIdx.x / blocksPerRow;
  const int i0 = (blockIdx.x % blocksPerRow) * kSC;
  const int c = threadIdx.x / kSL, n = threadIdx.x % kSL;  // this lane: channel i0 + c, state entry n
  const int ic = min(i0 + c, I - 1);                       // channels past I run channel I − 1's numbers and store nothing
  const bool mine = i0 + c < I && n < N;
  const float A2 = n < N ? a.A[(int64_t)ic * N + n] * kLog2eT : 0.f;
  float h = mine ? a.state[((int64_t)b * I + ic) * N + n] : 0.f;
  const float Dv = a.D[ic];
  const int cPrep = threadIdx.x % kSC;  // prep's channel: threads take (step, channel) pairs channel-fastest
  const float biasPrep = a.dtBias[min(i0 + cPrep, I - 1)];
  const StatesStager<VX, VBC> stager(sh, b, i0);

  const int tiles = (T + kStage - 1) / kStage;
#pragma unroll
  for (int s = 0; s < DEPTH - 1; s++) {
    if (s < tiles) stager.stage(smem + s * kRawFloats, sh, a, s * kStage);
    else cpAsyncCommit();  // an empty group keeps the count cpAsyncWaitN relies on
  }
  const float* dRow = work + kPrepDelta + c * kRow;
  const float* dxRow = work + kPrepDx + c * kRow;
  const float* bRow = work + kPrepB + n * kRow;
  const float* cRow = work + kPrepC + n * kRow;
  float* pBlock = work + kP + c * kPChan;
  for (int s = 0; s < tiles; s++) {
    const int t0 = s * kStage;
    const float* raw = smem + (s % DEPTH) * kRawFloats;
    cpAsyncWaitN<DEPTH - 2>();  // tile s's group has landed (s + DEPTH − 1 committed so far)
    __syncthreads();            // ... for every thread's copies; and tile s − 1 is done with (its raw tile, y tile)
    if (s > 0) storeStatesY<VX>(work + kY + ((s - 1) & 1) * kStage * kSC, sh, a.y, b, i0, t0 - kStage);
    if (s + DEPTH - 1 < tiles) stager.stage(smem + ((s + DEPTH - 1) % DEPTH) * kRawFloats, sh, a, t0 + (DEPTH - 1) * kStage);
    else cpAsyncCommit();

    // 1. prep: Δ, Δ·x per (step, channel), 0 past T; B, C to [n][step]. Every load first, then the math, then
    // every store: the compiler may not move a shared load above a shared store (they may alias), and this phase
    // sits between two barriers, so each load-to-store latency left in a chain would stall all warps at once.
    {
      constexpr int kDPer = kStage * kSC / kSThreads, kTPer = kStage * 16 / kSThreads;  // 4 (step, channel) pairs, 8 transposed columns
      float dtv[kDPer], xv[kDPer], bv[kTPer], cv[kTPer];
#pragma unroll
      for (int j = 0; j < kDPer; j++) {
        const int t = threadIdx.x / kSC + j * (kSThreads / kSC);
        dtv[j] = raw[kRawDt + t * kSC + cPrep];
        xv[j] = raw[kRawX + t * kSC + cPrep];
      }
#pragma unroll
      for (int j = 0; j < kTPer; j++) {
        const int t = threadIdx.x / 16 + j * (kSThreads / 16), m = threadIdx.x % 16;
        bv[j] = raw[kRawB + t * 16 + m];
        cv[j] = raw[kRawC + t * 16 + m];
      }
#pragma unroll
      for (int j = 0; j < kDPer; j++) {
        const int t = threadIdx.x / kSC + j * (kSThreads / kSC);
        const float d = t0 + t < T ? softplusFast(dtv[j] + biasPrep) : 0.f;
        dtv[j] = d;
        xv[j] *= d;
      }
#pragma unroll
      for (int j = 0; j < kDPer; j++) {
        const int t = threadIdx.x / kSC + j * (kSThreads / kSC);
        work[kPrepDelta + cPrep * kRow + t] = dtv[j];
        work[kPrepDx + cPrep * kRow + t] = xv[j];
      }
#pragma unroll
      for (int j = 0; j < kTPer; j++) {
        const int t = threadIdx.x / 16 + j * (kSThreads / 16), m = threadIdx.x % 16;
        work[kPrepB + m * kRow + t] = bv[j];
        work[kPrepC + m * kRow + t] = cv[j];
      }
    }
    __syncthreads();

    // 2-3. The tile's 64 steps as 16 quads of 4, software-pipelined by hand: quad g + 2's shared-memory loads and
    // quad g + 1's exponentials are issued before quad g's updates use theirs, so neither latency sits on the walk
    // (the compiler cannot hoist the loads itself across the p stores, which it must assume may alias them).
    // Every 4 quads (a run of 16 steps) the lanes store their p and lane n sums step n's 16 of them; those sums'
    // loads are issued at once and used only at the next run's end, behind its walk.
    float* yTile = work + kY + (s & 1) * kStage * kSC;
    constexpr int kQuads = kStage / 4;
    StatesQuad L0 = StatesQuad::load(dRow, dxRow, bRow, cRow, 0), L1 = StatesQuad::load(dRow, dxRow, bRow, cRow, 4);
    float4 a0 = L0.decay(A2), a1;
    float p[kSub];
    float4 q0, q1, q2, q3;  // the run before's p row of this lane's step, loaded at that run's end
#pragma unroll
    for (int g = 0; g < kQuads; g++) {
      StatesQuad L2;
      if (g + 2 < kQuads) L2 = StatesQuad::load(dRow, dxRow, bRow, cRow, 4 * (g + 2));
      if (g + 1 < kQuads) a1 = L1.decay(A2);
      const int u = 4 * (g % 4);
      p[u] = statesStep(h, a0.x, L0.dx.x, L0.b.x, L0.c.x);
      p[u + 1] = statesStep(h, a0.y, L0.dx.y, L0.b.y, L0.c.y);
      p[u + 2] = statesStep(h, a0.z, L0.dx.z, L0.b.z, L0.c.z);
      p[u + 3] = statesStep(h, a0.w, L0.dx.w, L0.b.w, L0.c.w);
      if (g % 4 == 3) {  // a run of 16 steps is done
        const int run = g / 4;
        if (run > 0) statesEmit(yTile, raw, q0, q1, q2, q3, (run - 1) * kSub + n, c, Dv);
        __syncwarp();  // every lane has read the run before's p (a channel's 16 lanes are in one warp)
#pragma unroll
        for (int v = 0; v < kSub; v++) pBlock[v * kPRow + n] = p[v];
        __syncwarp();  // ... and this run's is there to read
        const float4* row4 = reinterpret_cast<const float4*>(pBlock + n * kPRow);  // lane n sums step run·16 + n
        q0 = row4[0], q1 = row4[1], q2 = row4[2], q3 = row4[3];
      }
      L0 = L1;
      L1 = L2;
      a0 = a1;
    }
    statesEmit(yTile, raw, q0, q1, q2, q3, (kQuads / 4 - 1) * kSub + n, c, Dv);
  }
  __syncthreads();
  if (tiles > 0) storeStatesY<VX>(work + kY + ((tiles - 1) & 1) * kStage * kSC, sh, a.y, b, i0, (tiles - 1) * kStage);
  if (mine) a.state[((int64_t)b * I + ic) * N + n] = h;
}

/** Whether scanStates runs this shape (it has no chunks and no scratch): Mamba-1 with 1 ≤ N ≤ 16. */
bool scanStatesFits(const ScanShape& sh) { return !sh.ssd && sh.N >= 1 && sh.N <= 16; }

int64_t scanStatesBlocks(const ScanShape& sh) { return (int64_t)sh.B * ((sh.I + kSC - 1) / kSC); }

template <int DEPTH, bool VX, bool VBC>
static cudaError_t statesLaunch(const ScanShape& sh, const ScanArgs& a, cudaStream_t s) {
  static bool configured = false;  // > 48 KB of dynamic shared memory needs an opt-in per kernel
  if (!configured) {
    cudaFuncSetAttribute(scanStates<DEPTH, VX, VBC>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)statesSmemBytes(DEPTH));
    cudaFuncSetAttribute(scanStates<DEPTH, VX, VBC>, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
    configured = true;
  }
  scanStates<DEPTH, VX, VBC><<<(unsigned)scanStatesBlocks(sh), kSThreads, statesSmemBytes(DEPTH), s>>>(sh, a);
  return cudaGetLastError();
}

template <int DEPTH>
static cudaError_t statesDepth(const ScanShape& sh, const ScanArgs& a, bool vecX, bool vecBC, cudaStream_t s) {
  if (vecX) return vecBC ? statesLaunch<DEPTH, true, true>(sh, a, s) : statesLaunch<DEPTH, true, false>(sh, a, s);
  return vecBC ? statesLaunch<DEPTH, false, true>(sh, a, s) : statesLaunch<DEPTH, false, false>(sh, a, s);
}

cudaError_t launchScanStates(const ScanShape& sh, const ScanArgs& a, int multiprocessors, cudaStream_t s) {
  const auto aligned = [](const float* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  const bool vecX = sh.I % 4 == 0 && aligned(a.x) && aligned(a.dt) && aligned(a.z) && aligned(a.y);
  const bool vecBC = sh.N % 4 == 0 && aligned(a.Bm) && aligned(a.Cm);
  // Three tiles in flight while the grid is one wave at 3 blocks an SM (70.9 KB each); beyond that, two
  // (56.6 KB: 4 blocks an SM, whose interleaving hides the loads instead).
  if (scanStatesBlocks(sh) <= 3 * (int64_t)std::max(1, multiprocessors)) return statesDepth<3>(sh, a, vecX, vecBC, s);
  return statesDepth<2>(sh, a, vecX, vecBC, s);
}

}  // namespace me
