/**
 * The pre-norm residual stack that Mamba-1 and Mamba-2 share (HF MambaModel / Mamba2Model):
 * embedding, layers of h = h + mixer(rmsnorm(h)), a final norm and the LM head — written once.
 * Each mixer file (mamba.ts, mamba2.ts) exports a `MixerSpec`; `residualStack` turns it into
 * the ModelGraph the runtime runs.
 */
import type { Architecture, ModelConfig } from '../api/types.js';
import type { Backend, OpName, Tensor, WeightDType } from '../backends/backend.js';
import type { ConfigReader } from '../formats/hf-config.js';
import { throwIfAborted } from '../errors.js';
import { prefixedGetter, uploadTensor, type ModelGraph, type TensorGetter, type TensorSpec } from './graph.js';

export type { TensorSpec, TensorGetter };

/** Fields every architecture's parsed config has beyond the public ModelConfig. */
export interface StackConfig extends ModelConfig {
  normEps: number;
  tieWordEmbeddings: boolean;
}

export interface MixerCall<C, W> {
  backend: Backend;
  cfg: C;
  /** This layer's mixer weights, as returned by `prepareLayer`. */
  weights: W;
  /** This layer's carried state tensors, in `layerStateShapes` order; updated in place. */
  state: Tensor[];
  /** True when T = 1: use the step form of each sequence op. */
  step: boolean;
}

export interface MixerSpec<C extends StackConfig = StackConfig, W = unknown> {
  readonly modelType: Architecture;
  /** Ops the graph calls; loadModel refuses a backend that lacks one. */
  readonly requiredOps: readonly OpName[];
  parseConfig(reader: ConfigReader): C;
  /** The embedding table's name: HF's `backbone.embeddings.weight` unless the checkpoint names it otherwise (mamba_ssm: `backbone.embedding.weight`). */
  readonly embeddingName?: string;
  /** Mixer tensors of one layer, named as in the HF checkpoint (prefix `backbone.layers.{i}.mixer.`). */
  mixerTensors(cfg: C): TensorSpec[];
  /** Upload one layer's mixer weights, in whatever form the graph wants (e.g. fused projections split). */
  prepareLayer(cfg: C, backend: Backend, get: TensorGetter, matrixDType: WeightDType): W;
  /** Shapes of one layer's carried state for `batch` sequences. */
  layerStateShapes(cfg: C, batch: number): number[][];
  /** Tokens per prefill chunk: bounds activation memory for any prompt length. */
  prefillChunk(cfg: C): number;
  /** The mixer: x [B, T, D] (already normed) → [B, T, D]. */
  mixer(call: MixerCall<C, W>, x: Tensor): Tensor;
  /**
   * Optional, decode only (T = 1): `residual + mixer(x)` through a backend's fused op
   * (e.g. Backend.mambaMixerStep), or null when the backend has none or declines — the stack then
   * runs `mixer` and the add. The same equations either way.
   */
  fusedStep?(call: MixerCall<C, W>, x: Tensor, residual: Tensor): Tensor | null;
}

export interface StackWeights<W> {
  embeddings: Tensor;
  layerNorms: Tensor[];
  mixers: W[];
  normF: Tensor;
  /** The embedding table itself when tied. */
  lmHead: Tensor;
}

const layerPrefix = (i: number) => `backbone.layers.${i}.`;
const embeddingName = (arch: MixerSpec<any, any>) => arch.embeddingName ?? 'backbone.embeddings.weight';

/** Every tensor the checkpoint must hold: the shared stack's plus each layer's mixer's. */
function checkpointTensors<C extends StackConfig>(arch: MixerSpec<C>, cfg: C): TensorSpec[] {
  const { vocabSize: V, hiddenSize: D } = cfg;
  const specs: TensorSpec[] = [{ name: embeddingName(arch), shape: [V, D], matrix: true }];
  for (let i = 0; i < cfg.numLayers; i++) {
    specs.push({ name: `${layerPrefix(i)}norm.weight`, shape: [D], matrix: false });
    for (const t of arch.mixerTensors(cfg)) specs.push({ ...t, name: `${layerPrefix(i)}mixer.${t.name}` });
  }
  specs.push({ name: 'backbone.norm_f.weight', shape: [D], matrix: false });
  if (!cfg.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [V, D], matrix: true });
  return specs;
}

function prepareStack<C extends StackConfig, W>(
  arch: MixerSpec<C, W>, cfg: C, backend: Backend, get: TensorGetter, matrixDType: WeightDType,
): StackWeights<W> {
  const { vocabSize: V, hiddenSize: D } = cfg;
  const embeddings = uploadTensor(get, backend, embeddingName(arch), [V, D], matrixDType);
  const layerNorms: Tensor[] = [];
  const mixers: W[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    layerNorms.push(backend.upload(get(`${layerPrefix(i)}norm.weight`), [D]));
    mixers.push(arch.prepareLayer(cfg, backend, prefixedGetter(get, `${layerPrefix(i)}mixer.`), matrixDType));
  }
  const normF = backend.upload(get('backbone.norm_f.weight'), [D]);
  const lmHead = cfg.tieWordEmbeddings ? embeddings : uploadTensor(get, backend, 'lm_head.weight', [V, D], matrixDType);
  return { embeddings, layerNorms, mixers, normF, lmHead };
}

function stateShapes<C extends StackConfig>(arch: MixerSpec<C>, cfg: C, batch: number): number[][] {
  const shapes: number[][] = [];
  for (let i = 0; i < cfg.numLayers; i++) shapes.push(...arch.layerStateShapes(cfg, batch));
  return shapes;
}

/**
 * The pre-norm residual stack shared by Mamba-1 and Mamba-2 (HF MambaBlock / Mamba2Block):
 *   h = embed(ids);  for each layer: h = h + mixer(rmsnorm(h));  return rmsnorm_f(h)
 * ids are [B·T] row-major; returns the final hidden states [B, T, D].
 * (residual_in_fp32 changes nothing here: every activation is already f32.)
 */
function runStack<C extends StackConfig, W>(
  arch: MixerSpec<C, W>, cfg: C, backend: Backend, weights: StackWeights<W>,
  state: Tensor[], ids: Int32Array, batch: number, seq: number, signal?: AbortSignal,
): Tensor {
  const perLayer = state.length / cfg.numLayers;
  const flat = backend.embedding(weights.embeddings, ids);
  let h = backend.reshape(flat, [batch, seq, cfg.hiddenSize]);
  for (let i = 0; i < cfg.numLayers; i++) {
    throwIfAborted(signal, 'forward');
    const normed = backend.rmsNorm(h, weights.layerNorms[i], cfg.normEps);
    const call = { backend, cfg, weights: weights.mixers[i], state: state.slice(i * perLayer, (i + 1) * perLayer), step: seq === 1 };
    const fused = call.step && arch.fusedStep ? arch.fusedStep(call, normed, h) : null;
    if (fused) {
      backend.free(normed, h);
      h = fused;
      continue;
    }
    const mixed = arch.mixer(call, normed);
    const next = backend.add(h, mixed);
    backend.free(normed, mixed, h);
    h = next;
  }
  const out = backend.rmsNorm(h, weights.normF, cfg.normEps);
  backend.free(h);
  return out;
}

/** A Mamba-style model: the shared residual stack around one architecture's mixer. */
export function residualStack<C extends StackConfig, W>(mixer: MixerSpec<C, W>): ModelGraph<C, StackWeights<W>> {
  return {
    modelType: mixer.modelType,
    requiredOps: mixer.requiredOps,
    parseConfig: (r) => mixer.parseConfig(r),
    tensors: (cfg) => checkpointTensors(mixer, cfg),
    // Some checkpoints store the tied head anyway; transformers ignores it too.
    ignorable: (cfg) => (cfg.tieWordEmbeddings ? ['lm_head.weight'] : []),
    prepare: (cfg, backend, get, dtype) => prepareStack(mixer, cfg, backend, get, dtype),
    stateShapes: (cfg, batch) => stateShapes(mixer, cfg, batch),
    prefillChunk: (cfg) => mixer.prefillChunk(cfg),
    forward: ({ backend, cfg, weights, state, batch, seq, signal }, ids) =>
      runStack(mixer, cfg, backend, weights, state, ids, batch, seq, signal),
    head: (w) => ({ weight: w.lmHead, bias: null }),
  };
}
