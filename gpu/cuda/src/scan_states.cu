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
constexpr int kSub = 16;                // steps a walk between reductions: lane u of a channel ends with step u's y
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
 * Stages steps [t0, t0 + kStage) of one batch row into raw tile `raw`: x, dt, z of channels [i0, i0 + 8),
 * B and C rows; zero past T, past I and past N. vecX: I % 4 == 0 and x, dt, z 16-byte aligned; vecBC: the
 * same for N and B, C. One cp.async group.
 */
__device__ __forceinline__ void stageStates(float* raw, const ScanShape& sh, const ScanArgs& a, int b, int i0, int t0, bool vecX, bool vecBC) {
  const int T = sh.T, I = sh.I, N = sh.N;
  const int64_t rowX = (int64_t)b * T;
#pragma unroll
  for (int m = 0; m < 3; m++) {  // x, dt, z: m a compile-time constant (no pointer array in local memory)
    const float* src = m == 0 ? a.x : m == 1 ? a.dt : a.z;
    float* dst = raw + m * kStage * kSC;
    if (vecX) {
      for (int k = threadIdx.x; k < kStage * 2; k += kSThreads) {
        const int t = k >> 1, half = k & 1;
        const bool ok = t0 + t < T && i0 + 4 * half < I;
        cpAsync16(dst + t * kSC + 4 * half, ok ? src + (rowX + t0 + t) * I + i0 + 4 * half : src, ok);
      }
    } else {
      for (int k = threadIdx.x; k < kStage * kSC; k += kSThreads) {
        const int t = k / kSC, ch = k % kSC;
        const bool ok = t0 + t < T && i0 + ch < I;
        cpAsync4(dst + t * kSC + ch, ok ? src + (rowX + t0 + t) * I + i0 + ch : src, ok);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < 2; m++) {  // B, C
    const float* src = m == 0 ? a.Bm : a.Cm;
    float* dst = raw + (m == 0 ? kRawB : kRawC);
    if (vecBC) {
      for (int k = threadIdx.x; k < kStage * 4; k += kSThreads) {
        const int t = k >> 2, q = k & 3;
        const bool ok = t0 + t < T && 4 * q < N;
        cpAsync16(dst + t * 16 + 4 * q, ok ? src + (rowX + t0 + t) * N + 4 * q : src, ok);
      }
    } else {
      for (int k = threadIdx.x; k < kStage * 16; k += kSThreads) {
        const int t = k >> 4, n = k & 15;
        const bool ok = t0 + t < T && n < N;
        cpAsync4(dst + t * 16 + n, ok ? src + (rowX + t0 + t) * N + n : src, ok);
      }
    }
  }
  cpAsyncCommit();
}

/** Writes the staged y tile of steps [t0, t0 + kStage) (rows of channels [i0, i0 + 8)), up to T and I. */
__device__ __forceinline__ void storeStatesY(const float* sY, const ScanShape& sh, float* y, int b, int i0, int t0, bool vecX) {
  const int T = sh.T, I = sh.I;
  const int64_t rowY = (int64_t)b * T;
  if (vecX) {
    for (int k = threadIdx.x; k < kStage * 2; k += kSThreads) {
      const int t = k >> 1, half = k & 1;
      if (t0 + t < T && i0 + 4 * half < I)
        __stcs(reinterpret_cast<float4*>(y + (rowY + t0 + t) * I + i0 + 4 * half), *reinterpret_cast<const float4*>(sY + t * kSC + 4 * half));
    }
  } else {
    for (int k = threadIdx.x; k < kStage * kSC; k += kSThreads) {
      const int t = k / kSC, c = k % kSC;
      if (t0 + t < T && i0 + c < I) __stcs(y + (rowY + t0 + t) * I + i0 + c, sY[t * kSC + c]);
    }
  }
}

/** One block: batch row b = blockIdx.x / ⌈I/8⌉, channels i0 .. i0 + 7; the state is read and written in place. */
template <int DEPTH>
__global__ void __launch_bounds__(kSThreads, 4) scanStates(ScanShape sh, ScanArgs a, bool vecX, bool vecBC) {
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

  const int tiles = (T + kStage - 1) / kStage;
#pragma unroll
  for (int s = 0; s < DEPTH - 1; s++) {
    if (s < tiles) stageStates(smem + s * kRawFloats, sh, a, b, i0, s * kStage, vecX, vecBC);
    else cpAsyncCommit();  // an empty group keeps the count cpAsyncWaitN relies on
  }
  for (int s = 0; s < tiles; s++) {
    const int t0 = s * kStage;
    const float* raw = smem + (s % DEPTH) * kRawFloats;
    cpAsyncWaitN<DEPTH - 2>();  // tile s's group has landed (s + DEPTH − 1 committed so far)
    __syncthreads();            // ... for every thread's copies; and tile s − 1 is done with (its raw tile, y tile)
    if (s > 0) storeStatesY(work + kY + ((s - 1) & 1) * kStage * kSC, sh, a.y, b, i0, t0 - kStage, vecX);
    if (s + DEPTH - 1 < tiles) stageStates(smem + ((s + DEPTH - 1) % DEPTH) * kRawFloats, sh, a, b, i0, t0 + (DEPTH - 1) * kStage, vecX, vecBC);
    else cpAsyncCommit();

    // 1. prep: Δ, Δ·x per (step, channel); B, C to [n][step].
#pragma unroll
    for (int j = 0; j < kStage * kSC / kSThreads; j++) {
      const int t = threadIdx.x / kSC + j * (kSThreads / kSC);
      float d = 0.f, dx = 0.f;
      if (t0 + t < T) {
        d = softplusFast(raw[kRawDt + t * kSC + cPrep] + biasPrep);
        dx = d * raw[kRawX + t * kSC + cPrep];
      }
      work[kPrepDelta + cPrep * kRow + t] = d;
      work[kPrepDx + cPrep * kRow + t] = dx;
    }
#pragma unroll
    for (int j = 0; j < kStage * 16 / kSThreads; j++) {
      const int t = threadIdx.x / 16 + j * (kSThreads / 16), m = threadIdx.x % 16;
      work[kPrepB + m * kRow + t] = raw[kRawB + t * 16 + m];
      work[kPrepC + m * kRow + t] = raw[kRawC + t * 16 + m];
    }
    __syncthreads();

    // 2-3. walk 16 steps, then y of those steps by the transpose.
    const float* dRow = work + kPrepDelta + c * kRow;
    const float* dxRow = work + kPrepDx + c * kRow;
    const float* bRow = work + kPrepB + n * kRow;
    const float* cRow = work + kPrepC + n * kRow;
    float* pBlock = work + kP + c * kPChan;
    float* yTile = work + kY + (s & 1) * kStage * kSC;
    for (int sub = 0; sub < kStage && t0 + sub < T; sub += kSub) {  // uniform over the block
      float p[kSub];
#pragma unroll
      for (int q = 0; q < kSub / 4; q++) {
        const float4 d4 = *reinterpret_cast<const float4*>(dRow + sub + 4 * q);
        const float4 x4 = *reinterpret_cast<const float4*>(dxRow + sub + 4 * q);
        const float4 b4 = *reinterpret_cast<const float4*>(bRow + sub + 4 * q);
        const float4 c4 = *reinterpret_cast<const float4*>(cRow + sub + 4 * q);
        h = ex2(d4.x * A2) * h + x4.x * b4.x;
        p[4 * q] = c4.x * h;
        h = ex2(d4.y * A2) * h + x4.y * b4.y;
        p[4 * q + 1] = c4.y * h;
        h = ex2(d4.z * A2) * h + x4.z * b4.z;
        p[4 * q + 2] = c4.z * h;
        h = ex2(d4.w * A2) * h + x4.w * b4.w;
        p[4 * q + 3] = c4.w * h;
      }
#pragma unroll
      for (int u = 0; u < kSub; u++) pBlock[u * kPRow + n] = p[u];
      __syncwarp();  // a channel's 16 lanes are in one warp
      const float4* mine4 = reinterpret_cast<const float4*>(pBlock + n * kPRow);  // lane n now sums step sub + n
      const float4 s0 = mine4[0], s1 = mine4[1], s2 = mine4[2], s3 = mine4[3];
      const float ch = (((s0.x + s0.y) + (s0.z + s0.w)) + ((s1.x + s1.y) + (s1.z + s1.w))) +
                       (((s2.x + s2.y) + (s2.z + s2.w)) + ((s3.x + s3.y) + (s3.z + s3.w)));
      __syncwarp();  // every lane has read before the next 16 steps' stores
      const int t = sub + n;
      yTile[t * kSC + c] = (ch + Dv * raw[kRawX + t * kSC + c]) * siluFast(raw[kRawZ + t * kSC + c]);
    }
  }
  __syncthreads();
  if (tiles > 0) storeStatesY(work + kY + ((tiles - 1) & 1) * kStage * kSC, sh, a.y, b, i0, (tiles - 1) * kStage, vecX);
  if (mine) a.state[((int64_t)b * I + ic) * N + n] = h;
}

/** Whether scanStates runs this shape (it has no chunks and no scratch): Mamba-1 with 1 ≤ N ≤ 16. */
bool scanStatesFits(const ScanShape& sh) { return !sh.ssd && sh.N >= 1 && sh.N <= 16; }

int64_t scanStatesBlocks(const ScanShape& sh) { return (int64_t)sh.B * ((sh.I + kSC - 1) / kSC); }

template <int DEPTH>
static cudaError_t statesDepth(const ScanShape& sh, const ScanArgs& a, bool vecX, bool vecBC, cudaStream_t s) {
  static bool configured = false;  // > 48 KB of dynamic shared memory needs an opt-in per kernel
  if (!configured) {
    cudaFuncSetAttribute(scanStates<DEPTH>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)statesSmemBytes(DEPTH));
    cudaFuncSetAttribute(scanStates<DEPTH>, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
    configured = true;
  }
  scanStates<DEPTH><<<(unsigned)scanStatesBlocks(sh), kSThreads, statesSmemBytes(DEPTH), s>>>(sh, a, vecX, vecBC);
  return cudaGetLastError();
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
