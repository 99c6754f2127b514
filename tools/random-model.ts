/**
 * Random-weight models in Hugging Face layout (config.json + model.safetensors), for
 * tests and benchmarks. Weights are scaled like a trained model's (unit-variance
 * activations, Δ in [0.001, 0.1], A_log = log(1..N)) so the scan's dynamics are exercised.
 */
import { writeSafetensors, type WriterTensor } from '../test/helpers/safetensors-writer.js';
// mulberry32: small, seedable, good enough for weights.
import { seededRandom as rng } from '../src/cli/measure.js';

export interface RandomModelOptions {
  modelType: 'mamba' | 'mamba2' | 'mamba3';
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  stateSize: number;
  expand?: number;
  convKernel?: number;
  useBias?: boolean;
  useConvBias?: boolean;
  tieWordEmbeddings?: boolean;
  timeStepRank?: number | 'auto';
  headDim?: number;
  nGroups?: number;
  chunkSize?: number;
  timeStepLimit?: [number, number];
  eosTokenId?: number;
  dtype?: 'F32' | 'F16' | 'BF16';
  seed?: number;
  /**
   * Draw only the first `repeatPeriod` values of each tensor and repeat them (a power of two, so a
   * multiple of every per-row pattern such as A_log's i % N). For benchmark-sized models (1.4B
   * parameters): drawing 1.4e9 normals in JS takes about a minute, and speed does not depend on the
   * values. Default: every value drawn.
   */
  repeatPeriod?: number;
  /**
   * Split the weights into shards of at most this many bytes (model-0000k-of-0000n.safetensors +
   * model.safetensors.index.json, as transformers writes them): one JS buffer holds at most 4 GiB
   * in Node 20, and a 1.4B f32 model is 5.5 GB. Default: one model.safetensors.
   */
  shardBytes?: number;
  /** Mamba-3 only (docs/mamba3.md): 0.5 or 1. */
  ropeFraction?: number;
  isMimo?: boolean;
  mimoRank?: number;
  isOutprojNorm?: boolean;
  aFloor?: number;
}


export function randomModelFiles(o: RandomModelOptions): Record<string, Uint8Array> {
  const rand = rng(o.seed ?? 1);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const dtype = o.dtype ?? 'F32';
  const tensors: Record<string, WriterTensor> = {};
  const period = o.repeatPeriod ?? Infinity;
  if (period !== Infinity && (!Number.isInteger(Math.log2(period)) || period < 256)) throw new Error(`repeatPeriod must be a power of two ≥ 256, got ${period}`);
  const put = (name: string, shape: number[], fill: (i: number) => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const drawn = Math.min(n, period);
    for (let i = 0; i < drawn; i++) data[i] = fill(i);
    // data[0, len) is periodic with period `drawn` and len is a multiple of it: doubling copies keep it so.
    for (let len = drawn; len < n; len *= 2) data.copyWithin(len, 0, Math.min(len, n - len));
    tensors[name] = { dtype, shape, data };
  };
  const normal = (std: number) => () => gauss() * std;
  const D = o.hiddenSize, V = o.vocabSize, N = o.stateSize, K = o.convKernel ?? 4;
  const I = Math.trunc((o.expand ?? 2) * D);
  const tied = o.tieWordEmbeddings ?? true;
  const dtInit = () => { const dt = Math.exp(Math.log(0.001) + rand() * (Math.log(0.1) - Math.log(0.001))); return dt + Math.log(-Math.expm1(-dt)); };
  // Small embeddings, so the residual stream is not dominated by the input token's own row
  // (with tied weights that would make every model echo its last input).
  // (mamba_ssm, whose names Mamba-3 checkpoints keep, calls the table backbone.embedding.)
  put(o.modelType === 'mamba3' ? 'backbone.embedding.weight' : 'backbone.embeddings.weight', [V, D], normal(0.2));
  const config: Record<string, unknown> = {
    model_type: o.modelType, vocab_size: V, hidden_size: D, num_hidden_layers: o.numLayers, state_size: N,
    expand: o.expand ?? 2, conv_kernel: K, use_bias: o.useBias ?? false, use_conv_bias: o.useConvBias ?? true,
    tie_word_embeddings: tied, layer_norm_epsilon: 1e-5, hidden_act: 'silu', residual_in_fp32: true,
    ...(o.eosTokenId !== undefined ? { eos_token_id: o.eosTokenId } : {}),
  };
  for (let l = 0; l < o.numLayers; l++) {
    const p = `backbone.layers.${l}.`;
    put(`${p}norm.weight`, [D], () => 1 + 0.1 * gauss());
    const m = `${p}mixer.`;
    if (o.modelType === 'mamba') {
      const R = o.timeStepRank === undefined || o.timeStepRank === 'auto' ? Math.ceil(D / 16) : o.timeStepRank;
      config.time_step_rank = o.timeStepRank ?? 'auto';
      put(`${m}in_proj.weight`, [2 * I, D], normal(1 / Math.sqrt(D)));
      put(`${m}conv1d.weight`, [I, 1, K], normal(1 / Math.sqrt(K)));
      if (o.useConvBias ?? true) put(`${m}conv1d.bias`, [I], normal(0.1));
      put(`${m}x_proj.weight`, [R + 2 * N, I], normal(1 / Math.sqrt(I)));
      put(`${m}dt_proj.weight`, [I, R], normal(0.5 / Math.sqrt(R)));
      put(`${m}dt_proj.bias`, [I], dtInit);
      put(`${m}A_log`, [I, N], (i) => Math.log(1 + (i % N)));
      put(`${m}D`, [I], () => 1);
      put(`${m}out_proj.weight`, [D, I], normal(1 / Math.sqrt(I)));
      if (o.useBias) { put(`${m}in_proj.bias`, [2 * I], normal(0.1)); put(`${m}out_proj.bias`, [D], normal(0.1)); }
    } else if (o.modelType === 'mamba3') {
      const P = o.headDim ?? 16, H = I / P, G = o.nGroups ?? 1, R = o.isMimo ? o.mimoRank ?? 4 : 1;
      const rope = o.ropeFraction ?? 0.5;
      let split = Math.trunc(N * rope);
      if (split % 2) split -= 1;
      const S = split / 2;
      Object.assign(config, {
        head_dim: P, n_groups: G, rope_fraction: rope, a_floor: o.aFloor ?? 1e-4, is_mimo: o.isMimo ?? false, mimo_rank: R,
        is_outproj_norm: o.isOutprojNorm ?? false, chunk_size: o.chunkSize ?? 64,
      });
      delete config.conv_kernel; delete config.use_conv_bias; delete config.use_bias;
      put(`${m}in_proj.weight`, [2 * I + 2 * N * G * R + 3 * H + S, D], normal(1 / Math.sqrt(D)));
      put(`${m}dt_bias`, [H], dtInit);
      put(`${m}B_bias`, [H, R, N], () => 1 + 0.1 * gauss());
      put(`${m}C_bias`, [H, R, N], () => 1 + 0.1 * gauss());
      put(`${m}B_norm.weight`, [N], () => 1 + 0.1 * gauss());
      put(`${m}C_norm.weight`, [N], () => 1 + 0.1 * gauss());
      if (o.isMimo) {
        put(`${m}mimo_x`, [H, R, P], () => (1 + 0.1 * gauss()) / R);
        put(`${m}mimo_z`, [H, R, P], () => 1 + 0.1 * gauss());
        put(`${m}mimo_o`, [H, R, P], () => (1 + 0.1 * gauss()) / R);
      }
      put(`${m}D`, [H], () => 1);
      if (o.isOutprojNorm) put(`${m}norm.weight`, [I], () => 1 + 0.1 * gauss());
      put(`${m}out_proj.weight`, [D, I], normal(1 / Math.sqrt(I)));
    } else {
      const P = o.headDim ?? 16, H = I / P, G = o.nGroups ?? 1;
      Object.assign(config, { num_heads: H, head_dim: P, n_groups: G, chunk_size: o.chunkSize ?? 64, time_step_limit: o.timeStepLimit ?? [0, Infinity] });
      const convDim = I + 2 * G * N, projDim = 2 * I + 2 * G * N + H;
      put(`${m}in_proj.weight`, [projDim, D], normal(1 / Math.sqrt(D)));
      put(`${m}conv1d.weight`, [convDim, 1, K], normal(1 / Math.sqrt(K)));
      if (o.useConvBias ?? true) put(`${m}conv1d.bias`, [convDim], normal(0.1));
      put(`${m}dt_bias`, [H], dtInit);
      put(`${m}A_log`, [H], () => Math.log(1 + 15 * rand()));
      put(`${m}D`, [H], () => 1);
      put(`${m}norm.weight`, [I], () => 1 + 0.1 * gauss());
      put(`${m}out_proj.weight`, [D, I], normal(1 / Math.sqrt(I)));
      if (o.useBias) { put(`${m}in_proj.bias`, [projDim], normal(0.1)); put(`${m}out_proj.bias`, [D], normal(0.1)); }
    }
  }
  put('backbone.norm_f.weight', [D], () => 1 + 0.1 * gauss());
  if (!tied) put('lm_head.weight', [V, D], normal(1 / Math.sqrt(D)));
  // Python's json writes Infinity as a bare literal; do the same so the loader's handling is exercised.
  const json = JSON.stringify(config, (_k, v) => (v === Infinity ? '__INF__' : v), 2).replace(/"__INF__"/g, 'Infinity');
  const files: Record<string, Uint8Array> = { 'config.json': new TextEncoder().encode(json) };
  const shards = o.shardBytes === undefined ? [tensors] : splitShards(tensors, o.shardBytes);
  if (shards.length === 1) return { ...files, 'model.safetensors': writeSafetensors(tensors) };
  const name = (k: number) => `model-${String(k + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
  const weightMap: Record<string, string> = {};
  let total = 0;
  shards.forEach((shard, k) => {
    files[name(k)] = writeSafetensors(shard);
    for (const [t, v] of Object.entries(shard)) { weightMap[t] = name(k); total += v.data.length * (dtype === 'F32' ? 4 : 2); }
  });
  files['model.safetensors.index.json'] = new TextEncoder().encode(JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 1));
  return files;
}

/** Tensors in order, a new shard whenever the next one would pass `maxBytes` (a tensor larger than that gets a shard of its own). */
function splitShards(tensors: Record<string, WriterTensor>, maxBytes: number): Record<string, WriterTensor>[] {
  const out: Record<string, WriterTensor>[] = [];
  let cur: Record<string, WriterTensor> = {}, bytes = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const b = t.data.length * (t.dtype === 'F32' ? 4 : 2);
    if (bytes > 0 && bytes + b > maxBytes) { out.push(cur); cur = {}; bytes = 0; }
    cur[name] = t;
    bytes += b;
  }
  if (Object.keys(cur).length > 0 || out.length === 0) out.push(cur);
  return out;
}
