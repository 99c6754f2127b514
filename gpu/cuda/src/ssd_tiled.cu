// ssdTiled: Mamba-2's SSD prefill (Dao & Gu 2024 §6; mamba_ssm ssd_minimal.py) as the WebGPU backend's
// four-pass tiled design, ported from gpu/wgsl/ssd_chunk_state.wgsl, ssd_chunk_carry.wgsl,
// ssd_chunk_cb.wgsl, ssd_chunk_out.wgsl (+ include/ssd_chunk_decay.wgsl). On an H100 through Vulkan that
// design runs mamba2-130m's [1, 16384, 24×64] N 128 in 0.88 ms where ssd.cu's ssdMma (WMMA 3×TF32) takes
// 2.25 ms (BENCHMARKS.md, "WebGPU prefill scans, tiled"). Plain f32 FMAs, no tensor cores: the SSD stays
// f32-accurate without 3×TF32 splitting. MAMBA_EDGE_CUDA_SSD=tiled (64-step chunks) | tiled128 selects it for
// T ≥ 2 (the decode step keeps its kernels); =mma keeps ssdMma. The prefill default for T ≥ 32 since the H100
// A/B of 2026-12-06 (fifth session): 0.886 ms = 8.7 % of the copy against ssdMma's 2.252 ms = 3.4 % at
// [1, 16384, 24×64] N 128 (2.253 vs 5.446 ms at 64 heads); mamba2-130m prefill 16k 141.8k vs 111.7k tok/s,
// 2k 117.7k vs 71.0k; test/cuda passes whole with it.
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
// Scratch (the device's growable scratch block): the chunk states, B·⌈T/L⌉·H·N·P floats, as the WGSL's —
// 201 MB at mamba2-130m's 16k tokens in 64-step chunks, 101 MB in 128-step ones (537 / 268 MB at mamba2-1.3b's
// 64 heads) — plus C·Bᵀ, B·⌈T/L⌉·G·L² floats. The states are written (pass 1), read and rewritten (2), read (4):
// most of the traffic at N = 128, which is why the longer chunk may win (WGSL on the H100: chunk 128 fastest).
// Past the WGSL: x, B, C and the chunk states staged with 16-byte loads where P and N are multiples of 4 and
// the tensors aligned (else 4-byte ones), D·x taken from the staged x (not re-read), 2^x on the SFU
// (ex2.approx), the output pass held to 80 registers (__launch_bounds__: 3 blocks an SM).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include "common.cuh"
#include "scan_common.cuh"

namespace me {

constexpr int kStThreads = 256;
constexpr int kStCarryAhead = 16;
constexpr float kStLog2e = 1.4426950408889634f;
constexpr int kStLdT = 64 + 4;  // row stride of the transposed C tile (its staging writes 4-way, not 32-way, conflicted)

/**
 * Δ_t (dl) and a_t·log2 e (cum) for the chunk's steps t < len into shared memory; 0 past len (Δ = 0:
 * those steps change nothing). Hillis–Steele over L entries (log2 L steps); every thread of the block calls it.
 */
template <int L>
__device__ __forceinline__ void ssdTiledDecay(const ScanShape& sh, const ScanArgs& a, int b, int t0, int len, int h, float* dl, float* cum) {
  const int tid = threadIdx.x;
  if (tid < L) {
    float d = 0.f;
    if (tid < len) d = fminf(fmaxf(softplusf(a.dt[((int64_t)b * sh.T + t0 + tid) * sh.H + h] + a.dtBias[h]), sh.dtMin), sh.dtMax);
    dl[tid] = d;
    cum[tid] = d * a.A[h] * kStLog2e;
  }
  __syncthreads();
  for (int off = 1; off < L; off <<= 1) {
    float v = 0.f;
    if (tid < L && tid >= off) v = cum[tid - off];
    __syncthreads();
    if (tid < L) cum[tid] += v;
    __syncthreads();
  }
}

/** acc[r][q] += a[4·hi + r]·b[4·lo + q] for one row pair of shared memory (float4 reads: a broadcast, b 64 consecutive floats a warp). */
__device__ __forceinline__ void outer4(float (&acc)[4][4], const float* a, const float* b) {
  const float4 av = *reinterpret_cast<const float4*>(a), bv = *reinterpret_cast<const float4*>(b);
  const float ar[4] = {av.x, av.y, av.z, av.w}, bq[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
  for (int r = 0; r < 4; r++)
#pragma unroll
    for (int q = 0; q < 4; q++) acc[r][q] = fmaf(ar[r], bq[q], acc[r][q]);
}

/** Pass 1: grid (B·nC·H, ⌈N/64⌉·⌈P/64⌉); the chunk's end state from zero (hs) and its total decay a_last·log2 e (aEnd). */
template <int L>
__global__ void __launch_bounds__(kStThreads) ssdTiledState(ScanShape sh, ScanArgs a, int nC, float* hs, float* aEnd, bool vec) {
  __shared__ float dl[L], cum[L], wt[L];
  __shared__ __align__(16) float Bs[64][64];  // B_s[n0 + j], 64 steps s at a time
  __shared__ __align__(16) float Xs[64][64];  // x_s[p0 + j]·exp(a_last − a_s)·Δ_s
  const int P = sh.P, N = sh.N, H = sh.H, T = sh.T, G = sh.G;
  const int bch = blockIdx.x, h = bch % H, c = (bch / H) % nC, b = bch / (H * nC);
  const int pTiles = (P + 63) / 64, n0 = (blockIdx.y / pTiles) * 64, p0 = (blockIdx.y % pTiles) * 64;
  const int g = h / (H / G), t0 = c * L, len = min(L, T - t0);
  const int tid = threadIdx.x, lo = tid & 15, hi = tid >> 4;
  ssdTiledDecay<L>(sh, a, b, t0, len, h, dl, cum);
  const float last = cum[len - 1];
  if (tid < L) wt[tid] = ex2(last - cum[tid]) * dl[tid];
  if (tid == 0 && blockIdx.y == 0) aEnd[bch] = last;
  float acc[4][4] = {};  // S[n0 + 4·hi + r, p0 + 4·lo + q]
  for (int s0 = 0; s0 < len; s0 += 64) {
    __syncthreads();  // wt written; the previous block's rows read
    if (vec) {  // 16-byte loads (P, N multiples of 4, tensors 16-byte aligned: n < N ⇒ n + 3 < N)
      for (int e = tid; e < 64 * 16; e += kStThreads) {
        const int i = e >> 4, j = (e & 15) * 4, s = s0 + i, n = n0 + j, p = p0 + j;
        const int64_t row = (int64_t)b * T + t0 + s;
        const float4 z4 = make_float4(0.f, 0.f, 0.f, 0.f);
        const float4 bv = s < len && n < N ? *reinterpret_cast<const float4*>(a.Bm + (row * G + g) * N + n) : z4;
        float4 xv = s < len && p < P ? *reinterpret_cast<const float4*>(a.x + (row * H + h) * P + p) : z4;
        const float w = wt[s];
        xv.x *= w, xv.y *= w, xv.z *= w, xv.w *= w;
        *reinterpret_cast<float4*>(&Bs[i][j]) = bv;
        *reinterpret_cast<float4*>(&Xs[i][j]) = xv;
      }
    } else {
      for (int e = tid; e < 64 * 64; e += kStThreads) {
        const int s = s0 + (e >> 6), j = e & 63, n = n0 + j, p = p0 + j;
        const int64_t row = (int64_t)b * T + t0 + s;
        Bs[e >> 6][j] = s < len && n < N ? a.Bm[(row * G + g) * N + n] : 0.f;
        Xs[e >> 6][j] = s < len && p < P ? a.x[(row * H + h) * P + p] * wt[s] : 0.f;
      }
    }
    __syncthreads();
    const int sn = min(64, len - s0);
    for (int s = 0; s < sn; s++) outer4(acc, &Bs[s][4 * hi], &Xs[s][4 * lo]);
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

/**
 * Pass 3: grid (B·nC·G, (L/64)²); cbT[s][t] = C_t·B_s for a 64 × 64 tile of the chunk's steps (row stride L);
 * tiles and 4 × 4 blocks wholly above the diagonal (s > t) are never read and not computed.
 */
template <int L>
__global__ void __launch_bounds__(kStThreads) ssdTiledCb(ScanShape sh, ScanArgs a, int nC, float* cbT) {
  __shared__ float Cs[64][33], Bs[64][33];  // [t or s][n − n0], 32 n at a time; stride 33: column reads 2-way at most
  const int N = sh.N, G = sh.G, T = sh.T;
  const int bcg = blockIdx.x, g = bcg % G, c = (bcg / G) % nC, b = bcg / (G * nC);
  const int tb = (blockIdx.y / (L / 64)) * 64, sb = (blockIdx.y % (L / 64)) * 64;
  const int t0 = c * L, len = min(L, T - t0);
  if (sb > tb || tb >= len) return;  // the whole block: no barrier is left waiting
  const int tid = threadIdx.x, lo = tid & 15, hi = tid >> 4;
  const bool live = sb < tb || lo <= hi;
  float acc[4][4] = {};  // rows t = tb + 4·hi + r, columns s = sb + 4·lo + q
  for (int n0 = 0; n0 < N; n0 += 32) {
    __syncthreads();
    for (int e = tid; e < 64 * 32; e += kStThreads) {
      const int i = e >> 5, j = e & 31, n = n0 + j;
      const int64_t rowT = (int64_t)b * T + t0 + tb + i, rowS = (int64_t)b * T + t0 + sb + i;
      Cs[i][j] = tb + i < len && n < N ? a.Cm[(rowT * G + g) * N + n] : 0.f;
      Bs[i][j] = sb + i < len && n < N ? a.Bm[(rowS * G + g) * N + n] : 0.f;
    }
    __syncthreads();
    if (!live) continue;
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
  if (!live) return;
  float* out = cbT + (int64_t)bcg * L * L;
#pragma unroll
  for (int q = 0; q < 4; q++)
#pragma unroll
    for (int r = 0; r < 4; r++) out[(int64_t)(sb + 4 * lo + q) * L + tb + 4 * hi + r] = acc[r][q];
}

/** Pass 4: grid (B·nC·H, (L/64)·⌈P/64⌉); y of 64 of the chunk's steps (rows tb…) for 64 columns p. */
template <int L>
__global__ void __launch_bounds__(kStThreads, 3) ssdTiledOut(ScanShape sh, ScanArgs a, int nC, const float* hs, const float* cbT, bool vec) {
  __shared__ float dl[L], cum[L], eS[L];
  __shared__ __align__(16) float Rs[64 * kStLdT];  // M[t, s] as Mt[s][t] (stride 64), 64 s at a time; then C_t[n0 + j]·exp(a_t) as [j][t] (stride kStLdT)
  __shared__ __align__(16) float Xs[64 * 64];      // x_s[p0 + j] as [s][j]; then S_in[n0 + j, p0 + k] as [j][k]
  const int P = sh.P, N = sh.N, H = sh.H, T = sh.T, G = sh.G;
  const int pTiles = (P + 63) / 64;
  const int bch = blockIdx.x, h = bch % H, c = (bch / H) % nC, b = bch / (H * nC);
  const int tb = (blockIdx.y / pTiles) * 64, p0 = (blockIdx.y % pTiles) * 64;
  const int g = h / (H / G), t0 = c * L, len = min(L, T - t0);
  if (tb >= len) return;  // the whole block: no barrier is left waiting
  const int bcg = (b * nC + c) * G + g;
  const int tid = threadIdx.x, lo = tid & 15, hi = tid >> 4;
  ssdTiledDecay<L>(sh, a, b, t0, len, h, dl, cum);
  if (tid < L) eS[tid] = ex2(cum[tid]);
  const float* cb = cbT + (int64_t)bcg * L * L;
  float acc[4][4] = {};  // y[tb + 4·hi + r][p0 + 4·lo + q]
  // Y_diag: Mt[s][t] = CB[t, s]·exp(a_t − a_s)·Δ_s for s ≤ t < len (cbT rows are s: coalesced along t); the last
  // block of s is this tile's own rows (sb = tb), so Xs then holds x_t for the D·x term.
  for (int sb = 0; sb <= tb; sb += 64) {
    __syncthreads();  // the decay written; the previous block's rows read
    for (int e = tid; e < 64 * 64; e += kStThreads) {
      const int s = sb + (e >> 6), t = tb + (e & 63), p = p0 + (e & 63);
      Rs[e] = s <= t && t < len ? cb[(int64_t)s * L + t] * ex2(cum[t] - cum[s]) * dl[s] : 0.f;
      if (!vec) Xs[e] = s < len && p < P ? a.x[(((int64_t)b * T + t0 + s) * H + h) * P + p] : 0.f;
    }
    if (vec)
      for (int e = tid; e < 64 * 16; e += kStThreads) {
        const int s = sb + (e >> 4), j = (e & 15) * 4, p = p0 + j;
        *reinterpret_cast<float4*>(&Xs[(e >> 4) * 64 + j]) = s < len && p < P
          ? *reinterpret_cast<const float4*>(a.x + (((int64_t)b * T + t0 + s) * H + h) * P + p) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
    __syncthreads();
    const int sn = sb < tb ? 64 : min(len - sb, 4 * hi + 4);  // M[t, s] = 0 for s > t
    for (int s = 0; s < sn; s++) outer4(acc, &Rs[s * 64 + 4 * hi], &Xs[s * 64 + 4 * lo]);
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
    if (vec) {
      for (int e = tid; e < 64 * 16; e += kStThreads) {
        const int i = e >> 4, j = (e & 15) * 4, t = tb + i, n = n0 + j;  // C row-major along n: 16-byte reads, transposed writes
        float4 cv = make_float4(0.f, 0.f, 0.f, 0.f);
        if (t < len && n < N) cv = *reinterpret_cast<const float4*>(a.Cm + (((int64_t)b * T + t0 + t) * G + g) * N + n);
        const float w = eS[t];
        Rs[j * kStLdT + i] = cv.x * w, Rs[(j + 1) * kStLdT + i] = cv.y * w, Rs[(j + 2) * kStLdT + i] = cv.z * w, Rs[(j + 3) * kStLdT + i] = cv.w * w;
        const int jn = n0 + i, p = p0 + j;
        *reinterpret_cast<float4*>(&Xs[i * 64 + j]) = jn < N && p < P ? *reinterpret_cast<const float4*>(S + (int64_t)jn * P + p) : make_float4(0.f, 0.f, 0.f, 0.f);
      }
    } else {
      for (int e = tid; e < 64 * 64; e += kStThreads) {
        const int i = e >> 6, j = e & 63, t = tb + i, n = n0 + j;  // C row-major along n: coalesced reads, transposed writes
        Rs[j * kStLdT + i] = t < len && n < N ? a.Cm[(((int64_t)b * T + t0 + t) * G + g) * N + n] * eS[t] : 0.f;
        const int k = e & 63, jn = n0 + (e >> 6), p = p0 + k;
        Xs[e] = jn < N && p < P ? S[(int64_t)jn * P + p] : 0.f;
      }
    }
    __syncthreads();
    const int nEnd = min(64, N - n0);
    for (int j = 0; j < nEnd; j++) outer4(acc, &Rs[j * kStLdT + 4 * hi], &Xs[j * 64 + 4 * lo]);
  }
#pragma unroll
  for (int r = 0; r < 4; r++) {
    const int t = tb + 4 * hi + r;
    if (t >= len) continue;
    float* yr = a.y + (((int64_t)b * T + t0 + t) * H + h) * P;
#pragma unroll
    for (int q = 0; q < 4; q++) {
      const int p = p0 + 4 * lo + q;
      if (p < P) yr[p] = acc[r][q];
    }
  }
}

// Host side. tools/cuda-emu/run.mjs compiles everything above ssdTiledT on the CPU; ssd_tiled_main.cc runs
// the kernels in launchSsdTiled's order.
/**
 * ssdTiled's chunk length as the prefill default for Mamba-2 (T ≥ 32, as ssdMma's): 64 (0 would keep ssdMma).
 * 64 and 128 prefill alike on the H100 (141.8k / 142.8k tok/s at 16k); 64 is the one whose kernel time was measured.
 */
constexpr int kSsdTiledDefault = 64;

/**
 * The chunk length ssdTiled runs this shape with, 0 = not ssdTiled: MAMBA_EDGE_CUDA_SSD=tiled (64 steps) |
 * tiled128 (128) for T ≥ 2 (a decode step of one token keeps its kernels); any other value of it (e.g. =mma)
 * keeps scan.cu's choice; unset, kSsdTiledDefault for T ≥ 32 unless MAMBA_EDGE_CUDA_SCAN forces a kernel.
 */
static int ssdTiledChunk(const ScanShape& sh) {
  if (!sh.ssd || sh.T < 2 || sh.G <= 0 || sh.H % sh.G != 0) return 0;
  static const char* v = std::getenv("MAMBA_EDGE_CUDA_SSD");
  if (v) return std::strcmp(v, "tiled") == 0 ? 64 : std::strcmp(v, "tiled128") == 0 ? 128 : 0;
  static const bool scanForced = std::getenv("MAMBA_EDGE_CUDA_SCAN") != nullptr;
  return !scanForced && sh.T >= 32 ? kSsdTiledDefault : 0;
}

/** The scratch layout for chunks of L steps: hs [B, nC, H, N, P], then aEnd [B, nC, H], then cbT [B, nC, G, L, L] (floats). */
struct SsdTiledScratch {
  size_t hs, aEnd, cb, total;
};
static SsdTiledScratch ssdTiledScratch(const ScanShape& sh, int L) {
  const size_t nC = (size_t)(sh.T + L - 1) / L, bc = (size_t)sh.B * nC;
  SsdTiledScratch s{};
  s.hs = 0;
  s.aEnd = bc * sh.H * sh.N * sh.P;
  s.cb = s.aEnd + (bc * sh.H + 3) / 4 * 4;  // cbT 16-byte aligned
  s.total = s.cb + bc * sh.G * L * L;
  return s;
}

/** Whether the passes stage x, B, C and the chunk states with 16-byte loads: P, N multiples of 4 and x, B, C 16-byte aligned. */
static bool ssdTiledVec(const ScanShape& sh, const ScanArgs& a) {
  const uintptr_t any = reinterpret_cast<uintptr_t>(a.x) | reinterpret_cast<uintptr_t>(a.Bm) | reinterpret_cast<uintptr_t>(a.Cm);
  return sh.P % 4 == 0 && sh.N % 4 == 0 && any % 16 == 0;
}

bool ssdTiledWanted(const ScanShape& sh) { return ssdTiledChunk(sh) != 0; }

int ssdTiledChunks(const ScanShape& sh) { return (sh.T + ssdTiledChunk(sh) - 1) / ssdTiledChunk(sh); }

size_t ssdTiledScratchBytes(const ScanShape& sh) { return ssdTiledScratch(sh, ssdTiledChunk(sh)).total * sizeof(float); }

template <int L>
static cudaError_t ssdTiledT(const ScanShape& sh, const ScanArgs& a, void* scratch, cudaStream_t s) {
  const SsdTiledScratch l = ssdTiledScratch(sh, L);
  float* base = static_cast<float*>(scratch);
  float *hs = base + l.hs, *aEnd = base + l.aEnd, *cbT = base + l.cb;
  const int nC = (sh.T + L - 1) / L;
  const unsigned bch = (unsigned)((int64_t)sh.B * nC * sh.H), pTiles = (unsigned)((sh.P + 63) / 64), nTiles = (unsigned)((sh.N + 63) / 64);
  ssdTiledState<L><<<dim3(bch, nTiles * pTiles), kStThreads, 0, s>>>(sh, a, nC, hs, aEnd, ssdTiledVec(sh, a));
  ssdTiledCarry<<<blocksFor((int64_t)sh.B * sh.H * sh.N * sh.P, kStThreads), kStThreads, 0, s>>>(sh, nC, a.state, hs, aEnd);
  ssdTiledCb<L><<<dim3((unsigned)((int64_t)sh.B * nC * sh.G), (L / 64) * (L / 64)), kStThreads, 0, s>>>(sh, a, nC, cbT);
  ssdTiledOut<L><<<dim3(bch, (L / 64) * pTiles), kStThreads, 0, s>>>(sh, a, nC, hs, cbT, ssdTiledVec(sh, a));
  return cudaGetLastError();
}

cudaError_t launchSsdTiled(const ScanShape& sh, const ScanArgs& a, void* scratch, cudaStream_t s) {
  if ((int64_t)sh.B * sh.T * sh.I == 0) return cudaGetLastError();
  return ssdTiledChunk(sh) == 128 ? ssdTiledT<128>(sh, a, scratch, s) : ssdTiledT<64>(sh, a, scratch, s);
}

}  // namespace me
