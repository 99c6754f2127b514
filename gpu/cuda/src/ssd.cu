// Mamba-2's SSD (Dao & Gu 2024, §6 "the SSD algorithm"; mamba_ssm ops/triton/ssd_combined.py's
// chunk_scan / chunk_state / state_passing) in its chunked matrix form, products on tensor cores.
//
// For one head h (group g) and a chunk of L = 64 steps, with Δ_t = clamp(softplus(dt_t + dt_bias)),
// s_t = Σ_{τ ≤ t} Δ_τ·A_h (within the chunk), X [L × P], B, C [L × N] and the state H [P × N] the chunk
// starts from:
//   M = (C·Bᵀ) ∘ [τ ≤ t]·exp(s_t − s_τ)·Δ_τ                          (the intra-chunk "attention", L × L)
//   Y = M·X + diag(exp(s_t))·C·Hᵀ + D·X                              (intra-chunk + the carried state)
//   H ← exp(s_{L−1})·H + (diag(exp(s_{L−1} − s_τ)·Δ_τ)·X)ᵀ·B         (the state the next chunk starts from)
// which is the recurrence h_t = exp(Δ_t·A)·h_{t−1} + Δ_t·x_t·B_t, y_t = C_t·h_t + D·x_t (scan.cu's) summed
// in another order. A block (16 warps) is one (batch row, head, run of chunks) and walks its chunks in
// order, H in shared memory; each 16×16 output tile is one warp's WMMA m16n16k8 TF32 accumulator.
//
// Precision: a TF32 operand keeps 10 of f32's 23 mantissa bits (relative error ~2^-11 ≈ 5e-4 per
// product), far above the 2e-5 of the logit scale the goldens hold. So every product is done in the
// 3×TF32 split (CUTLASS's "3xTF32"): a = a_hi + a_lo with a_hi = tf32(a), a_lo = tf32(a − a_hi);
// a·b ≈ a_hi·b_hi + a_hi·b_lo + a_lo·b_hi (the dropped a_lo·b_lo is ~2^-22 relative), accumulated in f32:
// three tensor-core products for one, still several times the f32 CUDA cores' rate.
// MAMBA_EDGE_CUDA_SCAN=mma1 runs plain TF32 (one product) to show the difference.
//
// Long T with few heads: runs of chunks in parallel, from zero, then scan.cu's scanCombine carries the
// states across runs and a third pass writes y from the true start states (scan.cu's header).
#include <mma.h>
#include <algorithm>
#include "common.cuh"
#include "scan_common.cuh"

namespace me {
using namespace nvcuda;

constexpr int kSsdL = 64;  // steps a chunk
constexpr int kSsdWarps = 16;  // one block an SM (its shared memory): 16 warps keep 4 a scheduler
constexpr int kSsdThreads = kSsdWarps * 32;
constexpr size_t kSsdMaxSmem = 200 * 1024;
constexpr float kLog2eF = 1.4426950408889634f;

/** Shared-memory layout (floats): row strides padded by 4 floats (rows 4 banks apart; WMMA needs ld % 4 == 0). */
struct SsdLayout {
  int ldX, ldB, ldM, ldH;
  int oX, oB, oC, oM, oY, oH, oD, oS, oE, oW, total;
};
__host__ __device__ inline SsdLayout ssdLayout(int P, int N) {
  SsdLayout l{};
  l.ldX = P + 4, l.ldB = N + 4, l.ldM = kSsdL + 4, l.ldH = N + 4;
  int o = 0;
  l.oX = o, o += kSsdL * l.ldX;  // X [L][P]; then X·w for the state update
  l.oB = o, o += kSsdL * l.ldB;  // B [L][N]
  l.oC = o, o += kSsdL * l.ldB;  // C [L][N]; then diag(exp(s))·C
  l.oM = o, o += kSsdL * l.ldM;  // C·Bᵀ; then M
  l.oY = o, o += kSsdL * l.ldX;  // Y [L][P]
  l.oH = o, o += P * l.ldH;      // H [P][N]
  l.oD = o, o += kSsdL;          // Δ_t
  l.oS = o, o += kSsdL;          // s_t·log2 e
  l.oE = o, o += kSsdL;          // exp(s_t)
  l.oW = o, o += kSsdL;          // exp(s_{L−1} − s_t)·Δ_t
  l.total = o;                   // every offset a multiple of 8 floats: WMMA tiles stay 32-byte aligned
  return l;
}

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragAt = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragBt = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

/** f → (hi, lo) with hi = tf32(f), lo = tf32(f − hi), element by element (hi, lo the same fragment kind). */
template <class F>
__device__ __forceinline__ void splitTf32(F& hi, F& lo) {
#pragma unroll
  for (int i = 0; i < hi.num_elements; i++) {
    const float v = hi.x[i], h = wmma::__float_to_tf32(v);
    hi.x[i] = h;
    lo.x[i] = wmma::__float_to_tf32(v - h);
  }
}
template <class F>
__device__ __forceinline__ void toTf32(F& f) {
#pragma unroll
  for (int i = 0; i < f.num_elements; i++) f.x[i] = wmma::__float_to_tf32(f.x[i]);
}

/** acc += A[16 × 8]·B[8 × 16] from shared memory, in 3×TF32 (SPLIT) or plain TF32. */
template <bool SPLIT, class FA, class FB>
__device__ __forceinline__ void mmaStep(FragC& acc, const float* a, int lda, const float* b, int ldb) {
  FA ah, al;
  FB bh, bl;
  wmma::load_matrix_sync(ah, a, lda);
  wmma::load_matrix_sync(bh, b, ldb);
  if constexpr (SPLIT) {
    splitTf32(ah, al);
    splitTf32(bh, bl);
    wmma::mma_sync(acc, al, bh, acc);  // the small terms first
    wmma::mma_sync(acc, ah, bl, acc);
  } else {
    toTf32(ah);
    toTf32(bh);
  }
  wmma::mma_sync(acc, ah, bh, acc);
}

template <bool WY, bool SPLIT>
__global__ void __launch_bounds__(kSsdThreads, 1) ssdMma(ScanShape sh, ScanArgs a, int chunks, int chunkLen, float* hScratch,
                                                         float* dScratch, int start, int end) {
  extern __shared__ float4 smem4[];
  float* sm = reinterpret_cast<float*>(smem4);
  const int P = sh.P, N = sh.N, H = sh.H, T = sh.T, I = sh.I;
  const SsdLayout l = ssdLayout(P, N);
  float *sX = sm + l.oX, *sB = sm + l.oB, *sC = sm + l.oC, *sM = sm + l.oM, *sY = sm + l.oY, *sH = sm + l.oH;
  float *sDl = sm + l.oD, *sS = sm + l.oS, *sE = sm + l.oE, *sW = sm + l.oW;
  const int h = blockIdx.x % H, b = blockIdx.x / H;
  const int g = h / (H / sh.G);
  const int run = blockIdx.y;
  const int t0 = run * chunkLen, t1 = min(T, t0 + chunkLen);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const float Ah = a.A[h], bias = a.dtBias[h], Dh = a.D[h];
  const int64_t c0 = (int64_t)b * I + (int64_t)h * P;  // the channel of p = 0
  const int64_t GN = (int64_t)sh.G * N;
  const int pTiles = P / 16, nTiles = N / 16;

  for (int e = threadIdx.x; e < P * N; e += kSsdThreads) {
    const int p = e / N, n = e - p * N;
    float v = 0.f;
    if (start == kFromState) v = a.state[(c0 + p) * N + n];
    else if (start == kFromScratch) v = hScratch[((c0 + p) * chunks + run) * N + n];
    sH[p * l.ldH + n] = v;
  }
  float dsum = 0.f;  // ΣΔ over the run (warp 0)
  for (int tc = t0; tc < t1; tc += kSsdL) {
    const int nt = min(kSsdL, t1 - tc);
    const int64_t row0 = (int64_t)b * T + tc;
    // Stage X, B (C) rows of the chunk; rows past T are zero (their Δ is 0: they change nothing).
    for (int e = threadIdx.x; e < kSsdL * P; e += kSsdThreads) {
      const int t = e / P, p = e - t * P;
      const bool ok = t < nt;
      cpAsync4(sX + t * l.ldX + p, a.x + (ok ? (row0 + t) * I + (int64_t)h * P + p : 0), ok);
    }
    for (int e = threadIdx.x; e < kSsdL * N; e += kSsdThreads) {
      const int t = e / N, n = e - t * N;
      const bool ok = t < nt;
      const int64_t src = ok ? (row0 + t) * GN + (int64_t)g * N + n : 0;
      cpAsync4(sB + t * l.ldB + n, a.Bm + src, ok);
      if (WY) cpAsync4(sC + t * l.ldB + n, a.Cm + src, ok);
    }
    if (warp == 0) {  // Δ_t, and s_t by a shuffle scan (2 steps a lane)
      float d[2];
#pragma unroll
      for (int j = 0; j < 2; j++) {
        const int t = 2 * lane + j;
        d[j] = 0.f;
        if (t < nt) d[j] = fminf(fmaxf(softplusf(a.dt[(row0 + t) * H + h] + bias), sh.dtMin), sh.dtMax);
      }
      const float s0 = d[0] * Ah, s1 = s0 + d[1] * Ah;
      float incl = s1;
#pragma unroll
      for (int off = 1; off < 32; off <<= 1) {
        const float q = __shfl_up_sync(0xffffffffu, incl, off);
        if (lane >= off) incl += q;
      }
      float before = __shfl_up_sync(0xffffffffu, incl, 1);
      if (lane == 0) before = 0.f;
      const float last = __shfl_sync(0xffffffffu, incl, 31);
      sDl[2 * lane] = d[0], sDl[2 * lane + 1] = d[1];
      const float sa = before + s0, sb = before + s1;
      sS[2 * lane] = sa * kLog2eF, sS[2 * lane + 1] = sb * kLog2eF;  // s·log2 e: the mask takes 2^(s_t − s_u) on the SFU
      sE[2 * lane] = expf(sa), sE[2 * lane + 1] = expf(sb);
      sW[2 * lane] = expf(last - sa) * d[0], sW[2 * lane + 1] = expf(last - sb) * d[1];
      dsum += groupSum(d[0] + d[1], 32);
    }
    cpAsyncWaitAll();
    __syncthreads();

    if (WY) {
      // C·Bᵀ, its lower-triangular tiles (M is 0 above the diagonal)
      for (int tile = warp; tile < 16; tile += kSsdWarps) {
        const int ti = tile >> 2, tj = tile & 3;
        FragC acc;
        wmma::fill_fragment(acc, 0.f);
        if (tj <= ti)
          for (int k = 0; k < N; k += 8) mmaStep<SPLIT, FragA, FragBt>(acc, sC + ti * 16 * l.ldB + k, l.ldB, sB + tj * 16 * l.ldB + k, l.ldB);
        wmma::store_matrix_sync(sM + ti * 16 * l.ldM + tj * 16, acc, l.ldM, wmma::mem_row_major);
      }
      __syncthreads();
      for (int e = threadIdx.x; e < kSsdL * kSsdL; e += kSsdThreads) {
        const int t = e / kSsdL, u = e - t * kSsdL;
        float* m = sM + t * l.ldM + u;
        *m = u <= t ? *m * ex2(sS[t] - sS[u]) * sDl[u] : 0.f;
      }
      for (int e = threadIdx.x; e < kSsdL * N; e += kSsdThreads) {
        const int t = e / N, n = e - t * N;
        sC[t * l.ldB + n] *= sE[t];
      }
      __syncthreads();
      // Y = M·X + (diag(exp(s))·C)·Hᵀ
      for (int tile = warp; tile < 4 * pTiles; tile += kSsdWarps) {
        const int ti = tile / pTiles, tj = tile - ti * pTiles;
        FragC acc;
        wmma::fill_fragment(acc, 0.f);
        for (int k = 0; k < (ti + 1) * 16; k += 8)  // M's columns past this row tile are 0
          mmaStep<SPLIT, FragA, FragB>(acc, sM + ti * 16 * l.ldM + k, l.ldM, sX + k * l.ldX + tj * 16, l.ldX);
        for (int k = 0; k < N; k += 8) mmaStep<SPLIT, FragA, FragBt>(acc, sC + ti * 16 * l.ldB + k, l.ldB, sH + tj * 16 * l.ldH + k, l.ldH);
        wmma::store_matrix_sync(sY + ti * 16 * l.ldX + tj * 16, acc, l.ldX, wmma::mem_row_major);
      }
      __syncthreads();
    }
    // y = Y + D·x (rows < nt); X rows ← X·exp(s_{L−1} − s_t)·Δ_t for the state update
    for (int e = threadIdx.x; e < kSsdL * P; e += kSsdThreads) {
      const int t = e / P, p = e - t * P;
      float* xp = sX + t * l.ldX + p;
      const float xv = *xp;
      if (WY && t < nt) a.y[(row0 + t) * I + (int64_t)h * P + p] = sY[t * l.ldX + p] + Dh * xv;
      *xp = xv * sW[t];
    }
    __syncthreads();
    // H ← exp(s_{L−1})·H + (X·w)ᵀ·B
    const float decay = sE[kSsdL - 1];
    for (int tile = warp; tile < pTiles * nTiles; tile += kSsdWarps) {
      const int ti = tile / nTiles, tj = tile - ti * nTiles;
      FragC acc;
      float* hp = sH + ti * 16 * l.ldH + tj * 16;
      wmma::load_matrix_sync(acc, hp, l.ldH, wmma::mem_row_major);
#pragma unroll
      for (int i = 0; i < acc.num_elements; i++) acc.x[i] *= decay;
      for (int k = 0; k < kSsdL; k += 8) mmaStep<SPLIT, FragAt, FragB>(acc, sX + k * l.ldX + ti * 16, l.ldX, sB + k * l.ldB + tj * 16, l.ldB);
      wmma::store_matrix_sync(hp, acc, l.ldH, wmma::mem_row_major);
    }
    __syncthreads();  // H final and every staged row read before the next chunk lands
  }
  if (end == kNoEnd) return;
  if (end == kToScratch && warp == 0)
    for (int p = lane; p < P; p += 32) dScratch[(c0 + p) * chunks + run] = dsum;
  for (int e = threadIdx.x; e < P * N; e += kSsdThreads) {
    const int p = e / N, n = e - p * N;
    const float v = sH[p * l.ldH + n];
    if (end == kToState) a.state[(c0 + p) * N + n] = v;
    else hScratch[((c0 + p) * chunks + run) * N + n] = v;
  }
}

static size_t ssdSmemBytes(const ScanShape& sh) { return (size_t)ssdLayout(sh.P, sh.N).total * sizeof(float); }

bool ssdMmaFits(const ScanShape& sh) {
  return sh.ssd && sh.P % 16 == 0 && sh.N % 16 == 0 && sh.P > 0 && sh.N > 0 && ssdSmemBytes(sh) <= kSsdMaxSmem;
}

int ssdMmaChunks(const ScanShape& sh, int multiprocessors) {
  // One block an SM (its ~150 KB of shared memory): runs of ≥ 4 chunks until B·H·runs fills the SMs once.
  const int64_t heads = (int64_t)sh.B * sh.H;
  const int64_t sms = std::max(1, multiprocessors);
  if (heads >= sms) return 1;
  const int64_t runs = std::min<int64_t>(sms / heads, sh.T / (4 * kSsdL));
  return (int)std::max<int64_t>(1, std::min<int64_t>(runs, 65535));
}

template <bool WY, bool SPLIT>
static cudaError_t ssdPassT(const ScanShape& sh, const ScanArgs& a, int chunks, int chunkLen, float* hScratch, float* dScratch, int start,
                            int end, cudaStream_t s) {
  static bool configured = false;  // > 48 KB of dynamic shared memory needs an opt-in per kernel
  if (!configured) {
    cudaFuncSetAttribute(ssdMma<WY, SPLIT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kSsdMaxSmem);
    configured = true;
  }
  ssdMma<WY, SPLIT><<<dim3((unsigned)((int64_t)sh.B * sh.H), (unsigned)chunks), kSsdThreads, ssdSmemBytes(sh), s>>>(sh, a, chunks, chunkLen,
                                                                                                                  hScratch, dScratch, start, end);
  return cudaGetLastError();
}

cudaError_t launchSsdMmaPass(const ScanShape& sh, const ScanArgs& a, int chunks, int chunkLen, float* hScratch, float* dScratch, int start,
                             int end, bool writeY, bool split3, cudaStream_t s) {
  if (writeY) {
    return split3 ? ssdPassT<true, true>(sh, a, chunks, chunkLen, hScratch, dScratch, start, end, s)
                  : ssdPassT<true, false>(sh, a, chunks, chunkLen, hScratch, dScratch, start, end, s);
  }
  return split3 ? ssdPassT<false, true>(sh, a, chunks, chunkLen, hScratch, dScratch, start, end, s)
                : ssdPassT<false, false>(sh, a, chunks, chunkLen, hScratch, dScratch, start, end, s);
}

}  // namespace me
