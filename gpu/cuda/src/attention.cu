// The attention family on the GPU: RoPE, the KV cache append, and causal grouped-query softmax
// attention (transformers eager_attention_forward: y = softmax(scale · q·kᵀ, causal) · v in f32) as one
// tiled kernel with an online softmax, so no T × T score matrix ever exists (Dao et al.,
// FlashAttention, 2022), plus key-axis splits for long caches with few query rows (Flash-Decoding,
// 2023; the same split-K scheme as gpu/wgsl/attention_split.wgsl + attention_combine.wgsl).
#include <algorithm>
#include <cfloat>
#include "attention.h"
#include "common.cuh"

namespace me {

namespace {

#define GRID_STRIDE(i, n) for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
constexpr int kThreads = 256;
inline unsigned gridFor(int64_t n) { return static_cast<unsigned>(std::min<int64_t>(blocksFor(n, kThreads), 65535LL * 8)); }

/**
 * y = rope(x), x [B, T, H, Dh], thread per element (transformers apply_rotary_pos_emb, rotate_half):
 *   d < R:        x[d]·cos θ_d − x[d+R]·sin θ_d
 *   R ≤ d < 2R:   x[d]·cos θ_i + x[i]·sin θ_i   (i = d − R)
 *   d ≥ 2R:       x[d]   (partial rotary)
 * θ_i = fp32(fp32(p) · invFreq[i]) as HF's f32 rotary tables (inv_freq.float() @ position_ids.float());
 * cos and sin of that f32 angle are taken in f64 and rounded, as src/backends/attention-math.ts ropeTables
 * does, so every backend rotates by the same f32 values.
 */
__global__ void rope(float* y, const float* x, const float* invFreq, int64_t n, int T, int H, int Dh, int R, int position) {
  GRID_STRIDE(e, n) {
    const int d = (int)(e % Dh);
    const int64_t row = e / Dh;
    const int t = (int)((row / H) % T);
    if (d >= 2 * R) {
      y[e] = x[e];
      continue;
    }
    const int i = d < R ? d : d - R;
    const float angle = __fmul_rn((float)(position + t), invFreq[i]);
    const float c = (float)cos((double)angle), s = (float)sin((double)angle);
    const int64_t o = row * Dh;
    y[e] = d < R ? x[e] * c - x[o + R + d] * s : x[e] * c + x[o + i] * s;
  }
}

/** Thread per element of k / v [B, T, G, Dh] → cache [B, G, capacity, Dh] row P + t. */
__global__ void kvAppend(float* cacheK, float* cacheV, const float* k, const float* v, int64_t n, int T, int G, int Dh, int capacity, int P) {
  GRID_STRIDE(e, n) {
    const int d = (int)(e % Dh);
    const int g = (int)((e / Dh) % G);
    const int t = (int)((e / ((int64_t)Dh * G)) % T);
    const int64_t b = e / ((int64_t)Dh * G * T);
    const int64_t dst = ((b * G + g) * capacity + P + t) * (int64_t)Dh + d;
    cacheK[dst] = k[e];
    cacheV[dst] = v[e];
  }
}

__device__ __forceinline__ float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = kAttnRowTile / kWarps;  // 4
static_assert(kAttnKeyTile == 32, "a key tile is one key per lane");

/**
 * One block per (tile of 16 query rows, batch b and kv head g, key split). The query rows of a block
 * are the (token t, query head h) pairs of one kv group — r = t·(H/G) + (h mod H/G) — so every row of
 * the block reads the same K and V: a tile of 32 keys is loaded into shared memory once and used by
 * all 16 rows (grouped-query heads share it too). Each warp owns 4 rows; per key tile, lane j scores
 * key j against the warp's rows, the warp takes the tile max and Σ exp with shuffles, and every lane
 * accumulates P·V for its head_dim lanes d = lane + 32·jd, rescaling by exp(m_old − m_new) (online
 * softmax). Keys visible to row t: 0 … P + t. A block walks keys [split·C, min(split·C + C, its last
 * row's end)). With one split the row is normalised and written to y; with several, the split's
 * unnormalised (m, l, acc) goes to the partials and attentionCombine merges them.
 * Shared memory: Q [16, Dh], K [32, Dh | 1] (an odd row stride: lane j reading row j hits 32 banks), V [32, Dh].
 */
template <int DJ>
__global__ void __launch_bounds__(kWarps * 32) attention(float* y, float* part, const float* q, const float* cacheK, const float* cacheV,
                                                          AttentionShape sh) {
  extern __shared__ float smem[];
  const int Dh = sh.Dh, kStride = Dh % 2 == 0 ? Dh + 1 : Dh;
  float* qs = smem;
  float* ks = qs + kAttnRowTile * Dh;
  float* vs = ks + kAttnKeyTile * kStride;
  const int hpg = sh.H / sh.G;
  const int bg = blockIdx.y, b = bg / sh.G, g = bg % sh.G;
  const int rows = sh.T * hpg;
  const int r0 = blockIdx.x * kAttnRowTile;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

  for (int i = threadIdx.x; i < kAttnRowTile * Dh; i += blockDim.x) {
    const int r = r0 + i / Dh, d = i % Dh;
    float v = 0.f;
    if (r < rows) v = q[(((int64_t)b * sh.T + r / hpg) * sh.H + g * hpg + r % hpg) * Dh + d];
    qs[i] = v;
  }
  int lim[kRowsPerWarp];  // keys visible to each of this warp's rows (0 for rows past the end)
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; j++) {
    const int r = r0 + warp * kRowsPerWarp + j;
    lim[j] = r < rows ? sh.P + r / hpg + 1 : 0;
  }
  const int lastRow = min(r0 + kAttnRowTile, rows) - 1;
  const int k0 = blockIdx.z * sh.keysPerSplit;
  const int k1 = min(k0 + sh.keysPerSplit, sh.P + lastRow / hpg + 1);

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][DJ];
#pragma unroll
  for (int j = 0; j < kRowsPerWarp; j++) {
    m[j] = -FLT_MAX;
    l[j] = 0.f;
#pragma unroll
    for (int jd = 0; jd < DJ; jd++) acc[j][jd] = 0.f;
  }
  const float* Kb = cacheK + (int64_t)bg * sh.capacity * Dh;
  const float* Vb = cacheV + (int64_t)bg * sh.capacity * Dh;
  const float* myQ = qs + warp * kRowsPerWarp * Dh;

  for (int j0 = k0; j0 < k1; j0 += kAttnKeyTile) {
    const int cnt = min(kAttnKeyTile, k1 - j0);
    __syncthreads();  // Q is in; the previous tile is no longer read
    for (int i = threadIdx.x; i < cnt * Dh; i += blockDim.x) {
      ks[(i / Dh) * kStride + i % Dh] = Kb[(int64_t)j0 * Dh + i];
      vs[i] = Vb[(int64_t)j0 * Dh + i];
    }
    __syncthreads();
    float sc[kRowsPerWarp] = {};
    if (lane < cnt) {
      const float* kr = ks + lane * kStride;
      for (int d = 0; d < Dh; d++) {
        const float kv = kr[d];
#pragma unroll
        for (int j = 0; j < kRowsPerWarp; j++) sc[j] += myQ[j * Dh + d] * kv;
      }
    }
    const int key = j0 + lane;
    float p[kRowsPerWarp];
#pragma unroll
    for (int j = 0; j < kRowsPerWarp; j++) {
      const bool visible = lane < cnt && key < lim[j];
      const float s = visible ? sc[j] * sh.scale : -FLT_MAX;
      const float mNew = fmaxf(m[j], warpMax(s));
      p[j] = visible ? expf(s - mNew) : 0.f;  // masked keys weigh 0 even while the row has seen no key (mNew = −max)
      const float corr = expf(m[j] - mNew);
      l[j] = l[j] * corr + groupSum(p[j], 32);
      m[j] = mNew;
#pragma unroll
      for (int jd = 0; jd < DJ; jd++) acc[j][jd] *= corr;
    }
    for (int kk = 0; kk < cnt; kk++) {
      float vk[DJ];
#pragma unroll
      for (int jd = 0; jd < DJ; jd++) {
        const int d = lane + 32 * jd;
        vk[jd] = d < Dh ? vs[kk * Dh + d] : 0.f;
      }
#pragma unroll
      for (int j = 0; j < kRowsPerWarp; j++) {
        const float pk = __shfl_sync(0xffffffffu, p[j], kk);
#pragma unroll
        for (int jd = 0; jd < DJ; jd++) acc[j][jd] += pk * vk[jd];
      }
    }
  }

#pragma unroll
  for (int j = 0; j < kRowsPerWarp; j++) {
    const int r = r0 + warp * kRowsPerWarp + j;
    if (r >= rows) continue;
    const int64_t row = ((int64_t)b * sh.T + r / hpg) * sh.H + g * hpg + r % hpg;  // = (b, t, h)
    if (sh.splits == 1) {
      const float inv = 1.f / l[j];  // split 0 holds key 0, visible to every row: l > 0
#pragma unroll
      for (int jd = 0; jd < DJ; jd++) {
        const int d = lane + 32 * jd;
        if (d < Dh) y[row * Dh + d] = acc[j][jd] * inv;
      }
    } else {
      float* po = part + (row * sh.splits + blockIdx.z) * (Dh + 2);
      if (lane == 0) {
        po[0] = m[j];
        po[1] = l[j];
      }
#pragma unroll
      for (int jd = 0; jd < DJ; jd++) {
        const int d = lane + 32 * jd;
        if (d < Dh) po[2 + d] = acc[j][jd];
      }
    }
  }
}

/**
 * Merges a row's S split partials (m_s, l_s, acc_s) by log-sum-exp: with M = max_s m_s,
 *   y = Σ_s exp(m_s − M)·acc_s / Σ_s exp(m_s − M)·l_s
 * Splits that saw no visible key have m = −max f32 and l = 0, so they weigh exp(−huge) = 0; split 0
 * always holds key 0, so M is a real score. Thread per (row, d).
 */
__global__ void attentionCombine(float* y, const float* part, int64_t rows, int Dh, int S) {
  GRID_STRIDE(i, rows * Dh) {
    const int64_t row = i / Dh;
    const int d = (int)(i % Dh);
    const float* po = part + row * S * (Dh + 2);
    float M = po[0];
    for (int s = 1; s < S; s++) M = fmaxf(M, po[s * (Dh + 2)]);
    float num = 0.f, den = 0.f;
    for (int s = 0; s < S; s++) {
      const float* ps = po + s * (Dh + 2);
      const float w = expf(ps[0] - M);
      den += w * ps[1];
      num += w * ps[2 + d];
    }
    y[i] = num / den;
  }
}

template <int DJ>
cudaError_t attentionFor(float* y, float* part, const float* q, const float* k, const float* v, const AttentionShape& sh, cudaStream_t s) {
  const int kStride = sh.Dh % 2 == 0 ? sh.Dh + 1 : sh.Dh;
  const size_t smem = sizeof(float) * ((size_t)kAttnRowTile * sh.Dh + (size_t)kAttnKeyTile * kStride + (size_t)kAttnKeyTile * sh.Dh);
  if (smem > 48 * 1024) {  // head_dim > 128: opt in to more than the default 48 KiB
    const cudaError_t e = cudaFuncSetAttribute(attention<DJ>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
  }
  const int hpg = sh.H / sh.G;
  const dim3 grid((unsigned)((sh.T * (int64_t)hpg + kAttnRowTile - 1) / kAttnRowTile), (unsigned)(sh.B * sh.G), (unsigned)sh.splits);
  attention<DJ><<<grid, kWarps * 32, smem, s>>>(y, part, q, k, v, sh);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launchRope(float* y, const float* x, const float* invFreq, int B, int T, int H, int Dh, int R, int position, cudaStream_t s) {
  const int64_t n = (int64_t)B * T * H * Dh;
  if (n == 0) return cudaSuccess;
  rope<<<gridFor(n), kThreads, 0, s>>>(y, x, invFreq, n, T, H, Dh, R, position);
  return cudaGetLastError();
}

cudaError_t launchKvAppend(float* cacheK, float* cacheV, const float* k, const float* v, int B, int T, int G, int Dh, int capacity, int P,
                           cudaStream_t s) {
  const int64_t n = (int64_t)B * T * G * Dh;
  if (n == 0) return cudaSuccess;
  kvAppend<<<gridFor(n), kThreads, 0, s>>>(cacheK, cacheV, k, v, n, T, G, Dh, capacity, P);
  return cudaGetLastError();
}

int64_t attentionPartialFloats(const AttentionShape& sh) {
  return sh.splits > 1 ? (int64_t)sh.B * sh.T * sh.H * sh.splits * (sh.Dh + 2) : 0;
}

cudaError_t launchAttention(float* y, float* part, const float* q, const float* k, const float* v, const AttentionShape& sh, cudaStream_t s) {
  if ((int64_t)sh.B * sh.T * sh.H == 0) return cudaSuccess;
  cudaError_t e;
  if (sh.Dh <= 32) e = attentionFor<1>(y, part, q, k, v, sh, s);
  else if (sh.Dh <= 64) e = attentionFor<2>(y, part, q, k, v, sh, s);
  else if (sh.Dh <= 128) e = attentionFor<4>(y, part, q, k, v, sh, s);
  else if (sh.Dh <= kAttnMaxHeadDim) e = attentionFor<8>(y, part, q, k, v, sh, s);
  else return cudaErrorInvalidValue;
  if (e != cudaSuccess || sh.splits == 1) return e;
  const int64_t rows = (int64_t)sh.B * sh.T * sh.H;
  attentionCombine<<<gridFor(rows * sh.Dh), kThreads, 0, s>>>(y, part, rows, sh.Dh, sh.splits);
  return cudaGetLastError();
}

}  // namespace me
