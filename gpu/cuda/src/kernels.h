// Host-side entry points of the CUDA kernels (one .cu file per family). Every launcher enqueues on
// `stream` and returns the launch's cudaError_t (cudaGetLastError), so the addon can turn a failed
// launch into a typed error at the call that made it. Activations are f32, row-major, [B, T, C].
#pragma once
#include <cuda_runtime_api.h>
#include <cstdint>

namespace me {

/** Storage dtype of a weight tensor (the Backend's WeightDType subset this addon stores). */
enum WeightType : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

// elementwise.cu
cudaError_t launchConvertFromF32(void* dst, const float* src, int64_t n, WeightType to, cudaStream_t s);
cudaError_t launchConvertToF32(float* dst, const void* src, int64_t n, WeightType from, cudaStream_t s);
cudaError_t launchEmbedding(float* out, const void* table, WeightType wt, const int32_t* ids, int n, int dim, cudaStream_t s);
cudaError_t launchAdd(float* out, const float* a, const float* b, int64_t n, cudaStream_t s);
cudaError_t launchGlu(float* out, const float* a, const float* gate, int64_t n, cudaStream_t s);
cudaError_t launchBroadcastRows(float* out, const float* row, int64_t rows, int cols, cudaStream_t s);
/** host[0..words) = src[0..words) by one small kernel: `host` is page-locked memory (UVA: the device writes it over the bus). */
cudaError_t launchCopyWordsToHost(void* host, const void* src, int64_t words, cudaStream_t s);

// norms.cu
cudaError_t launchRmsNorm(float* out, const float* x, const float* w, int64_t rows, int dim, float eps, cudaStream_t s);
/** sum = a + b; out = rmsnorm(sum) · w over rows of `dim` (a layer's residual add and the next norm, one launch). */
cudaError_t launchAddRmsNorm(float* sum, float* out, const float* a, const float* b, const float* w, int64_t rows, int dim, float eps,
                             cudaStream_t s);
cudaError_t launchGatedRmsNorm(float* out, const float* x, const float* gate, const float* w, int64_t groups, int groupSize, int dim,
                               float eps, cudaStream_t s);

// matmul.cu: y[rows, M] = x[rows, K] · Wᵀ (+ bias), W [M, K] in any WeightType.
/** Few rows (decode): one warp per output column, weights streamed once; bias fused. */
cudaError_t launchGemv(float* y, const float* x, const void* w, WeightType wt, const float* bias, int rows, int K, int M, cudaStream_t s);
constexpr int kGemvMaxRows = 8;
/** One matrix of a GEMV batch: y [rows, M] = x · Wᵀ (+ bias). */
struct GemvItem {
  float* y;
  const void* w;
  const float* bias;
  int M;
};
constexpr int kGemvBatchMax = 6;
struct GemvBatch {
  GemvItem item[kGemvBatchMax];
  int count;
};
/** Several GEMVs over the same x [rows, K] (≤ 8 rows), weights of one dtype, in one launch. */
cudaError_t launchGemvBatch(const GemvBatch& batch, const float* x, WeightType wt, int rows, int K, cudaStream_t s);
/** Any rows, without cuBLAS: shared-memory tiles; bias fused. */
cudaError_t launchTiledGemm(float* y, const float* x, const void* w, WeightType wt, const float* bias, int64_t rows, int K, int M,
                            cudaStream_t s);

// conv1d.cu: causal depthwise conv over s = state ++ x, optional silu; then state ← last K−1 of s.
cudaError_t launchConv1d(float* y, const float* x, const float* w, const float* bias, float* state, int B, int T, int C, int K, bool silu,
                         cudaStream_t s);

/** One conv of a T = 1 batch: y, x [B, C]; w [C, K]; state [B, C, K−1]. */
struct Conv1dStepItem {
  float* y;
  const float* x;
  const float* w;
  const float* bias;
  float* state;
  int C;
  float* snap;  // null, or where the state's old values are saved before the shift (a run-ahead step's undo point)
  const float* src;  // null (in place), or where the state before this step is read from: `state` gets the shifted one (ping-pong step graphs)
};
constexpr int kConvBatchMax = 4;
struct Conv1dStepBatch {
  Conv1dStepItem item[kConvBatchMax];
  int count;
};
cudaError_t launchConv1dStepBatch(const Conv1dStepBatch& batch, int B, int K, bool silu, cudaStream_t s);

// scan.cu: the selective scans as chunked parallel scans (see scan.cu's header).
struct ScanShape {
  bool ssd;       // false: Mamba-1 (A [I, N], z gate); true: Mamba-2 (A [H], groups, dt clamp)
  int B, T;
  int I;          // Mamba-1 d_inner; Mamba-2 H·P
  int N;          // state size
  int H, P, G;    // Mamba-2 only
  float dtMin, dtMax;
};
struct ScanArgs {
  const float *x, *dt, *dtBias, *A, *Bm, *Cm, *D, *z;  // z null for Mamba-2
  float* state;                                          // [B, I, N] / [B, H, P, N], in place
  float* y;
};
/** Bytes of scratch `launchScan` needs for `chunks` chunks (0 when chunks == 1). */
size_t scanScratchBytes(const ScanShape& sh, int chunks);
/** How many chunks to split T into so every multiprocessor has work (1: a single sequential pass). */
int scanChunks(const ScanShape& sh, int multiprocessors);
cudaError_t launchScan(const ScanShape& sh, const ScanArgs& a, int chunks, void* scratch, cudaStream_t s);
/** Which kernel launchScan runs for this shape: "tile" (scanTile) or "lanes" (scanChunk). */
const char* scanKernelName(const ScanShape& sh);

// ssd_tiled.cu: Mamba-2's SSD prefill as the WebGPU backend's four-pass tiled design (see its header).
/** Whether ssdTiled runs this shape: MAMBA_EDGE_CUDA_SSD=tiled|tiled128 and Mamba-2 with T ≥ 2 (or, unset, its default kSsdTiledDefault for T ≥ 32). */
bool ssdTiledWanted(const ScanShape& sh);
/** Its chunks: ⌈T / L⌉, L = 64 or 128. */
int ssdTiledChunks(const ScanShape& sh);
/** Scratch launchSsdTiled needs (chunk states, chunk decays, C·Bᵀ per chunk and group). */
size_t ssdTiledScratchBytes(const ScanShape& sh);
/** The four passes (chunk states, carry, C·Bᵀ, output); the state is read and updated in place. */
cudaError_t launchSsdTiled(const ScanShape& sh, const ScanArgs& a, void* scratch, cudaStream_t s);

// topk.cu: the k largest entries of x[0, V) → out [1 + 2k] u32 words: count, ids[k], value bits[k].
// Ties to the lower index; NaN and −∞ never count (src/api/sampler.ts's candidate rule).
cudaError_t launchTopK(uint32_t* out, const float* x, int V, int k, cudaStream_t s);

}  // namespace me

namespace me {
/** cudaSuccess when this build holds code the current device can run (else cudaErrorNoKernelImageForDevice). */
cudaError_t probeKernelImage();
}  // namespace me

// decode.cu: the batch-1 decode kernels (one token of one sequence), launched with programmatic
// dependent launch where the device has it (pdl.cuh).
namespace me {
/** Turns PDL on (where the device is sm_90+) or off for every later launch; returns whether it is on. */
bool setPdl(bool on, int major);
/**
 * Warps per output column of later decodeGemv launches (split-K): 0 one (the default), 2 / 4 / 8 that many for
 * every launch, −1 chosen per launch from the columns, K and the SM count; other values mean 0. Returns the mode set.
 */
int setDecodeSplit(int mode);
/** ssdStep loads each lane's state entries (and B, C) before its first store (off: one round trip each); → whether on. */
bool setSsdHold(bool on);

/** How decodeGemv forms its input row x [K] in shared memory before the GEMVs. */
struct RowPrologue {
  int kind;         // 0: x as given; 1: rmsnorm(a (+ b)) · w; 2: gated rmsnorm(a · silu(b)) · w over groups of `group`;
                    // 3: a T = 1 depthwise conv of a over state ++ a, weights w [K, convK], bias b, optional silu
                    //    (conv1d.cu conv1dStep's output; the state is only read: launchConvShift / ScanDtArgs shift it after)
  const float* a;
  const float* b;   // kind 1: the other addend (null: no add); kind 2: the gate
  const float* w;
  float* sum;       // kind 1 with b: a + b written here (the residual stream), else null
  float* normed;    // the formed row written here (later kernels may read it), else null
  float eps;
  int group;
  const float* state;  // kind 3: [K, convK − 1], oldest first
  int convK;
  bool silu;
};
constexpr int kDecodeGemvMaxK = 12288;  // the row lives in 48 KB of shared memory
/**
 * T = 1 depthwise convs applied to whole outputs of a decode GEMV batch as they are produced (an epilogue:
 * the lane that writes y_item[c] also computes channel c's conv of it — conv1d.cu conv1dStepBatch's
 * arithmetic — and shifts that channel's state), so the conv is not a kernel of its own and nothing is
 * computed twice (Mamba-1's x and Mamba-2's x, B, C convs of in_proj's output).
 */
struct ConvEpilogue {
  int item;           // the GEMV of the batch whose output [C] is the conv's input
  const float* w;     // [C, K]
  const float* bias;  // [C] or null
  float* state;       // [C, K − 1], in place
  float* out;         // [C]: the conv's output (after silu when `silu`)
  float* snap;        // null, or [C, K − 1]: the state before the shift (a run-ahead step's undo point)
  const float* src;   // null (in place), or [C, K − 1]: the state before this step, read here; `state` gets the shifted one (ping-pong)
};
constexpr int kConvEpilogueMax = 4;
struct ConvEpilogues {
  ConvEpilogue e[kConvEpilogueMax];
  int count;
  int K;
  bool silu;
};
/**
 * y_i = x · W_iᵀ (+ b_i) for one row x [K] (K % 4 == 0, K ≤ kDecodeGemvMaxK), the matrices of `batch`,
 * with x formed by `pro` first (a norm folded into the GEMV that reads it: one launch, not two).
 */
/**
 * Greedy decoding's draw as the epilogue of the head GEMV (one matrix): the largest logit (topk.cu argmaxRow's
 * rule: NaN and −∞ never count, ties to the lower id) over the blocks' columns, reduced with a 64-bit atomicMax
 * in `scratch` (key << 32 | ~id); the last block to finish (a count in scratch) writes topKSample's k = 1 words
 * [count, id, value bits, chosen id, id to embed] to `out`, the id to embed to `idOut`, and zeroes scratch.
 */
struct ArgmaxEpilogue {
  unsigned long long* scratch;  // [2] zeroed words: the packed best, then the block count
  uint32_t* out;                // [5]
  int32_t* idOut;               // or null
};
cudaError_t launchDecodeGemv(const GemvBatch& batch, const float* x, WeightType wt, int K, const RowPrologue& pro, int multiprocessors,
                             cudaStream_t s, const ConvEpilogues* epi = nullptr, const ArgmaxEpilogue* argmax = nullptr);

/** Mamba-1's decode scan step with dt_proj folded in (one token, batch 1). */
struct ScanDtArgs {
  const float* x;      // [I] conv output u
  const float* dtLow;  // [R] x_proj's dt part
  const void* wDt;     // dt_proj.weight [I, R] (any WeightType)
  const float *dtBias, *A, *Bm, *Cm, *D, *z;  // [I], [I, N], [N], [N], [I], [I]
  float* state;        // h [I, N], in place
  float* y;            // [I]
  float* dtOut;        // [I]: dt = dtLow · W_dtᵀ (what the unfused GEMV would have written)
  int I, N, R;
  float* convState;     // null, or a conv state [I, convK − 1] whose shift (by convX) a folded conv left to this kernel
  const float* convX;
  int convK;
  float* snap;          // null, or [I, N]: h before this step is written here (a run-ahead step's undo point, in the pass that reads it)
  const float* stateIn;  // null (in place), or [I, N]: h before this step, read here; `state` gets the new h (ping-pong step graphs)
  const float* convIn;   // null (in place), or the conv state before the shift, read here; `convState` gets the shifted one
};
cudaError_t launchScanDtStep(const ScanDtArgs& a, WeightType wt, cudaStream_t s);
}  // namespace me

// topk.cu: top-k then the sampler's rule on the device (Backend.deviceSampling), one launch.
namespace me {
constexpr int kSampleMaxK = 1024;
/**
 * out [3 + 2k] u32: top-k's count, ids[k], value bits[k]; then the chosen id (0xffffffff when no entry is
 * finite) and the id the next embedding reads (the chosen one, or 0 when there is none).
 */
cudaError_t launchTopKSample(uint32_t* out, const float* x, int V, int k, bool greedy, float temperature, float topP, float u, cudaStream_t s);
}  // namespace me

// decode.cu: Mamba-2's SSD step for one token of one sequence, launched with PDL (scan.cu's general
// kernel stages tiles for long T; a decode step needs none of that).
namespace me {
struct SsdStepArgs {
  const float* x;       // [H·P] conv output
  const float* dt;      // [H] before bias and softplus
  const float *dtBias, *A, *Bm, *Cm, *D;  // [H], [H], [G·N], [G·N], [H]
  float* state;         // h [H, P, N], in place
  float* y;             // [H·P]
  int H, P, G, N;
  float dtMin, dtMax;
  float* snap;          // null, or [H, P, N]: h before this step is written here (ssdStep<false> only; a run-ahead step's undo point)
  const float* stateIn;  // null (in place), or [H, P, N]: h before this step, read here; `state` gets the new h (ssdStep<false> only; ping-pong)
};
cudaError_t launchSsdStep(const SsdStepArgs& a, cudaStream_t s);
}  // namespace me

namespace me {
/** A T = 1 conv state's shift, state [C, K − 1] ← its last K − 2 entries ++ x (what conv1dStep does after its output). */
cudaError_t launchConvShift(float* state, const float* x, int C, int K, cudaStream_t s, const float* src = nullptr);
}  // namespace me

namespace me {
/**
 * Mamba-2's three T = 1 convs (x, B, C: conv1d.cu conv1dStep's arithmetic) folded into the SSD step: each
 * channel's lanes compute its own x conv (and shift its state); every block computes the B and C convs of
 * all groups into shared memory from the old states, and the last block to finish reading (an atomic count
 * in `counter`, reset by that block) shifts the B and C states. The conv outputs are written too.
 */
struct SsdConv {
  const float *xin, *Bin, *Cin;  // [H·P], [G·N], [G·N]: the convs' inputs (in_proj parts)
  const float *wx, *wB, *wC;     // [·, K]
  const float *bx, *bB, *bC;     // [·] or null
  float *sx, *sB, *sC;           // [·, K − 1], in place
  float *xOut, *BOut, *COut;     // the conv outputs (after silu when `silu`)
  int K;
  bool silu;
  unsigned* counter;             // one zeroed word of the Device's
};
constexpr int kSsdConvMaxGN = 2048;  // B and C of all groups in 16 KB of shared memory
cudaError_t launchSsdConvStep(const SsdStepArgs& a, const SsdConv& c, cudaStream_t s);
}  // namespace me

// The run-ahead step graph (src/backends/cuda/index.ts recordSampled): a decode step, its draw and the undo
// point of its state recorded as one CUDA graph, so a token is one graph launch and one read-back.
namespace me {
/**
 * topKSample with temperature, top-p and u read from params [3] in device memory (written before each
 * launch of the graph that holds it), launched with PDL (it waits for the head GEMV before reading); the id
 * the next step embeds is also written to idOut (the graph's id word).
 */
cudaError_t launchTopKSampleFrom(uint32_t* out, const float* x, int V, int k, bool greedy, const float* params, int32_t* idOut, cudaStream_t s);
/** dst ← src, `bytes` a multiple of 16 (a state member's undo point where the kernel writing it cannot save it itself). */
cudaError_t launchStateCopy(void* dst, const void* src, size_t bytes, cudaStream_t s);
}  // namespace me
