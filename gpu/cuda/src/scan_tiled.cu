// scanTiled: the Mamba-1 prefill scan (N ≤ 16) as the WebGPU backend's tiled three-pass design, ported
// (gpu/wgsl/selective_scan_chunk_tiled.wgsl, selective_scan_carry_batched.wgsl, selective_scan_out_tiled.wgsl,
// include/scan_stage.wgsl: 0.37–0.41 ms on [1, 16384, 1536] × N 16 on an H100 through Vulkan, where
// scan.cu's scanWarp takes 0.90 ms — BENCHMARKS.md, "WebGPU prefill scans, tiled").
// MAMBA_EDGE_CUDA_SCAN=tiled3 selects it (UNMEASURED when written: built without a GPU).
//
// The recurrence (Gu & Dao 2023, Alg. 2; HF MambaMixer.slow_forward), channel i of batch row b:
//   Δ = softplus(dt + dt_bias);  h_n ← exp(Δ·A[i,n])·h_n + Δ·x·B_n;  y = (Σ_n C_n·h_n + D·x)·silu(z)
// split over chunks of L tokens (scan.cu's header has the algebra):
//   1. scanTiledPass<false>: every chunk from h = 0: its end state h_local and ΣΔ, stored n-major,
//      hc [B, nC, N, I], sd [B, nC, I], so the 64 threads of a block store 256 contiguous bytes per n
//      and the carry's loads coalesce;
//   2. scanTiledCarry: per (b, n, i), i fastest: start_c = h; h ← exp(A·ΣΔ_c)·h + h_local_c, hc[c] := start_c,
//      the last h is the new state; 32 chunks' loads issued before the serial walk uses them;
//   3. scanTiledPass<true>: every chunk again from its start state, writing y.
// One pass (state in, y and state out) when there is one chunk: T ≤ L, or batch × channels that fill the
// GPU by themselves (x and dt then read once, no scratch).
//
// A block is 64 channels (a thread each) × one chunk. Per thread: A·log2(e) in registers (exp(Δ·A) =
// 2^(Δ·A·log2 e), one ex2.approx.ftz per state and token), the state row as float4s padded to N4·4 with
// A = B = C = 0 (the padding stays 0), x / dt (/ z) of the next 8 tokens loaded while the current 8 are
// computed. The chunk's B (and C) rows — the same for all 64 channels — are staged in shared memory
// 32 tokens at a time with cp.async (16-byte copies where N % 4 = 0 and the rows are 16-byte aligned,
// else 4-byte ones), double-buffered, and read back as broadcast float4s. What CUDA adds over the WGSL:
// ex2.approx.ftz and lg2.approx for softplus / silu (not libm's expf / log1pf), cp.async double
// buffering, N4 at compile time, __launch_bounds__, streaming loads / stores for z and y; and (twelfth session)
// a whole group of 8 tokens with no per-token bounds test, its x / dt / z / y addresses stepped from one base
// and its B / C rows from one shared-memory row pointer: 0.359 → 0.329 ms on [1, 16384, 1536] × N 16 (H100).
//
// Pass by pass on [1, 16384, 1536] × N 16, H100 (tools/cuda-probe, twelfth session): pass 1 0.131 ms (its 18 SFU
// operations a token and channel take ≥ 0.108 ms at 16 a clock an SM), carry 0.017, pass 3 0.174 (0.149 with no
// SFU work at all, DRAM-bound there: x, dt, z, B, C read and y written at ~2.75 TB/s).
#include <algorithm>
#include <cstdlib>
#include "common.cuh"
#include "scan_common.cuh"
#include "scan_fast.cuh"

namespace me {

constexpr int kTC = 64;     // channels a block, one a thread (the WGSL workgroup)
constexpr int kTB = 32;     // tokens of B / C a staged tile (the WGSL's TB)
constexpr int kTU = 8;      // tokens of x, dt, z a thread has in flight (the WGSL's U)
constexpr int kTCarryAhead = 32;  // chunks the carry loads before walking them (the WGSL's CB is 16: more loads in flight here)
/**
 * Stages B (and C) rows [row0, row0 + nt) of one batch row into sB / sC [kTB][4] float4s, zero past nt and
 * past N. vec: N % 4 == 0 and Bm, Cm 16-byte aligned (then every row start is too).
 */
template <bool WY>
__device__ __forceinline__ void stageBC(float4 (*sB)[4], float4 (*sC)[4], const float* Bm, const float* Cm, int64_t row0, int nt, int N,
                                        bool vec) {
  for (int k = threadIdx.x; k < kTB * 4; k += kTC) {
    const int t = k >> 2, q = k & 3;
    if (vec) {
      const bool ok = t < nt && 4 * q < N;
      const int64_t g = ok ? (row0 + t) * N + 4 * q : 0;
      cpAsync16(&sB[t][q], Bm + g, ok);
      if (WY) cpAsync16(&sC[t][q], Cm + g, ok);
    } else {
      float* b4 = reinterpret_cast<float*>(&sB[t][q]);
      float* c4 = reinterpret_cast<float*>(&sC[t][q]);
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const bool ok = t < nt && 4 * q + r < N;
        const int64_t g = ok ? (row0 + t) * N + 4 * q + r : 0;
        cpAsync4(b4 + r, Bm + g, ok);
        if (WY) cpAsync4(c4 + r, Cm + g, ok);
      }
    }
  }
  cpAsyncCommit();
}

/**
 * One pass over chunk blockIdx.y of 64 channels (blockIdx.x = b · ⌈I/64⌉ + channel block). WY: write y
 * (passes 3 and the single pass); else accumulate ΣΔ for the carry. start / end: scan_common.cuh's.
 */
template <bool WY, int N4>
__global__ void __launch_bounds__(kTC) scanTiledPass(ScanShape sh, ScanArgs a, int chunks, int chunkLen, float* hc, float* sd, int start,
                                                     int end, bool vec) {
  __shared__ float4 sB[2][kTB][4];
  __shared__ float4 sC[WY ? 2 : 1][kTB][4];
  const int N = sh.N, I = sh.I, T = sh.T;
  const int blocksPerRow = (I + kTC - 1) / kTC;
  const int b = blockIdx.x / blocksPerRow;
  const int i = (blockIdx.x % blocksPerRow) * kTC + threadIdx.x;
  const bool on = i < I;  // threads past I run channel I − 1's numbers (they stage and meet the barriers) and store nothing
  const int ic = on ? i : I - 1;
  const int chunk = blockIdx.y;
  const int t0 = chunk * chunkLen, t1 = min(T, t0 + chunkLen);
  const int64_t g = (int64_t)b * chunks + chunk;  // hc / sd row of this (b, chunk)

  float4 A2[N4], h[N4];
#pragma unroll
  for (int q = 0; q < N4; q++) {
    A2[q] = h[q] = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int n = 4 * q + r;
      if (n < N) {
        comp(A2[q], r) = a.A[(int64_t)ic * N + n] * kLog2eT;
        if (start == kFromState) comp(h[q], r) = a.state[((int64_t)b * I + ic) * N + n];
        else if (start == kFromScratch) comp(h[q], r) = hc[(g * N + n) * I + ic];
      }
    }
  }
  const float bias = a.dtBias[ic];
  const float Dv = WY ? a.D[ic] : 0.f;
  float dsum = 0.f;

  // x, dt (, z) of tokens [u0, u0 + 8): the next group's loads are issued before this group's math. A whole
  // group (all but a chunk's last, short one) steps one pointer by I a token: no bounds test, no 64-bit multiply.
  const int64_t base = (int64_t)b * T * I + ic;
  float xn[kTU], dn[kTU], zn[kTU];
  auto loadGroup = [&](int u0) {
    const int64_t k0 = base + (int64_t)u0 * I;
    if (u0 + kTU <= t1) {
      const float *px = a.x + k0, *pd = a.dt + k0, *pz = WY ? a.z + k0 : nullptr;
#pragma unroll
      for (int u = 0; u < kTU; u++, px += I, pd += I) {
        xn[u] = *px;
        dn[u] = *pd;
        if (WY) { zn[u] = __ldcs(pz); pz += I; }
      }
      return;
    }
#pragma unroll
    for (int u = 0; u < kTU; u++) {
      const bool ok = u0 + u < t1;
      const int64_t k = base + (int64_t)(ok ? u0 + u : t0) * I;
      xn[u] = ok ? a.x[k] : 0.f;
      dn[u] = ok ? a.dt[k] : 0.f;
      if (WY) zn[u] = ok ? __ldcs(a.z + k) : 0.f;
    }
  };
  loadGroup(t0);
  const int64_t row0 = (int64_t)b * T;
  stageBC<WY>(sB[0], sC[0], a.Bm, a.Cm, row0 + t0, min(kTB, t1 - t0), N, vec);

  for (int tile = t0; tile < t1; tile += kTB) {
    const int buf = ((tile - t0) / kTB) & 1;
    cpAsyncWait0();
    __syncthreads();  // this tile is visible to all; every read of the other buffer (the tile before) is done
    if (tile + kTB < t1) stageBC<WY>(sB[buf ^ 1], sC[WY ? buf ^ 1 : 0], a.Bm, a.Cm, row0 + tile + kTB, min(kTB, t1 - tile - kTB), N, vec);
    const int tEnd = min(t1, tile + kTB);
    for (int u0 = tile; u0 < tEnd; u0 += kTU) {  // kTU divides kTB: a group never straddles two tiles
      float xs[kTU], ds[kTU], zs[kTU];
#pragma unroll
      for (int u = 0; u < kTU; u++) {
        xs[u] = xn[u];
        ds[u] = dn[u];
        if (WY) zs[u] = zn[u];
      }
      if (u0 + kTU < t1) loadGroup(u0 + kTU);
      // One token of the group: its B / C rows (shared, broadcast) and its y address passed in, so a whole
      // group's eight tokens address both from one base each instead of recomputing them a token.
      const float4* bRow = sB[buf][u0 - tile];
      const float4* cRow = sC[WY ? buf : 0][u0 - tile];
      float* yp = WY ? a.y + base + (int64_t)u0 * I : nullptr;
      auto token = [&](int u) {
        const float delta = softplusFast(ds[u] + bias);
        const float dx = delta * xs[u];
        if (!WY) dsum += delta;
        float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);  // four partial sums: C·h is not one chain of N dependent adds
#pragma unroll
        for (int q = 0; q < N4; q++) {
          const float4 Bq = bRow[4 * u + q];
          h[q].x = ex2(delta * A2[q].x) * h[q].x + dx * Bq.x;
          h[q].y = ex2(delta * A2[q].y) * h[q].y + dx * Bq.y;
          h[q].z = ex2(delta * A2[q].z) * h[q].z + dx * Bq.z;
          h[q].w = ex2(delta * A2[q].w) * h[q].w + dx * Bq.w;
          if (WY) {
            const float4 Cq = cRow[4 * u + q];
            acc.x += h[q].x * Cq.x;
            acc.y += h[q].y * Cq.y;
            acc.z += h[q].z * Cq.z;
            acc.w += h[q].w * Cq.w;
          }
        }
        if (WY && on) {
          const float ch = (acc.x + acc.y) + (acc.z + acc.w);
          __stcs(yp, (ch + Dv * xs[u]) * siluFast(zs[u]));
        }
        if (WY) yp += I;
      };
      if (u0 + kTU <= tEnd) {  // a whole group: no per-token test
#pragma unroll
        for (int u = 0; u < kTU; u++) token(u);
      } else {
#pragma unroll
        for (int u = 0; u < kTU; u++)
          if (u0 + u < tEnd) token(u);  // uniform over the block
      }
    }
  }
  if (!on || end == kNoEnd) return;
#pragma unroll
  for (int q = 0; q < N4; q++) {
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int n = 4 * q + r;
      if (n < N) {
        if (end == kToState) a.state[((int64_t)b * I + i) * N + n] = comp(h[q], r);
        else hc[(g * N + n) * I + i] = comp(h[q], r);
      }
    }
  }
  if (end == kToScratch) sd[g * I + i] = dsum;
}

/** Pass 2: thread per (b, n, i), i fastest (coalesced hc / sd); hc[c] becomes the state entering chunk c. */
__global__ void __launch_bounds__(128, 4) scanTiledCarry(ScanShape sh, const float* Aall, float* state, float* hc, const float* sd, int chunks) {
  const int I = sh.I, N = sh.N;
  const int64_t total = (int64_t)sh.B * N * I;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    const int i = (int)(e % I), n = (int)((e / I) % N);
    const int64_t b = e / ((int64_t)I * N);
    const float A2 = Aall[(int64_t)i * N + n] * kLog2eT;
    float* hs = state + (b * I + i) * N + n;
    float h = *hs;
    const int64_t hStep = (int64_t)N * I;  // hc from one chunk to the next; sd's is I
    float* hp = hc + (b * chunks * N + n) * I + i;
    const float* sp = sd + b * chunks * I + i;
    for (int c0 = 0; c0 < chunks; c0 += kTCarryAhead) {
      float loc[kTCarryAhead], dec[kTCarryAhead];
#pragma unroll
      for (int u = 0; u < kTCarryAhead; u++) {
        const bool ok = c0 + u < chunks;
        loc[u] = ok ? hp[u * hStep] : 0.f;
        dec[u] = ok ? sp[(int64_t)u * I] : 0.f;
      }
#pragma unroll
      for (int u = 0; u < kTCarryAhead; u++) {
        if (c0 + u < chunks) {
          hp[u * hStep] = h;
          h = ex2(A2 * dec[u]) * h + loc[u];
        }
      }
      hp += kTCarryAhead * hStep;
      sp += (int64_t)kTCarryAhead * I;
    }
    *hs = h;
  }
}

/** MAMBA_EDGE_CUDA_SCAN_CHUNK: scanTiled's chunk length (A/B sweeps), a multiple of 32 in [32, 4096]; default 64 (the WGSL's). */
static int tiledChunkLen() {
  static const int len = [] {
    const char* v = std::getenv("MAMBA_EDGE_CUDA_SCAN_CHUNK");
    const int n = v ? std::atoi(v) : 0;
    return n >= 32 && n <= 4096 && n % 32 == 0 ? n : 64;
  }();
  return len;
}

bool scanTiledFits(const ScanShape& sh) { return !sh.ssd && sh.N >= 1 && sh.N <= 16; }

int scanTiledChunks(const ScanShape& sh, int multiprocessors) {
  int L = tiledChunkLen();
  if (sh.T <= L) return 1;
  // Channels enough to fill the GPU alone (6 blocks of 2 warps an SM): one pass reads x, dt once, no scratch.
  const int64_t blocks = (int64_t)sh.B * ((sh.I + kTC - 1) / kTC);
  if (blocks >= 6 * (int64_t)std::max(1, multiprocessors)) return 1;
  while ((sh.T + L - 1) / L > 65535) L *= 2;  // gridDim.y's limit (T > 4 M tokens)
  return (sh.T + L - 1) / L;
}

template <int N4>
static cudaError_t tiledN(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s) {
  const bool vec = sh.N % 4 == 0 && (reinterpret_cast<uintptr_t>(a.Bm) & 15) == 0 && (reinterpret_cast<uintptr_t>(a.Cm) & 15) == 0;
  const unsigned gx = (unsigned)((int64_t)sh.B * ((sh.I + kTC - 1) / kTC));
  if (chunks <= 1) {
    scanTiledPass<true, N4><<<dim3(gx, 1), kTC, 0, s>>>(sh, a, 1, sh.T, nullptr, nullptr, kFromState, kToState, vec);
    return cudaGetLastError();
  }
  // Equal chunks of ⌈T / chunks⌉ (64 for T a multiple of 64 at the default); the last may be shorter.
  const int chunkLen = (sh.T + chunks - 1) / chunks;
  chunks = (sh.T + chunkLen - 1) / chunkLen;
  float* hc = static_cast<float*>(scratch);                // [B, chunks, N, I]
  float* sd = hc + (size_t)sh.B * chunks * sh.N * sh.I;   // [B, chunks, I]: scanScratchBytes' layout sizes, n-major
  scanTiledPass<false, N4><<<dim3(gx, chunks), kTC, 0, s>>>(sh, a, chunks, chunkLen, hc, sd, kFromZero, kToScratch, vec);
  const int64_t total = (int64_t)sh.B * sh.N * sh.I;
  scanTiledCarry<<<(unsigned)std::min<int64_t>(blocksFor(total, 128), 1 << 20), 128, 0, s>>>(sh, a.A, a.state, hc, sd, chunks);
  scanTiledPass<true, N4><<<dim3(gx, chunks), kTC, 0, s>>>(sh, a, chunks, chunkLen, hc, sd, kFromScratch, kNoEnd, vec);
  return cudaGetLastError();
}

cudaError_t launchScanTiled(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s) {
  const int N4 = (sh.N + 3) / 4;
  if (N4 <= 1) return tiledN<1>(sh, a, chunks, scratch, s);
  if (N4 == 2) return tiledN<2>(sh, a, chunks, scratch, s);
  if (N4 == 3) return tiledN<3>(sh, a, chunks, scratch, s);
  return tiledN<4>(sh, a, chunks, scratch, s);
}

}  // namespace me
