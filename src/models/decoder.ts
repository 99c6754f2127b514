/**
 * The pre-norm decoder stack that transformers and the Mamba–attention hybrids share, written once:
 *
 *   h = embed(ids)
 *   for each layer:  h = h + mixer(rmsnorm(h))            mixer: attention | Mamba-1 | Mamba-2 | MLP
 *                    h = h + ffn(rmsnorm(h))  (if any)     ffn:   SwiGLU MLP | mixture of experts
 *   return rmsnorm_f(h)
 *
 * LlamaDecoderLayer, BambaDecoderLayer, JambaAttention/MambaDecoderLayer (mixer + feed_forward) and
 * NemotronHBlock (one mixer per layer, an MLP being a mixer) are all this loop; each architecture
 * file (llama.ts, bamba.ts, nemotron-h.ts, jamba.ts) only parses its config into a `DecoderConfig`:
 * which kind each layer is and where its tensors live in the checkpoint.
 *
 * Carried state: each Mamba layer's conv + SSM tensors (fixed size, `stateShapes`), and one KV
 * cache per attention layer (`kvCaches`), which grows with the context.
 */
import { fail, throwIfAborted } from '../errors.js';
import type { Backend, KvCache, OpName, Tensor, WeightDType } from '../backends/backend.js';
import type { StackConfig } from './architecture.js';
import { uploadTensor, type KvCacheSpec, type LayerDescription, type ModelGraph, type TensorGetter, type TensorSpec } from './graph.js';
import { mamba, mambaFusedStep, type MambaConfig, type MambaLayer } from './mamba.js';
import { mamba2, type Mamba2Config, type Mamba2Layer } from './mamba2.js';
import {
  attentionTensors, mlpTensors, moeTensors, prepareAttention, prepareMlp, prepareMoe, runAttention, runMlp, runMoe,
  type AttentionSpec, type AttentionWeights, type MlpSpec, type MlpWeights, type MoeSpec, type MoeWeights,
} from './blocks.js';

export type MixerKind = 'attention' | 'mamba' | 'mamba2' | 'mlp';
export type FfnKind = 'mlp' | 'moe' | null;

export interface DecoderLayer {
  mixer: MixerKind;
  ffn: FfnKind;
}

/** Where the tensors live: `${layer(i)}${mixerPrefix[kind]}q_proj.weight` etc. */
export interface DecoderNames {
  embed: string;
  finalNorm: string;
  layer: (i: number) => string;
  mixerNorm: string;
  mixerPrefix: Record<MixerKind, string>;
  ffnNorm: string;
  ffnPrefix: string;
}

export interface DecoderConfig extends StackConfig {
  layers: DecoderLayer[];
  names: DecoderNames;
  /** The config.json field that sets the layer kinds (named in errors). */
  layerField: string;
  attention?: AttentionSpec;
  mamba1?: MambaConfig;
  mamba2?: Mamba2Config;
  /** The feed-forward MLP (and NemotronH's MLP mixer). */
  mlp?: MlpSpec;
  moe?: MoeSpec;
}

type MixerWeights =
  | { kind: 'attention'; w: AttentionWeights }
  | { kind: 'mamba'; w: MambaLayer }
  | { kind: 'mamba2'; w: Mamba2Layer }
  | { kind: 'mlp'; w: MlpWeights };

export interface DecoderWeights {
  embed: Tensor;
  layers: { mixerNorm: Tensor; mixer: MixerWeights; ffnNorm: Tensor | null; ffn: { kind: 'mlp'; w: MlpWeights } | { kind: 'moe'; w: MoeWeights } | null }[];
  finalNorm: Tensor;
  lmHead: Tensor;
}

const BASE_OPS: OpName[] = ['embedding', 'rmsNorm', 'matmul', 'add'];
const KIND_OPS: Record<MixerKind | 'moe', OpName[]> = {
  attention: ['rope', 'attention', 'attentionStep'],
  mamba: ['conv1dCausal', 'conv1dCausalStep', 'selectiveScan', 'selectiveScanStep'],
  mamba2: ['gatedRmsNorm', 'conv1dCausal', 'conv1dCausalStep', 'ssdChunkScan', 'ssdStep'],
  mlp: ['swiglu', 'relu2'],
  moe: ['mixtureOfExperts', 'swiglu'],
};

function mixerTensors(cfg: DecoderConfig, kind: MixerKind): TensorSpec[] {
  switch (kind) {
    case 'attention': return attentionTensors(cfg.attention!);
    case 'mamba': return mamba.mixerTensors(cfg.mamba1!);
    case 'mamba2': return mamba2.mixerTensors(cfg.mamba2!);
    case 'mlp': return mlpTensors(cfg.mlp!);
  }
}

function checkpointTensors(cfg: DecoderConfig): TensorSpec[] {
  const { vocabSize: V, hiddenSize: D, names: n } = cfg;
  const specs: TensorSpec[] = [{ name: n.embed, shape: [V, D], matrix: true }];
  cfg.layers.forEach((layer, i) => {
    const p = n.layer(i);
    specs.push({ name: `${p}${n.mixerNorm}.weight`, shape: [D], matrix: false });
    for (const t of mixerTensors(cfg, layer.mixer)) specs.push({ ...t, name: `${p}${n.mixerPrefix[layer.mixer]}${t.name}` });
    if (layer.ffn) {
      specs.push({ name: `${p}${n.ffnNorm}.weight`, shape: [D], matrix: false });
      const ffn = layer.ffn === 'mlp' ? mlpTensors(cfg.mlp!) : moeTensors(cfg.moe!);
      for (const t of ffn) specs.push({ ...t, name: `${p}${n.ffnPrefix}${t.name}` });
    }
  });
  specs.push({ name: n.finalNorm, shape: [D], matrix: false });
  if (!cfg.tieWordEmbeddings) specs.push({ name: 'lm_head.weight', shape: [V, D], matrix: true });
  return specs;
}

function prepare(cfg: DecoderConfig, b: Backend, get: TensorGetter, dtype: WeightDType): DecoderWeights {
  const { vocabSize: V, hiddenSize: D, names: n } = cfg;
  const embed = uploadTensor(get, b, n.embed, [V, D], dtype);
  const layers = cfg.layers.map((layer, i) => {
    const p = n.layer(i);
    const local = (prefix: string) => (name: string) => get(`${p}${prefix}${name}`);
    const mget = local(n.mixerPrefix[layer.mixer]);
    let mixer: MixerWeights;
    switch (layer.mixer) {
      case 'attention': mixer = { kind: 'attention', w: prepareAttention(cfg.attention!, b, mget, dtype) }; break;
      case 'mamba': mixer = { kind: 'mamba', w: mamba.prepareLayer(cfg.mamba1!, b, mget, dtype) }; break;
      case 'mamba2': mixer = { kind: 'mamba2', w: mamba2.prepareLayer(cfg.mamba2!, b, mget, dtype) }; break;
      case 'mlp': mixer = { kind: 'mlp', w: prepareMlp(cfg.mlp!, b, mget, dtype) }; break;
    }
    const fget = local(n.ffnPrefix);
    const ffn = layer.ffn === 'mlp' ? { kind: 'mlp' as const, w: prepareMlp(cfg.mlp!, b, fget, dtype) }
      : layer.ffn === 'moe' ? { kind: 'moe' as const, w: prepareMoe(cfg.moe!, b, fget, dtype) } : null;
    return {
      mixerNorm: b.upload(get(`${p}${n.mixerNorm}.weight`), [D]),
      mixer,
      ffnNorm: layer.ffn ? b.upload(get(`${p}${n.ffnNorm}.weight`), [D]) : null,
      ffn,
    };
  });
  const finalNorm = b.upload(get(n.finalNorm), [D]);
  const lmHead = cfg.tieWordEmbeddings ? embed : uploadTensor(get, b, 'lm_head.weight', [V, D], dtype);
  return { embed, layers, finalNorm, lmHead };
}

function layerStateShapes(cfg: DecoderConfig, kind: MixerKind, batch: number): number[][] {
  if (kind === 'mamba') return mamba.layerStateShapes(cfg.mamba1!, batch);
  if (kind === 'mamba2') return mamba2.layerStateShapes(cfg.mamba2!, batch);
  return [];
}

function forward(
  cfg: DecoderConfig, b: Backend, w: DecoderWeights, state: Tensor[], caches: KvCache[],
  ids: Int32Array, batch: number, seq: number, signal?: AbortSignal,
): Tensor {
  const step = seq === 1;
  const flat = b.embedding(w.embed, ids);
  let h = b.reshape(flat, [batch, seq, cfg.hiddenSize]);
  let s = 0, a = 0; // next state tensor, next KV cache
  cfg.layers.forEach((layer, i) => {
    throwIfAborted(signal, 'forward');
    const lw = w.layers[i];
    const normed = b.rmsNorm(h, lw.mixerNorm, cfg.normEps);
    let mixed: Tensor | null = null;
    const m = lw.mixer;
    switch (m.kind) {
      case 'attention': mixed = runAttention(b, cfg.attention!, m.w, caches[a++], normed, step); break;
      case 'mamba': {
        const n = mamba.layerStateShapes(cfg.mamba1!, batch).length; // conv, ssm
        // Decode: h + mixer(normed) in one fused backend op where the backend has one.
        const fused = step ? mambaFusedStep(b, m.w, state.slice(s, s + n), normed, h) : null;
        if (fused) { s += n; b.free(normed, h); h = fused; break; }
        mixed = mamba.mixer({ backend: b, cfg: cfg.mamba1!, weights: m.w, state: state.slice(s, s + n), step }, normed);
        s += n;
        break;
      }
      case 'mamba2': {
        const n = mamba2.layerStateShapes(cfg.mamba2!, batch).length; // conv x/B/C, ssm
        mixed = mamba2.mixer({ backend: b, cfg: cfg.mamba2!, weights: m.w, state: state.slice(s, s + n), step }, normed);
        s += n;
        break;
      }
      case 'mlp': mixed = runMlp(b, cfg.mlp!, m.w, normed); break;
    }
    if (mixed) {
      const next = b.add(h, mixed);
      b.free(normed, mixed, h);
      h = next;
    }
    if (lw.ffn) {
      const normed2 = b.rmsNorm(h, lw.ffnNorm!, cfg.normEps);
      const out = lw.ffn.kind === 'mlp' ? runMlp(b, cfg.mlp!, lw.ffn.w, normed2) : runMoe(b, cfg.moe!, lw.ffn.w, normed2);
      const next2 = b.add(h, out);
      b.free(normed2, out, h);
      h = next2;
    }
  });
  const out = b.rmsNorm(h, w.finalNorm, cfg.normEps);
  b.free(h);
  return out;
}

/** Which mixer kind a layer's checkpoint tensors say it is, or null when none is recognised. */
function kindInCheckpoint(cfg: DecoderConfig, names: ReadonlySet<string>, i: number): MixerKind | null {
  const p = cfg.names.layer(i);
  const pre = cfg.names.mixerPrefix;
  if (names.has(`${p}${pre.attention}q_proj.weight`)) return 'attention';
  if (names.has(`${p}${pre.mamba2}A_log`)) return cfg.mamba2 ? 'mamba2' : 'mamba';
  if (names.has(`${p}${pre.mamba}A_log`)) return 'mamba';
  if (names.has(`${p}${pre.mlp}up_proj.weight`)) return 'mlp';
  return null;
}

const KIND_NAMES: Record<MixerKind, string> = { attention: 'attention', mamba: 'Mamba-1', mamba2: 'Mamba-2', mlp: 'MLP' };

/** A layer pattern that contradicts the tensors is a config error naming the layer and the field, not a missing-tensor error. */
function checkCheckpoint(cfg: DecoderConfig, names: ReadonlySet<string>, file: string): void {
  cfg.layers.forEach((layer, i) => {
    const found = kindInCheckpoint(cfg, names, i);
    if (found !== null && found !== layer.mixer) {
      throw fail('E_CONFIG', `${file}: layer ${i} is ${KIND_NAMES[layer.mixer]} by config.json's "${cfg.layerField}", but model.safetensors holds ${KIND_NAMES[found]} tensors for it — the layer pattern does not match the checkpoint`, { file, field: cfg.layerField });
    }
    if (layer.ffn) {
      const p = `${cfg.names.layer(i)}${cfg.names.ffnPrefix}`;
      const moe = names.has(`${p}router.weight`), mlp = names.has(`${p}gate_proj.weight`);
      if ((layer.ffn === 'moe' && mlp && !moe) || (layer.ffn === 'mlp' && moe)) {
        throw fail('E_CONFIG', `${file}: layer ${i}'s feed-forward is ${layer.ffn === 'moe' ? 'a mixture of experts' : 'a dense MLP'} by config.json, but model.safetensors holds ${moe ? 'a router and experts' : 'a dense MLP'} there`, { file, field: cfg.layerField });
      }
    }
  });
  const extra = cfg.names.layer(cfg.layers.length);
  if ([...names].some((n) => n.startsWith(extra))) {
    throw fail('E_CONFIG', `${file}: config.json's "${cfg.layerField}" gives ${cfg.layers.length} layers, but model.safetensors holds tensors for layer ${cfg.layers.length} too`, { file, field: cfg.layerField });
  }
}

function describeLayers(cfg: DecoderConfig): LayerDescription[] {
  return cfg.layers.map((layer) => {
    const stateBytes = layerStateShapes(cfg, layer.mixer, 1).reduce((n, s) => n + 4 * s.reduce((x, y) => x * y, 1), 0);
    const at = cfg.attention;
    const bytesPerToken = layer.mixer === 'attention' && at ? 2 * 4 * at.numKvHeads * at.headDim : 0;
    return { kind: layer.ffn ? `${layer.mixer}+${layer.ffn}` : layer.mixer, stateBytes, bytesPerToken };
  });
}

/** The ModelGraph of one decoder architecture; `parseConfig` makes the DecoderConfig. */
export function decoderGraph(arch: {
  modelType: string;
  /** Layer kinds the architecture can have (sets requiredOps). */
  kinds: (MixerKind | 'moe')[];
  parseConfig: ModelGraph<DecoderConfig>['parseConfig'];
}): ModelGraph<DecoderConfig, DecoderWeights> {
  const ops = new Set<OpName>(BASE_OPS);
  for (const k of arch.kinds) for (const op of KIND_OPS[k]) ops.add(op);
  return {
    modelType: arch.modelType,
    requiredOps: [...ops],
    parseConfig: arch.parseConfig,
    tensors: checkpointTensors,
    ignorable: (cfg) => (cfg.tieWordEmbeddings ? ['lm_head.weight'] : []),
    prepare,
    stateShapes: (cfg, batch) => cfg.layers.flatMap((l) => layerStateShapes(cfg, l.mixer, batch)),
    prefillChunk: (cfg) => (cfg.mamba2 ? mamba2.prefillChunk(cfg.mamba2) : 256),
    forward: ({ backend, cfg, weights, state, caches, batch, seq, signal }, ids) =>
      forward(cfg, backend, weights, state, caches ?? [], ids, batch, seq, signal),
    head: (w) => ({ weight: w.lmHead, bias: null }),
    kvCaches: (cfg): KvCacheSpec[] => cfg.layers.filter((l) => l.mixer === 'attention').map(() => ({ kvHeads: cfg.attention!.numKvHeads, headDim: cfg.attention!.headDim })),
    describeLayers,
    checkCheckpoint,
  };
}
