/**
 * The Backend interface: buffer management plus a small table of named ops
 * (the shape of ggml-backend.h). Model graphs in src/models call only this;
 * they know nothing of threads, buffers or shaders.
 *
 * Conventions
 * - Tensors are row-major. Activations are f32 and shaped [B, T, C] (batch, time, channels);
 *   row-wise ops (norms, matmul, elementwise) treat every leading dimension as rows.
 * - Ops return a new tensor the caller owns (free it with `free`) unless the doc says "in place".
 * - Ops are enqueued synchronously; only `read` waits. A GPU backend records ops into one
 *   command stream and submits on `read`; a CPU backend may simply run them.
 * - Sequence ops (conv, scans) have a prefill form over T tokens and a step form for T = 1;
 *   both read and write the carried state in place, so prefill(a ++ b) ≡ prefill(a); prefill(b).
 */
import type { BackendInfo, BackendName } from '../api/types.js';
import type { SamplerParams } from '../api/sampler.js';

export type WeightDType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';

/** Opaque handle to memory owned by one backend. */
export interface Tensor {
  readonly shape: readonly number[];
  readonly dtype: WeightDType;
}

/** Every op a backend may implement. Graphs list the ones they need (`requiredOps`). */
export const OP_NAMES = [
  'embedding',
  'rmsNorm',
  'gatedRmsNorm',
  'matmul',
  'add',
  'conv1dCausal',
  'conv1dCausalStep',
  'selectiveScan',
  'selectiveScanStep',
  'ssdChunkScan',
  'ssdStep',
  'recurrentScan',
  'recurrentScanStep',
  'ltiScan',
  'ltiScanStep',
  'glu',
  'mamba3Scan',
  'mamba3Step',
  // attention family (issue 8)
  'rope',
  'attention',
  'attentionStep',
  'swiglu',
  'relu2',
  'mixtureOfExperts',
] as const;
export type OpName = (typeof OP_NAMES)[number];

/** Mamba-1 selective scan inputs (mamba_ssm `selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True)`). */
export interface SelectiveScanArgs {
  /** u: [B, T, I] conv output (after silu). */
  x: Tensor;
  /** delta before bias and softplus: [B, T, I] (dt_proj(dt) without its bias). */
  dt: Tensor;
  /** dt_proj bias: [I]; Δ = softplus(dt + dtBias). */
  dtBias: Tensor;
  /** A = −exp(A_log): [I, N]. */
  A: Tensor;
  /** B: [B, T, N]. */
  B: Tensor;
  /** C: [B, T, N]. */
  C: Tensor;
  /** D skip: [I]. */
  D: Tensor;
  /** Gate z: [B, T, I]; y ← y · silu(z). */
  z: Tensor;
  /** h: [B, I, N], read and written in place. */
  state: Tensor;
}

/** Mamba-2 SSD scan inputs (mamba_ssm `mamba_chunk_scan_combined` with dt_bias, dt_softplus, dt_limit). */
export interface SsdScanArgs {
  /** x: [B, T, H·P] (heads × head_dim). */
  x: Tensor;
  /** dt before bias and softplus: [B, T, H]. */
  dt: Tensor;
  /** [H]; Δ = clamp(softplus(dt + dtBias), dtMin, dtMax). */
  dtBias: Tensor;
  dtMin: number;
  dtMax: number;
  /** A = −exp(A_log): [H], one scalar per head. */
  A: Tensor;
  /** B: [B, T, G·N]; head h reads group ⌊h / (H/G)⌋. */
  B: Tensor;
  /** C: [B, T, G·N]. */
  C: Tensor;
  /** D skip: [H]. */
  D: Tensor;
  numHeads: number;
  headDim: number;
  nGroups: number;
  /** State size N. */
  stateSize: number;
  /** SSD block length for the chunked (matrix) form; ignored by the step form. */
  chunkSize: number;
  /** h: [B, H, P, N], read and written in place. */
  state: Tensor;
}

export interface Conv1dArgs {
  /** x: [B, T, C]. */
  x: Tensor;
  /** Depthwise kernel: [C, K] (HF conv1d.weight [C, 1, K] squeezed). */
  weight: Tensor;
  /** [C] or null when use_conv_bias is false. */
  bias: Tensor | null;
  /** The last K−1 inputs per channel: [B, C, K−1], oldest first; read and written in place. */
  state: Tensor;
  /** Apply silu to the output (both Mamba generations do). */
  silu: boolean;
}

/** The cells of torch.nn.RNN (tanh / relu), nn.LSTM and nn.GRU. */
export type RecurrentCell = 'rnn_tanh' | 'rnn_relu' | 'lstm' | 'gru';

/** Gate blocks per cell in weight_ih / weight_hh rows (torch order: LSTM i,f,g,o; GRU r,z,n). */
export function gatesOf(cell: RecurrentCell): number {
  return cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
}

/**
 * One layer of torch.nn.RNN / LSTM / GRU over T tokens (lineage models, src/models/rnn.ts).
 * The input projection of every token is done beforehand by `matmul` (xg = x·W_ihᵀ + b_ih);
 * the op runs the sequential part: for t = 0..T−1, g = xg_t + W_hh·h + b_hh, then the cell:
 *   rnn:  h = act(g)
 *   lstm: i,f,g,o = σ,σ,tanh,σ of the 4 blocks; c = f⊙c + i⊙g; h̃ = o⊙tanh(c); h = W_hr·h̃ (or h̃)
 *   gru:  r,z = σ(blocks 0,1); n = tanh(xg_n + r⊙(W_hn·h + b_hn)); h = (1−z)⊙n + z⊙h
 * → y [B, T, R], the h of every step.
 */
export interface RecurrentScanArgs {
  cell: RecurrentCell;
  /** x·W_ihᵀ + b_ih for every token: [B, T, G·H] (G = gatesOf(cell)). */
  xg: Tensor;
  /** W_hh: [G·H, R] in any weight dtype the backend's matmul takes (R = the LSTM's proj_size, else H). */
  wHH: Tensor;
  /** b_hh: [G·H], or null for bias=False. */
  bHH: Tensor | null;
  /** LSTM projection W_hr: [R, H] (any matmul dtype); null without proj_size. */
  wHR: Tensor | null;
  /** h: [B, R], read and written in place. */
  h: Tensor;
  /** LSTM cell state c: [B, H], read and written in place; null for rnn and gru. */
  c: Tensor | null;
}

/**
 * S4D's linear time-invariant diagonal SSM (state-spaces/s4 `models/s4/s4d.py`), in recurrent form,
 * per channel h and complex mode m (zero-order hold: dA = exp(Δ·A), Cbar = 2·C·(exp(Δ·A) − 1)/A):
 *   s_m ← dA_m · s_m + x_t;   y_t = Re(Σ_m Cbar_m · s_m) + D·x_t;   y_t ← gelu(y_t) if `gelu`
 * which equals the causal convolution y = K ∗ x + D·x with K[k] = Re(Σ_m Cbar_m · dA_m^k).
 * Complex arrays are planar: [H, 2, M] = the M real parts, then the M imaginary parts.
 */
export interface LtiScanArgs {
  /** u: [B, T, H]. */
  x: Tensor;
  /** dA = exp(Δ·A): [H, 2, M] (|dA| < 1). */
  dA: Tensor;
  /** Cbar = 2·C·(dA − 1)/A: [H, 2, M]. */
  C: Tensor;
  /** D skip: [H]. */
  D: Tensor;
  /** s: [B, H, 2, M], read and written in place. */
  state: Tensor;
  /** Apply the exact (erf) GELU to the output, as S4D's activation does. */
  gelu: boolean;
}

/**
 * Mamba-3's SSM (state-spaces/mamba `mamba_ssm/modules/mamba3.py`; Lahoti et al. 2026), SISO and
 * MIMO, from the in_proj parts to the gated per-head output. For every token t and head h
 * (group g = ⌊h·G/H⌋, rank r < R; SISO is R = 1 with the mimo vectors all ones):
 *   Δ = softplus(dd_dt + dt_bias);  A = min(−softplus(dd_A), −A_floor);  α = exp(A·Δ);  λ = σ(trap)
 *   θ ← (θ + π·tanh(angles)·Δ) mod 2π                       (S cumulative rotary angles per head)
 *   q_r = rot_θ(C_{r,g} + C_bias[h,r]);  k_r = rot_θ(B_{r,g} + B_bias[h,r]);  v_r = x ⊙ mimo_x[h,r]
 *   h ← α·h + (1−λ)·Δ·α · Σ_r k̃_r ⊗ ṽ_r + λ·Δ · Σ_r k_r ⊗ v_r      (trapezoidal; k̃, ṽ: previous token's)
 *   y_r = h·q_r + D·v_r;  y_r ← rmsnorm_head(y_r)·norm_weight if the output-norm variant
 *   y_r ← y_r · silu(z ⊙ mimo_z[h,r]);   y = Σ_r mimo_o[h,r] ⊙ y_r
 * rot_θ rotates the first S pairs of the N state dims: pairs (2i, 2i+1) for SISO ('adjacent'),
 * (i, i + N/2) for MIMO ('halves'), as the module's kernels do (rotate_pairwise = not is_mimo).
 * The prefill form may use the chunked (quadratic-within-chunk) form of the same recurrence.
 */
export interface Mamba3ScanArgs {
  /** x: [B, T, H·P]. */
  x: Tensor;
  /** z: [B, T, H·P], the output gate. */
  z: Tensor;
  /** B after its RMSNorm, before bias: [B, T, R·G·N] ("(r g n)" order, as mamba3.py splits it). */
  B: Tensor;
  /** C after its RMSNorm, before bias: [B, T, R·G·N]. */
  C: Tensor;
  /** dd_dt: [B, T, H]. */
  ddDt: Tensor;
  /** dd_A: [B, T, H]. */
  ddA: Tensor;
  /** trap before the sigmoid: [B, T, H]. */
  trap: Tensor;
  /** Angle projections: [B, T, S] (shared by the heads; each head scales them by its own Δ). */
  angles: Tensor;
  /** [H]. */
  dtBias: Tensor;
  /** A is clamped to at most −aFloor. */
  aFloor: number;
  /** [H, R, N]. */
  BBias: Tensor;
  /** [H, R, N]. */
  CBias: Tensor;
  /** [H]. */
  D: Tensor;
  /** MIMO up/down projections [H, R, P] each; null for SISO (R = 1, all ones). */
  mimo: { x: Tensor; z: Tensor; o: Tensor } | null;
  /** Output-norm variant (RMSNormGated, norm before gate, groups of P): weight [H·P]; null for plain silu(z) gating. */
  normWeight: Tensor | null;
  normEps: number;
  numHeads: number;
  headDim: number;
  nGroups: number;
  stateSize: number;
  rank: number;
  pairing: 'adjacent' | 'halves';
  /** Block length of the chunked form; ignored by the step form and by sequential kernels. */
  chunkSize: number;
  /** θ: [B, H, S], read and written in place. */
  angleState: Tensor;
  /** h: [B, H, P, N], read and written in place. */
  ssmState: Tensor;
  /** The previous token's rotated, biased B (k̃): [B, R, H, N], read and written in place. */
  kState: Tensor;
  /** The previous token's x (ṽ before mimo_x): [B, H, P], read and written in place. */
  vState: Tensor;
}

/**
 * The growing key/value cache of one attention layer for `batch` sequences, held in backend
 * memory as K and V blocks of [B, Hkv, capacity, Dh]. `attention` appends the new tokens' k, v
 * and grows the capacity by doubling (clamped to `maxTokens`), so a context of T tokens costs
 * O(T) copies in all, not O(T²).
 */
export interface KvCache {
  readonly batch: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Tokens held, the same for every sequence of the batch. */
  readonly length: number;
  /** Tokens there is room for before the next growth. */
  readonly capacity: number;
  /** The most tokens this cache may ever hold (a memory cap); Infinity when unbounded. */
  readonly maxTokens: number;
}

/**
 * Rotary position embedding as transformers' Llama applies it (rotate_half convention): with R =
 * invFreq.length pairs, for every head and token at absolute position p, over the first 2R dims
 *   θ_i = p · invFreq[i] (f32, as HF's rotary tables);  x'_i = x_i·cos θ_i − x_{i+R}·sin θ_i,
 *   x'_{i+R} = x_{i+R}·cos θ_i + x_i·sin θ_i;  dims ≥ 2R pass through (partial rotary).
 */
export interface RopeArgs {
  /** [B, T, H·Dh]. */
  x: Tensor;
  numHeads: number;
  headDim: number;
  /** invFreq[i] = 1 / theta^(2i / d) in f32 (d = rotary dim before rounding), 2·length ≤ headDim. */
  invFreq: Float32Array;
  /** Absolute position of token 0 (the cache length before this call). */
  position: number;
}

/**
 * Causal softmax attention with grouped-query heads over a KV cache (transformers'
 * eager_attention_forward): appends k, v at cache.length, then for query token t (absolute
 * position P + t, P = the length before the call) and head h (kv head g = ⌊h / (Hq/Hkv)⌋):
 *   y_t,h = Σ_{s ≤ P+t} softmax_s(scale · q_t,h · k_s,g) · v_s,g
 * → y [B, T, Hq·Dh]. The cache length grows by T.
 */
export interface AttentionArgs {
  /** [B, T, Hq·Dh], positions already applied. */
  q: Tensor;
  /** [B, T, Hkv·Dh]. */
  k: Tensor;
  /** [B, T, Hkv·Dh]. */
  v: Tensor;
  cache: KvCache;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Usually headDim^−½. */
  scale: number;
}

/**
 * A sparse mixture of SwiGLU experts (transformers' Jamba/Mixtral MoE block): per token row x,
 *   p = softmax(router · x);  top-k experts e by p (k = topK);  w_e = p_e (or p_e / Σ_topk p when `normalize`);
 *   y = Σ_e w_e · down_e(silu(gate_e · x) ⊙ (up_e · x))
 */
export interface MoeArgs {
  /** [..., D]. */
  x: Tensor;
  /** [E, D]. */
  router: Tensor;
  /** Per expert: gate [I, D], up [I, D], down [D, I]. */
  gate: Tensor[];
  up: Tensor[];
  down: Tensor[];
  topK: number;
  normalize: boolean;
}

/**
 * Inputs of the optional fused Mamba-1 decode op (`Backend.mambaMixerStep`): one token of
 * `residual + MambaMixer(x)` (transformers MambaMixer.slow_forward with T = 1, then the block's
 * residual add), with the layer's weights exactly as the graph holds them (src/models/mamba.ts).
 */
export interface MambaMixerStepArgs {
  /** The normed block input [B, 1, D]. */
  x: Tensor;
  /** The block input [B, 1, D], added to the output (the residual stream). */
  residual: Tensor;
  inProjX: Tensor; inProjZ: Tensor; inProjXBias: Tensor | null; inProjZBias: Tensor | null;
  convWeight: Tensor; convBias: Tensor | null;
  xProjDt: Tensor; xProjB: Tensor; xProjC: Tensor;
  dtProjWeight: Tensor; dtProjBias: Tensor;
  A: Tensor; D: Tensor;
  outProj: Tensor; outProjBias: Tensor | null;
  /** [B, I, K−1] and [B, I, N], updated in place as by conv1dCausalStep and selectiveScanStep. */
  convState: Tensor; ssmState: Tensor;
}

/**
 * Inputs of the optional fused Mamba-2 decode op (`Backend.mamba2MixerStep`): one token of
 * `residual + Mamba2Mixer(x)` (transformers Mamba2Mixer.torch_forward with T = 1 and the Δ clamp,
 * then the block's residual add), with the layer's weights as src/models/mamba2.ts holds them.
 */
export interface Mamba2MixerStepArgs {
  /** The normed block input [B, 1, D]. */
  x: Tensor;
  /** The block input [B, 1, D], added to the output. */
  residual: Tensor;
  inProjZ: Tensor; inProjX: Tensor; inProjB: Tensor; inProjC: Tensor; inProjDt: Tensor;
  inProjBias: { z: Tensor; x: Tensor; B: Tensor; C: Tensor; dt: Tensor } | null;
  convX: Tensor; convB: Tensor; convC: Tensor;
  convBias: { x: Tensor; B: Tensor; C: Tensor } | null;
  dtBias: Tensor; A: Tensor; D: Tensor;
  dtMin: number; dtMax: number;
  /** Gated RMSNorm weight [I], eps and group size (as gatedRmsNorm). */
  norm: Tensor; normEps: number; normGroupSize: number;
  outProj: Tensor; outProjBias: Tensor | null;
  numHeads: number; headDim: number; nGroups: number; stateSize: number;
  /** Updated in place as by conv1dCausalStep (×3) and ssdStep. */
  convXState: Tensor; convBState: Tensor; convCState: Tensor; ssmState: Tensor;
}

/**
 * A recorded run of ops (Backend.recordStep) that replays as one unit: a CUDA graph on the cuda backend,
 * a list of prepared kernel calls on the wasm backend.
 */
export interface RecordedStep {
  /**
   * Runs the recorded ops again for new `ids` (as many as were recorded) and returns the output tensor.
   * It is the same tensor every run, overwritten, and owned by the recording: do not free it.
   * `ids` may be host ids or, on a backend with deviceSampling, the array `deviceSampling.ids(token)`
   * returned: then the id is read on the device (as `embedding` does), in order with the ops before.
   */
  run(ids: Int32Array): Tensor;
  /** Frees the recording and every tensor it holds, its output included. Calling it again does nothing. */
  release(): void;
  /** Ops (graph nodes) recorded, for tests and benchmarks. */
  readonly ops: number;
  /**
   * How many consecutive runs return distinct output tensors (a ring; absent: 1, every run the same
   * tensor): a run's output is overwritten only by the run `outputs` runs later.
   */
  readonly outputs?: number;
}

export interface Backend {
  readonly name: BackendName;
  readonly info: BackendInfo;
  /** Whether this backend implements `op`; loadModel refuses a backend that lacks one the model needs. */
  supportsOp(op: OpName): boolean;
  /** Whether this backend can store weights as `dtype` (f32 it always can). */
  supportsDType(dtype: WeightDType): boolean;

  // ---- buffers -------------------------------------------------------------
  /** The most bytes this backend can hold at all (a 32-bit WebAssembly memory: 4 GiB), if bounded. */
  readonly capacityBytes?: number;
  /**
   * Optional: how many of the graph's prefill chunks to run per forward (default 1). A GPU wants
   * wider matrix multiplies and more chunks in flight for its scans; memory stays bounded by the
   * larger chunk, and chunk boundaries stay multiples of the graph's.
   */
  readonly prefillChunkMultiple?: number;
  /**
   * Optional, for backends that queue work asynchronously (GPUs): called by the runner after each
   * prefill chunk but the last; submits what is recorded and resolves once the chunk BEFORE this
   * one has finished on the device, so at most about one chunk is queued. Without it a long prompt
   * is recorded in milliseconds and queued whole: the queue (command buffers, parameters, cached
   * bind groups) grows with the prompt, an abort cannot stop work already queued, and progress
   * reports count recorded chunks, not finished ones (found by the soak, RELIABILITY.md).
   */
  settle?(): Promise<void>;
  /** Bytes a tensor of this shape takes when stored as `dtype` (for maxMemoryBytes checks). */
  bytesFor(shape: readonly number[], dtype: WeightDType): number;
  /** Upload weights, converting f32 values to the storage dtype. */
  upload(data: Float32Array, shape: readonly number[], dtype?: WeightDType): Tensor;
  /**
   * Upload weights already encoded in this backend's storage layout for `dtype` (e.g. GGUF's
   * q8_0 blocks on wasm), byte for byte, with no conversion. Optional: a backend offers it
   * only for layouts it stores natively, and returns null when it would store this
   * shape differently (then the caller falls back to `upload`).
   */
  uploadEncoded?(bytes: Uint8Array, shape: readonly number[], dtype: WeightDType): Tensor | null;
  /**
   * Optional: `upload` of values the caller produces piece by piece, so it never holds the whole
   * tensor: `piece(start, count)` returns values [start, start + count). The same result as
   * `upload` of the whole array.
   */
  uploadFrom?(shape: readonly number[], dtype: WeightDType, piece: (start: number, count: number) => Float32Array): Tensor;
  /**
   * Optional: f16 bit patterns → f32 values (exact), for the loader's F16 checkpoint tensors,
   * where the backend converts faster than JavaScript (the wasm backend: a SIMD kernel).
   */
  widenF16?(bits: Uint16Array, out?: Float32Array): Float32Array;
  /** A zero-filled f32 tensor (state, scratch). */
  zeros(shape: readonly number[]): Tensor;
  /**
   * Optional: zero-filled f32 tensors for `shapes` held in one block of memory (a session's state),
   * so that DeviceSampling.copy of the whole set is one device copy, not one per tensor. Each is
   * used and freed like any tensor; the block's memory goes when all are freed.
   */
  zerosBlock?(shapes: readonly (readonly number[])[]): Tensor[];
  /** Overwrite an f32 tensor's contents (restoring state). */
  write(t: Tensor, data: Float32Array): void;
  /** Read an f32 tensor back to the host. */
  read(t: Tensor): Promise<Float32Array>;
  /**
   * Optional: the k largest entries of row `row` of a 2-D f32 tensor, read back instead of the whole
   * row (a GPU returns k pairs, not a vocabulary of logits). Ties go to the lower index; NaN and −∞
   * are never returned, so fewer than k come back when fewer are finite. Any order.
   */
  readTopK?(t: Tensor, row: number, k: number): Promise<{ ids: Int32Array; values: Float32Array }>;
  /** Same tensor data under a new shape with the same element count (no copy; shares memory). */
  reshape(t: Tensor, shape: readonly number[]): Tensor;
  /** Rows [start, start+count) of the outer dimension, as a new tensor. */
  sliceRows(t: Tensor, start: number, count: number): Tensor;
  free(...ts: (Tensor | null | undefined)[]): void;
  dispose(): Promise<void>;

  // ---- ops -----------------------------------------------------------------
  /** table [V, D], ids → [ids.length, D]. Ids are validated by the caller. */
  embedding(table: Tensor, ids: Int32Array): Tensor;
  /** y = x / sqrt(mean(x²) + eps) · weight over the last dim. */
  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor;
  /** g = x · silu(gate); y = rmsnorm over groups of `groupSize` of g, · weight (Mamba-2 norm before out_proj). */
  gatedRmsNorm(x: Tensor, gate: Tensor, weight: Tensor, eps: number, groupSize: number): Tensor;
  /** y[..., M] = x[..., K] · Wᵀ + bias, with w [M, K] (torch Linear layout). */
  matmul(x: Tensor, w: Tensor, bias?: Tensor | null): Tensor;
  /** a + b, same shape. */
  add(a: Tensor, b: Tensor): Tensor;
  conv1dCausal(args: Conv1dArgs): Tensor;
  conv1dCausalStep(args: Conv1dArgs): Tensor;
  /** → y [B, T, I]. */
  selectiveScan(args: SelectiveScanArgs): Tensor;
  selectiveScanStep(args: SelectiveScanArgs): Tensor;
  /** → y [B, T, H·P]. */
  ssdChunkScan(args: SsdScanArgs): Tensor;
  ssdStep(args: SsdScanArgs): Tensor;
  /** → y [B, T, R] (R = proj size or H). */
  recurrentScan(args: RecurrentScanArgs): Tensor;
  recurrentScanStep(args: RecurrentScanArgs): Tensor;
  /** → y [B, T, H]. */
  ltiScan(args: LtiScanArgs): Tensor;
  ltiScanStep(args: LtiScanArgs): Tensor;
  /** y = a ⊙ σ(gate), same shape (torch nn.GLU on the halves; the gated SSM's output gate). */
  glu(a: Tensor, gate: Tensor): Tensor;
  /** Mamba-3 SSM over T tokens → y [B, T, H·P] (see Mamba3ScanArgs). */
  mamba3Scan(args: Mamba3ScanArgs): Tensor;
  /** The same for T = 1. */
  mamba3Step(args: Mamba3ScanArgs): Tensor;

  // ---- attention family ---------------------------------------------------------
  /** An empty cache (length 0) for `batch` sequences; `maxTokens` caps its growth (default unbounded). */
  createKvCache(batch: number, kvHeads: number, headDim: number, opts?: { maxTokens?: number; capacity?: number }): KvCache;
  /** K and V of the held tokens, each [B, Hkv, length, Dh]. */
  readKvCache(cache: KvCache): Promise<{ k: Float32Array; v: Float32Array }>;
  /** Replace the cache's contents with `length` tokens of K and V, each [B, Hkv, length, Dh] (restoring state). */
  writeKvCache(cache: KvCache, k: Float32Array, v: Float32Array, length: number): void;
  /** Forget every token from `length` on (rolling back an aborted call); keeps the memory. */
  truncateKvCache(cache: KvCache, length: number): void;
  freeKvCache(cache: KvCache): void;
  /** Bytes a cache of `capacity` tokens holds (K and V). */
  kvCacheBytes(batch: number, kvHeads: number, headDim: number, capacity: number): number;
  rope(args: RopeArgs): Tensor;
  /** → y [B, T, Hq·Dh]; the prefill form. */
  attention(args: AttentionArgs): Tensor;
  /** The same for T = 1. */
  attentionStep(args: AttentionArgs): Tensor;
  /** y = silu(gate) ⊙ up, same shape (the SwiGLU MLP of Llama, Bamba, Jamba). */
  swiglu(gate: Tensor, up: Tensor): Tensor;
  /** y = relu(x)² (NemotronH's MLP activation "relu2"). */
  relu2(x: Tensor): Tensor;
  mixtureOfExperts(args: MoeArgs): Tensor;

  // ---- optional fused decode ops ---------------------------------------------------
  /**
   * Optional: one Mamba-1 decode token of `residual + mixer(x)` fused into a few kernels (a GPU pays
   * host time per dispatch, so decode wants a handful per layer, not one per equation). Returns null
   * when it cannot take these arguments (e.g. a weight dtype its fused kernels do not read); the
   * graph then runs the unfused ops, which every backend has. Must equal the unfused ops up to f32
   * rounding, state updates included. Backends without it are unaffected.
   */
  mambaMixerStep?(args: MambaMixerStepArgs): Tensor | null;
  /** Optional: the same for a Mamba-2 decode token (see Mamba2MixerStepArgs); null to decline. */
  mamba2MixerStep?(args: Mamba2MixerStepArgs): Tensor | null;

  /**
   * Optional: sampling on the device, so a decode step can be recorded and submitted before the
   * previous step's token has been read back (the session's run-ahead decode). Backends without it
   * decode one read-back at a time, as before.
   */
  readonly deviceSampling?: DeviceSampling;

  // ---- optional views -------------------------------------------------------------
  /**
   * Optional: rows [start, start+count) of t's outer dimension as a view of t's memory, no copy
   * (torch's `chunk`/`split` along dim 0). The view lives as long as t: free t, never the view.
   * Graphs use it to run a fused projection as one matmul and split its output (decode, batch 1)
   * or its weight (prefill); without it they upload the parts separately.
   */
  rowView?(t: Tensor, start: number, count: number): Tensor;

  // ---- optional recorded steps -------------------------------------------------------
  /**
   * Optional: record the ops `body` enqueues, without running them, as one replayable unit, so a decode
   * step costs one launch instead of one host call and launch per op (the cuda backend: a CUDA graph;
   * the wasm backend: the kernel calls with their arguments resolved, replayed with no JavaScript
   * between kernels).
   * `body` must only enqueue ops: no read, upload, write or zeros; it may depend on the host only
   * through the `ids` it is given (embedding them once), and every tensor it uses but did not create
   * (weights, carried state) must stay allocated while the recording lives — ops that update state in
   * place update it on every run. Tensors `body` frees are reused within the recording. Returns null,
   * having run nothing, when the backend cannot record these ops; the caller then runs `body` itself.
   * Nothing runs until `RecordedStep.run`.
   */
  recordStep?(ids: Int32Array, body: (ids: Int32Array) => Tensor): RecordedStep | null;
}

/** A sampled token whose id is still on the device (see DeviceSampling). */
export interface DeviceToken {
  readonly deviceToken: true;
}

/**
 * Sampling on the device for decode run-ahead. The rule is src/api/sampler.ts's; the host checks
 * the device's choice on every token (`sampleFromCandidates` over the candidates read back), so a
 * device that rounds differently costs a re-run of one step, never a different token.
 */
export interface DeviceSampling {
  /** Whether `sample` takes these parameters (a top-k kernel has a largest k; topK 0 = the whole row is not on the device). */
  supports(params: SamplerParams): boolean;
  /**
   * Records, after the ops recorded so far, the choice of a token from row 0 of `logits` [1, V]
   * (the k = topK best candidates, 1 when greedy, then the sampler's rule with the uniform draw
   * `u`), then submits everything recorded so the device starts at once. Nothing is read back.
   */
  sample(logits: Tensor, params: SamplerParams, u: number): DeviceToken;
  /**
   * A one-element id array standing for the token: passed as the ids of the next forward, the
   * backend's `embedding` reads the id from the device (the host value in it is a placeholder).
   */
  ids(token: DeviceToken): Int32Array;
  /** The device's choice and the candidates it chose from; resolves once the device gets there. */
  read(token: DeviceToken): Promise<{ id: number; ids: Int32Array; values: Float32Array }>;
  /** Frees the token's device memory (after `read`, or unread when a run-ahead step is dropped). */
  release(token: DeviceToken): void;
  /** Records device-side copies src[i] → dst[i] (f32 tensors of equal sizes), in order with the ops. */
  copy(src: readonly Tensor[], dst: readonly Tensor[]): void;
  /**
   * Optional: one decode step of the sequence whose state is `state` and its draw recorded as one
   * replayable unit for sampler parameters of `params`' shape (greedy, or its topK): `body` computes the
   * step's logits [1, V] from ids (as RecordedStep's body does). Each run also saves the state as it was
   * before that run (its undo point), so a run-ahead step needs no copy of its own. Null where the
   * backend declines (nothing has run then); the caller falls back to `sample` after its own step.
   */
  recordSampled?(state: Tensor[], ids: Int32Array, body: (ids: Int32Array) => Tensor, params: SamplerParams): SampledStep | null;
}

/** A decode step recorded with its draw (DeviceSampling.recordSampled). */
export interface SampledStep {
  /**
   * Runs the step for `ids` — host ids (as many as recorded), or `deviceSampling.ids` of this unit's
   * latest token — and draws the next token with `params` (of the recorded shape) and the uniform `u`.
   * `logits` is the step's row, owned by the unit (freeing it does nothing): it stays valid through the
   * next run and is overwritten by the one after.
   */
  run(ids: Int32Array, params: SamplerParams, u: number): { token: DeviceToken; logits: Tensor };
  /** Puts the state back as it was before the latest run, whose token `token` must be (E_ARGUMENT otherwise). */
  undo(token: DeviceToken): void;
  /**
   * Optional, for units that keep the state in blocks of their own between runs (cuda's ping-pong step graph,
   * MAMBA_EDGE_CUDA_PINGPONG): puts the state back in the session's tensors (a device copy, in order with the
   * ops). The caller runs it before anything else reads or writes the state (the end of a generate); a later
   * run starts from the session's tensors. Units without it keep the state there after every run.
   */
  settle?(): void;
  /** Frees the unit and everything it holds. Calling it again does nothing. */
  release(): void;
  /** Graph nodes of one run (for tests and benchmarks). */
  readonly ops: number;
}

/**
 * A GPU backend's KV cache: K and V blocks [B, Hkv, capacity, Dh] of the backend's own buffer type,
 * null until the first append, grown by doubling (grownCapacity). Each backend subclasses it, so that
 * `instanceof` tells its caches from another backend's.
 */
export class DeviceKvCache<Buffer> implements KvCache {
  length = 0;
  capacity = 0;
  k: Buffer | null = null;
  v: Buffer | null = null;
  freed = false;
  constructor(readonly batch: number, readonly kvHeads: number, readonly headDim: number, readonly maxTokens: number) {}
}

/** The next capacity for a cache that must hold `needed` tokens: doubling, at least 16, clamped to maxTokens. */
export function grownCapacity(current: number, needed: number, maxTokens: number): number {
  let cap = Math.max(16, current);
  while (cap < needed) cap *= 2;
  return Math.min(cap, maxTokens);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Values per q8_0 block (GGUF block_q8_0: 32 int8 and one f16 scale). */
export const Q8_BLOCK = 32;

/**
 * The dtype a q8_0-capable backend (wasm, webgpu) stores a weight of `shape` in when asked for
 * `dtype`: q8_0 blocks span 32 values of a row, so other row lengths are stored as f16 instead.
 */
export function storedDType(shape: readonly number[], dtype: WeightDType): WeightDType {
  return dtype === 'q8_0' && shape[shape.length - 1] % Q8_BLOCK !== 0 ? 'f16' : dtype;
}
