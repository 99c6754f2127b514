/**
 * What a model is to the runtime: a graph descriptor, not a class hierarchy. One per
 * architecture (registry.ts); everything above it (loading, sessions, generation,
 * saved state) is written once against this interface.
 */
import type { ModelConfig } from '../api/types.js';
import type { Backend, KvCache, OpName, Tensor, WeightDType } from '../backends/backend.js';
import type { ConfigReader } from '../formats/hf-config.js';

export interface TensorSpec {
  /** Name in the checkpoint. */
  name: string;
  shape: number[];
  /** Large matrices are stored in the load dtype; vectors and small tensors stay f32. */
  matrix: boolean;
  /** How the config implies this shape, appended to a shape-mismatch error (e.g. in_proj's row breakdown). */
  why?: string;
}

/** Reads one checkpoint tensor, decoded to f32, already shape-checked against its TensorSpec. */
export type TensorGetter = ((name: string) => Float32Array) & {
  /**
   * −exp(t) of tensor `name` when the checkpoint stores that product itself: llama.cpp's GGUF
   * converter writes A = −exp(A_log) as `ssm_a`, so A is used as stored rather than recomputed
   * through a logarithm (which would not round-trip exactly in f32).
   */
  negExpOf?: (name: string) => Float32Array | undefined;
  /**
   * Optional: the same as `backend.upload(get(name), shape, dtype)`, without the whole tensor
   * ever in JavaScript memory (the loader reads it from the file piece by piece into the backend:
   * Backend.uploadFrom). For the largest tensors (a 130M model's embedding is 154 MB in f32).
   */
  uploadWhole?: (name: string, backend: Backend, shape: readonly number[], dtype: WeightDType) => Tensor | null;
};

/** Checkpoint tensor `name` uploaded whole: piece by piece where the loader can, else through `get`. */
export function uploadTensor(get: TensorGetter, b: Backend, name: string, shape: readonly number[], dtype: WeightDType): Tensor {
  return get.uploadWhole?.(name, b, shape, dtype) ?? b.upload(get(name), shape, dtype);
}

/** A = −exp(A_log), or the stored A where the checkpoint has it (see `TensorGetter.negExpOf`). */
export function negExp(get: TensorGetter, name: string): Float32Array {
  return get.negExpOf?.(name) ?? get(name).map((v) => -Math.exp(v));
}

/** The getter of a sub-module: names get `prefix` prepended, hooks included. */
export function prefixedGetter(get: TensorGetter, prefix: string): TensorGetter {
  const sub: TensorGetter = (n) => get(prefix + n);
  if (get.negExpOf) sub.negExpOf = (n) => get.negExpOf!(prefix + n);
  if (get.uploadWhole) sub.uploadWhole = (n, b, shape, dtype) => get.uploadWhole!(prefix + n, b, shape, dtype);
  return sub;
}

export interface GraphCall<C, W> {
  backend: Backend;
  cfg: C;
  weights: W;
  /** Carried state tensors in `stateShapes` order; read and written in place. */
  state: Tensor[];
  batch: number;
  seq: number;
  /** Stateless runs may stop between layers; stateful ones are never given a signal here. */
  signal?: AbortSignal;
  /** One growing KV cache per attention layer, in `kvCaches` order (graphs with attention only). */
  caches?: KvCache[];
}

/** The KV cache one attention layer needs. */
export interface KvCacheSpec {
  kvHeads: number;
  headDim: number;
}

/** What `model.info.layers` shows for one layer. */
export interface LayerDescription {
  /** e.g. 'mamba2', 'attention', 'mlp', 'attention+moe'. */
  kind: string;
  /** Fixed carried-state bytes of this layer for one sequence (conv + SSM). */
  stateBytes: number;
  /** KV-cache bytes this layer adds per token of context (attention layers). */
  bytesPerToken: number;
}

export interface ModelGraph<C extends ModelConfig = ModelConfig, W = unknown> {
  /** The config.json model_type this graph runs. */
  readonly modelType: string;
  /** Ops the graph calls; loadModel refuses a backend that lacks one. */
  readonly requiredOps: readonly OpName[];
  parseConfig(reader: ConfigReader): C;
  /** Every tensor the checkpoint must hold, with its shape implied by the config. */
  tensors(cfg: C): TensorSpec[];
  /** Tensors a checkpoint may hold that the graph ignores without a warning (e.g. a tied head). */
  ignorable?(cfg: C): string[];
  /** Upload the weights in whatever form the graph wants. */
  prepare(cfg: C, backend: Backend, get: TensorGetter, matrixDType: WeightDType): W;
  /** Shapes of the carried state for `batch` sequences — fixed, whatever the context length. */
  stateShapes(cfg: C, batch: number): number[][];
  /** Tokens per prefill chunk: bounds activation memory for any prompt length. */
  prefillChunk(cfg: C): number;
  /** ids [B·T] (row-major) → final hidden states [B, T, D], advancing the state. */
  forward(call: GraphCall<C, W>, ids: Int32Array): Tensor;
  /** The output projection: logits = hidden · weightᵀ (+ bias). */
  head(weights: W): { weight: Tensor; bias: Tensor | null };
  /** The KV caches of the attention layers, in layer order (none for pure SSM / RNN graphs). */
  kvCaches?(cfg: C): KvCacheSpec[];
  /** Per-layer kinds and state sizes (model.info.layers); graphs without it report one kind per layer. */
  describeLayers?(cfg: C): LayerDescription[];
  /** Checks the checkpoint's tensor names against the config before the per-tensor match (clearer errors). */
  checkCheckpoint?(cfg: C, names: ReadonlySet<string>, file: string): void;
}

/** The public part of a parsed config (what `model.config` shows). */
export function publicConfig(cfg: ModelConfig): ModelConfig {
  const keys: (keyof ModelConfig)[] = [
    'architecture', 'vocabSize', 'hiddenSize', 'numLayers', 'stateSize', 'convKernel', 'intermediateSize',
    'numHeads', 'headDim', 'nGroups', 'eosTokenId', 'raw',
  ];
  const out: Partial<ModelConfig> = {};
  for (const k of keys) if (cfg[k] !== undefined) (out as Record<string, unknown>)[k] = cfg[k];
  return out as ModelConfig;
}
