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
  /** Bytes a tensor of this shape takes when stored as `dtype` (for maxMemoryBytes checks). */
  bytesFor(shape: readonly number[], dtype: WeightDType): number;
  /** Upload weights, converting f32 values to the storage dtype. */
  upload(data: Float32Array, shape: readonly number[], dtype?: WeightDType): Tensor;
  /** A zero-filled f32 tensor (state, scratch). */
  zeros(shape: readonly number[]): Tensor;
  /** Overwrite an f32 tensor's contents (restoring state). */
  write(t: Tensor, data: Float32Array): void;
  /** Read an f32 tensor back to the host. */
  read(t: Tensor): Promise<Float32Array>;
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
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
