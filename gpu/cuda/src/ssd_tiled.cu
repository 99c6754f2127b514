// ssdTiled: Mamba-2's SSD prefill (Dao & Gu 2024 §6; mamba_ssm ssd_minimal.py) as the WebGPU backend's
// four-pass tiled design, ported from gpu/wgsl/ssd_chunk_state.wgsl, ssd_chunk_carry.wgsl,
// ssd_chunk_cb.wgsl, ssd_chunk_out.wgsl (+ include/ssd_chunk_decay.wgsl). On an H100 through Vulkan that
// design runs mamba2-130m's [1, 16384, 24×64] N 128 in 0.88 ms where ssd.cu's ssdMma (WMMA 3×TF32) takes
// 2.25 ms (BENCHMARKS.md, "WebGPU prefill scans, tiled"). Plain f32 FMAs, no tensor cores: the SSD stays
// f32-accurate without 3×TF32 splitting. MAMBA_EDGE_CUDA_SSD=tiled selects it for T ≥ 2 (the decode step
// keeps its kernels). UNMEASURED when written: built and run on the CPU (tools/cuda-emu), not on a GPU.
//
// Chunks of L = 64 steps; per head h (group g = h / (H/G)), with Δ_t = clamp(softplus(dt_t + dt_bias)),
// a_t = Σ_{τ ≤ t} Δ_τ·A_h within the chunk (kept ×log2 e, so decays are one ex2 each):
//   1. ssdTiledState, per (b, chunk, head, 64 n × 64 p tile): the chunk's end state from zero,
//      S[n, p] = Σ_s exp(a_last − a_s)·Δ_s·B_s[n]·x_s[p] → hs [B, nC, H, N, P] (n-major), and a_last → aEnd;
//   2. ssdTiledCarry, per (b, h, n, p), p fastest: hs[c] := h; h ← exp(a_last_c)·h + S_c over the chunks,
//      from and back to the state [B, H, P, N] (16 chunks' loads issued before the serial walk uses them);
//   3. ssdTiledCb, per (b, chunk, group): C·Bᵀ of the chunk once for all the group's heads, stored
//      transposed, cbT [B, nC, G, L(s), L(t)], so pass 4 reads it coalesced along t;
//   4. ssdTiledOut, per (b, chunk, head, 64 p columns): y_t = Σ_{s ≤ t} CB[t, s]·exp(a_t − a_s)·Δ_s·x_s
//      + exp(a_t)·C_t·S_in + D·x_t, the decay matrix built in shared memory (never in global memory).
// Each block is 256 threads, each holding a 4 × 4 register tile of the 64 × 64 output (rows 4·hi + r,
// columns 4·lo + q, hi = thread / 16, lo = thread % 16) and reading its operands as float4s from shared
// memory (no bank conflicts: the 16 lo of a warp read 64 consecutive floats, its 2 hi broadcast).
// Past the WGSL: x / B rows staged with one pass per operand from global straight into shared memory,
// D·x taken from the staged x (not re-read), 2^x on the SFU (ex2.approx), __launch_bounds__.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include "common.cuh"
#include "scan_common.cuh"

namespace me {

constexpr int kStL = 64;        // steps a chunk (WGSL's scanChunk.ssd default is 64 too)
constexpr int kStThreads = 256;
constexpr int kStCarryAhead = 16;
constexpr float kStLog2e = 1.4426950408889634f;
constexpr int kStLdT = kStL + 4;  // row stride of the transposed C tile (its staging writes 4-way, not 32-way, conflicted)

/**
 * Δ_t (dl) and a_t·log2 e (cum) for the chunk's steps t < len into shared memory; 0 past len (Δ = 0:
 * those steps change nothing). Hillis–Steele over 64 entries (6 steps); every thread of the block calls it.
 */
__device__ __forceinline__ void ssdTiledDecay(const ScanShape& sh, const ScanArgs& a, int b, int t0, int len, int h, float* dl, float* cum) {
  const int tid = threadIdx.x;
  if (tid < kStL) {
    float d = 0.f;
    if (tid < len) d = fminf(fmaxf(softplusf(a.dt[((int64_t)b * sh.T + t0 + tid) * sh.H + h] + a.dtBias[h]), sh.dtMin), sh.dtMax);
    dl[tid] = d;
    cum[tid] = d * a.A[h] * kStLog2e;
  }
  __syncthreads();
  for (int off = 1; off < kStL; off <<= 1) {
    float v = 0.f;
    if (tid < kStL && tid >= off) v = cum[tid - off];
    __syncthreads();
    if (tid < kStL) cum[tid] += v;
    __syncthreads();
  }
}

/** Pass 1: grid (B·nC·H, ⌈N/64⌉·⌈P/64⌉); the chunk's end state from zero (hs) and its total decay a_last·log2 e (aEnd). */
__global__ void __launch_bounds__(kStThreads) ssdTiledState(ScanShape sh, ScanArgs a, int nC, float* hs, float* aEnd) {
  __shared__ float dl[kStL], cum[kStL], wt[kStL];
  __shared__ __align__(16) float Bs[kStL][64];  // B_s[n0 + j]
  __shared__ __align__(16) float Xs[kStL][64];  // x_s[p0 + j]·exp(a_last − a_s)·Δ_s
  const int P = sh.P, N = sh.N, H = sh.H, T = sh.T, G = sh.G;
  const int bch = blockIdx.x, h = bch % H, c = (bch / H) % nC, b = bch / (H * nC);
  const int pTiles = (P + 63) / 64, n0 = (blockIdx.y / pTiles) * 64, p0 = (blockIdx.y % pTiles) * 64;
  const int g = h / (H / G), t0 = c * kStL, len = min(kStL, T - t0);
  const int tid = threadIdx.x;
  ssdTiledDecay(sh, a, b, t0, len, h, dl, cum);
  const float last = cum[len - 1];
  if (tid < kStL) wt[tid] = ex2(last - cum[tid]) * dl[tid];
  if (tid == 0 && blockIdx.y == 0) aEnd[bch] = last;
  __syncthreads();
  for (int e = tid; e < kStL * 64; e += kStThreads) {
    const int s = e >> 6, j = e & 63, n = n0 + j, p = p0 + j;
    const int64_t row = (int64_t)b * T + t0 + s;
    Bs[s][j] = s < len && n < N ? a.Bm[(row * G + g) * N + n] : 0.f;
    Xs[s][j] = s < len && p < P ? a.x[(row * H + h) * P + p] * wt[s] : 0.f;
  }
  __syncthreads();
  const int lo = tid & 15, hi = tid >> 4;
  float acc[4][4] = {};
  for (int s = 0; s < len; s++) {
    const float4 bv = *reinterpret_cast<const float4*>(&Bs[s][4 * hi]);
    const float4 xv = *reinterpret_cast<const float4*>(&Xs[s][4 * lo]);
    const float br[4] = {bv.x, bv.y, bv.z, bv.w}, xq[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
      for (int q = 0; q < 4; q++) acc[r][q] = fmaf(br[r], xq[q], acc[r][q]);
  }
  const int64_t base = (int64_t)bch * N;
#pragma unroll
  for (int r = 0; r < 4; r++) {
    const int n = n0 + 4 * hi + r;
    if (n >= N) continue;
#pragma unroll
    for (int q = 0; q < 4; q++) {
      const int p = p0 + 4 * lo + q;
      if (p < P) hs[(base + n) * P + p] = acc[r][q];
    }
  }
}

/** Pass 2: one thread per (b, h, n, p), p fastest (hs reads coalesce); the walk over chunks is serial. */
__global__ void __launch_bounds__(kStThreads) ssdTiledCarry(ScanShape sh, int nC, float* state, float* hs, const float* aEnd) {
  const int P = sh.P, N = sh.N, H = sh.H;
  const int64_t NP = (int64_t)N * P;
  const int64_t i = (int64_t)blockIdx.x * kStThreads + threadIdx.x;
  if (i >= (int64_t)sh.B * H * NP) return;
  const int p = (int)(i % P), n = (int)((i / P) % N), h = (int)((i / NP) % H), b = (int)(i / (NP * H));
  const int64_t s = (((int64_t)b * H + h) * P + p) * N + n;
  float st = state[s];
  // Chunk c's entries sit a chunk stride apart (H·N·P floats in hs, H in aEnd): pointers, not 64-bit index math per chunk.
  const int64_t cs = (int64_t)H * NP;
  float* hp = hs + ((int64_t)b * nC * H + h) * NP + (int64_t)n * P + p;
  const float* ap = aEnd + (int64_t)b * nC * H + h;
  for (int c0 = 0; c0 < nC; c0 += kStCarryAhead, hp += kStCarryAhead * cs, ap += kStCarryAhead * H) {
    const int m = min(kStCarryAhead, nC - c0);
    float loc[kStCarryAhead], dec[kStCarryAhead];
#pragma unroll
    for (int u = 0; u < kStCarryAhead; u++) {
      loc[u] = u < m ? hp[u * cs] : 0.f;
      dec[u] = u < m ? ap[u * H] : 0.f;
    }
#pragma unroll
    for (int u = 0; u < kStCarryAhead; u++) {
      if (u < m) {
        hp[u * cs] = st;
        st = exp2f(dec[u]) * st + loc[u];  // the whole chunk's decay: libm-accurate exp2f, once per chunk
      }
    }
  }
  state[s] = st;
}

/** Pass 3: grid (B·nC·G); cbT[s][t] = C_t·B_s for the chunk's 64 × 64 steps (s > t never read). */
__global__ void __launch_bounds__(kStThreads) ssdTiledCb(ScanShape sh, ScanArgs a, int nC, float* cbT) {
  __shared__ float Cs[kStL][33], Bs[kStL][33];  // [t or s][n − n0], 32 n at a time; stride 33: column reads 2-way at most
  const int N = sh.N, G = sh.G, T = sh.T;
  const int bcg = blockIdx.x, g = bcg % G, c = (bcg / G) % nC, b = bcg / (G * nC);
  const int t0 = c * kStL, len = min(kStL, T - t0);
  const int tid = threadIdx.x, lo = tid & 15, hi = tid >> 4;
  float acc[4][4] = {};  // rows t = 4·hi + r, columns s = 4·lo + q
  for (int n0 = 0; n0 < N; n0 += 32) {
    __syncthreads();
    for (int e = tid; e < kStL * 32; e += kStThreads) {
      const int t = e >> 5, j = e & 31, n = n0 + j;
      const bool ok = t < len && n < N;
      const int64_t src = (((int64_t)b * T + t0 + t) * G + g) * N + n;
      Cs[t][j] = ok ? a.Cm[src] : 0.f;
      Bs[t][j] = ok ? a.Bm[src] : 0.f;
    }
    __syncthreads();
    if (lo > hi) continue;  // a tile wholly above the diagonal (s > t): never read
    for (int j = 0; j < 32; j++) {
      float cr[4], bq[4];
#pragma unroll
      for (int r = 0; r < 4; r++) cr[r] = Cs[4 * hi + r][j], bq[r] = Bs[4 * lo + r][j];
#pragma unroll
      for (int r = 0; r < 4; r++)
#pragma unroll
        for (int q = 0; q < 4; q++) acc[r][q] = fmaf(cr[r], bq[q], acc[r][q]);
    }
  }
  if (lo > hi) return;
  float* out = cbT + (int64_t)bcg * kStL * kStL;
#pragma unroll
  for (int q = 0; q < 4; q++)
#pragma unroll
    for (int r = 0; r < 4; r++) out[(4 * lo + q) * kStL + 4 * hi + r] = acc[r][q];
}

/** Pass 4: grid (B·nC·H, ⌈P/64⌉); y of the chunk's steps for 64 columns p. */
__global__ void __launch_bounds__(kStThreads) ssdTiledOut(ScanShape sh, ScanArgs a, int nC, const float* hs, const float* cbT) {
  __shared__ float dl[kStL], cum[kStL], eS[kStL];
  __shared__ __align__(16) float Rs[64 * kStLdT];  // M[t, s] as Mt[s][t] (stride 64); then C_t[n0 + j]·exp(a_t) as [j][t] (stride kStLdT)
  __shared__ __align__(16) float Xs[kStL * 64];    // x_s[p0 + j] as [s][j]; then S_in[n0 + j, p0 + k] as [j][k]
  const int P = sh.P, N = sh.N, H = sh.H, T = sh.T, G = sh.G;
  const int bch = blockIdx.x, h = bch % H, c = (bch / H) % nC, b = bch / (H * nC);
  const int p0 = blockIdx.y * 64, g = h / (H / G), t0 = c * kStL, len = min(kStL, T - t0);
  const int bcg = (b * nC + c) * G + g;
  const int tid = threadIdx.x, lo = tid & 15, hi = tid >> 4;
  ssdTiledDecay(sh, a, b, t0, len, h, dl, cum);
  if (tid < kStL) eS[tid] = ex2(cum[tid]);
  // Y_diag: Mt[s][t] = CB[t, s]·exp(a_t − a_s)·Δ_s for s ≤ t < len (cbT rows are s: coalesced along t)
  const float* cb = cbT + (int64_t)bcg * kStL * kStL;
  for (int e = tid; e < kStL * kStL; e += kStThreads) {
    const int s = e >> 6, t = e & 63;
    Rs[e] = s <= t && t < len ? cb[e] * ex2(cum[t] - cum[s]) * dl[s] : 0.f;
  }
  for (int e = tid; e < kStL * 64; e += kStThreads) {
    const int s = e >> 6, j = e & 63, p = p0 + j;
    Xs[e] = s < len && p < P ? a.x[(((int64_t)b * T + t0 + s) * H + h) * P + p] : 0.f;
  }
  __syncthreads();
  float acc[4][4] = {};  // y[t = 4·hi + r][p0 + 4·lo + q]
  const int sEnd = min(len, 4 * hi + 4);  // M[t, s] = 0 for s > t
  for (int s = 0; s < sEnd; s++) {
    const float4 mv = *reinterpret_cast<const float4*>(&Rs[s * 64 + 4 * hi]);
    const float4 xv = *reinterpret_cast<const float4*>(&Xs[s * 64 + 4 * lo]);
    const float mr[4] = {mv.x, mv.y, mv.z, mv.w}, xq[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
      for (int q = 0; q < 4; q++) acc[r][q] = fmaf(mr[r], xq[q], acc[r][q]);
  }
  const float Dh = a.D[h];
#pragma unroll
  for (int r = 0; r < 4; r++)
#pragma unroll
    for (int q = 0; q < 4; q++) acc[r][q] = fmaf(Dh, Xs[(4 * hi + r) * 64 + 4 * lo + q], acc[r][q]);
  // Y_off: + exp(a_t)·Σ_n C_t[n]·S_in[n, p], 64 n at a time
  const float* S = hs + (int64_t)bch * N * P;
  for (int n0 = 0; n0 < N; n0 += 64) {
    __syncthreads();
    for (int e = tid; e < kStL * 64; e += kStThreads) {
      const int t = e >> 6, j = e & 63, n = n0 + j;  // C row-major along n: coalesced reads, transposed writes
      Rs[j * kStLdT + t] = t < len && n < N ? a.Cm[(((int64_t)b * T + t0 + t) * G + g) * N + n] * eS[t] : 0.f;
    }
    for (int e = tid; e < 64 * 64; e += kStThreads) {
      const int j = e >> 6, k = e & 63, n = n0 + j, p = p0 + k;
      Xs[e] = n < N && p < P ? S[(int64_t)n * P + p] : 0.f;
    }
    __syncthreads();
    const int nEnd = min(64, N - n0);
    for (int j = 0; j < nEnd; j++) {
      const float4 cv = *reinterpret_cast<const float4*>(&Rs[j * kStLdT + 4 * hi]);
      const float4 sv = *reinterpret_cast<const float4*>(&Xs[j * 64 + 4 * lo]);
      const float cr[4] = {cv.x, cv.y, cv.z, cv.w}, sq[4] = {sv.x, sv.y, sv.z, sv.w};
#pragma unroll
      for (int r = 0; r < 4; r++)
#pragma unroll
        for (int q = 0; q < 4; q++) acc[r][q] = fmaf(cr[r], sq[q], acc[r][q]);
    }
  }
#pragma unroll
  for (int r = 0; r < 4; r++) {
    const int t = 4 * hi + r;
    if (t >= len) continue;
    float* yr = a.y + (((int64_t)b * T + t0 + t) * H + h) * P;
#pragma unroll
    for (int q = 0; q < 4; q++) {
      const int p = p0 + 4 * lo + q;
      if (p < P) yr[p] = acc[r][q];
    }
  }
}

// Host side. tools/cuda-emu/run.mjs compiles everything above launchSsdTiled on the CPU; ssd_tiled_main.cc runs
// the kernels in launchSsdTiled's order.
/** The scratch layout: hs [B, nC, H, N, P], then aEnd [B, nC, H], then cbT [B, nC, G, L, L] (floats). */
struct SsdTiledScratch {
  size_t hs, aEnd, cb, total;
};
static SsdTiledScratch ssdTiledScratch(const ScanShape& sh) {
  const size_t nC = (size_t)(sh.T + kStL - 1) / kStL, bc = (size_t)sh.B * nC;
  SsdTiledScratch s{};
  s.hs = 0;
  s.aEnd = bc * sh.H * sh.N * sh.P;
  s.cb = s.aEnd + (bc * sh.H + 3) / 4 * 4;  // cbT 16-byte aligned
  s.total = s.cb + bc * sh.G * kStL * kStL;
  return s;
}

bool ssdTiledWanted(const ScanShape& sh) {
  static const char* v = std::getenv("MAMBA_EDGE_CUDA_SSD");
  return sh.ssd && sh.T >= 2 && sh.G > 0 && sh.H % sh.G == 0 && v && std::strcmp(v, "tiled") == 0;
}

int ssdTiledChunks(const ScanShape& sh) { return (sh.T + kStL - 1) / kStL; }

size_t ssdTiledScratchBytes(const ScanShape& sh) { return ssdTiledScratch(sh).total * sizeof(float); }

cudaError_t launchSsdTiled(const ScanShape& sh, const ScanArgs& a, void* scratch, cudaStream_t s) {
  if ((int64_t)sh.B * sh.T * sh.I == 0) return cudaGetLastError();
  const SsdTiledScratch l = ssdTiledScratch(sh);
  float* base = static_cast<float*>(scratch);
  float *hs = base + l.hs, *aEnd = base + l.aEnd, *cbT = base + l.cb;
  const int nC = ssdTiledChunks(sh);
  const unsigned bch = (unsigned)((int64_t)sh.B * nC * sh.H), pTiles = (unsigned)((sh.P + 63) / 64), nTiles = (unsigned)((sh.N + 63) / 64);
  ssdTiledState<<<dim3(bch, nTiles * pTiles), kStThreads, 0, s>>>(sh, a, nC, hs, aEnd);
  ssdTiledCarry<<<blocksFor((int64_t)sh.B * sh.H * sh.N * sh.P, kStThreads), kStThreads, 0, s>>>(sh, nC, a.state, hs, aEnd);
  ssdTiledCb<<<(unsigned)((int64_t)sh.B * nC * sh.G), kStThreads, 0, s>>>(sh, a, nC, cbT);
  ssdTiledOut<<<dim3(bch, pTiles), kStThreads, 0, s>>>(sh, a, nC, hs, cbT);
  return cudaGetLastError();
}

}  // namespace me
