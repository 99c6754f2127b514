/**
 * Random-weight lineage models (docs/lineage.md layout: config.json + model.safetensors with
 * PyTorch state-dict names), for the tests and bench/lineage.ts. Weights follow PyTorch's own
 * initialisers (U(±1/√H) for recurrent layers, U(±1/√fan_in) for linears) and S4D's
 * (log Δ uniform in [log dt_min, log dt_max], A = −1/2 + iπn, C ~ N(0, 1/2) per part).
 */
import { writeSafetensors, type WriterTensor } from '../helpers/safetensors-writer.js';

export type LineageKind = 'rnn' | 'lstm' | 'gru' | 's4d';

export interface RandomLineageOptions {
  kind: LineageKind;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  /** rnn: 'tanh' | 'relu'. */
  nonlinearity?: 'tanh' | 'relu';
  embeddingSize?: number;
  projSize?: number;
  bias?: boolean;
  headBias?: boolean;
  tie?: boolean;
  /** s4d: N (even). */
  stateSize?: number;
  gated?: boolean;
  dtMin?: number;
  dtMax?: number;
  eosTokenId?: number;
  seed?: number;
  /** Extra config.json fields (to test bad configs). */
  extraConfig?: Record<string, unknown>;
}

export function randomLineageFiles(o: RandomLineageOptions): Record<string, Uint8Array> {
  let s = (o.seed ?? 1) >>> 0 || 1;
  const rand = () => { // xorshift32 → [0, 1)
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const tensors: Record<string, WriterTensor> = {};
  const put = (name: string, shape: number[], fill: (i: number) => number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors[name] = { dtype: 'F32', shape, data: Float32Array.from({ length: n }, (_, i) => fill(i)) };
  };
  const uniform = (bound: number) => () => (2 * rand() - 1) * bound;
  const V = o.vocabSize, H = o.hiddenSize, L = o.numLayers;
  const config: Record<string, unknown> = { model_type: o.kind, vocab_size: V, hidden_size: H, num_layers: L };
  let width = H;
  if (o.kind === 's4d') {
    const N = o.stateSize ?? 64, M = N / 2;
    Object.assign(config, { state_size: N, gated: o.gated ?? false });
    put('embedding.weight', [V, H], () => gauss());
    const lo = Math.log(o.dtMin ?? 0.001), hi = Math.log(o.dtMax ?? 0.1);
    for (let l = 0; l < L; l++) {
      const m = `layers.${l}.mixer.`;
      put(`layers.${l}.norm.weight`, [H], () => 1 + 0.1 * gauss());
      put(`${m}D`, [H], () => gauss());
      put(`${m}kernel.log_dt`, [H], () => lo + rand() * (hi - lo));
      put(`${m}kernel.C`, [H, M, 2], () => gauss() * Math.SQRT1_2);
      put(`${m}kernel.log_A_real`, [H, M], () => Math.log(0.5));
      put(`${m}kernel.A_imag`, [H, M], (i) => Math.PI * (i % M));
      if (o.gated) { put(`${m}gate.weight`, [H, H], uniform(1 / Math.sqrt(H))); put(`${m}gate.bias`, [H], uniform(1 / Math.sqrt(H))); }
      put(`${m}output_linear.0.weight`, [2 * H, H, 1], uniform(1 / Math.sqrt(H)));
      put(`${m}output_linear.0.bias`, [2 * H], uniform(1 / Math.sqrt(H)));
    }
    put('norm_f.weight', [H], () => 1 + 0.1 * gauss());
  } else {
    const G = o.kind === 'lstm' ? 4 : o.kind === 'gru' ? 3 : 1;
    const E = o.embeddingSize ?? H, P = o.projSize ?? 0, bias = o.bias ?? true;
    width = P || H;
    if (o.embeddingSize !== undefined) config.embedding_size = E;
    if (o.kind === 'rnn') config.nonlinearity = o.nonlinearity ?? 'tanh';
    if (P) config.proj_size = P;
    config.bias = bias;
    put('embedding.weight', [V, E], () => gauss());
    const k = uniform(1 / Math.sqrt(H));
    for (let l = 0; l < L; l++) {
      put(`rnn.weight_ih_l${l}`, [G * H, l === 0 ? E : width], k);
      put(`rnn.weight_hh_l${l}`, [G * H, width], k);
      if (bias) { put(`rnn.bias_ih_l${l}`, [G * H], k); put(`rnn.bias_hh_l${l}`, [G * H], k); }
      if (P) put(`rnn.weight_hr_l${l}`, [P, H], k);
    }
  }
  const headBias = o.headBias ?? true;
  if (o.tie) config.tie_word_embeddings = true;
  if (!headBias) config.head_bias = false;
  if (!o.tie) put('head.weight', [V, width], uniform(1 / Math.sqrt(width)));
  if (headBias) put('head.bias', [V], uniform(1 / Math.sqrt(width)));
  if (o.eosTokenId !== undefined) config.eos_token_id = o.eosTokenId;
  Object.assign(config, o.extraConfig ?? {});
  return {
    'config.json': new TextEncoder().encode(JSON.stringify(config, null, 2)),
    'model.safetensors': writeSafetensors(tensors),
  };
}

/** Parameters of a lineage model (what `model.info.parameters` reports). */
export function lineageParameters(files: Record<string, Uint8Array>): number {
  const bytes = files['model.safetensors'];
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { shape?: number[] }>;
  return Object.entries(header).filter(([k]) => k !== '__metadata__').reduce((sum, [, t]) => sum + (t.shape ?? []).reduce((a, b) => a * b, 1), 0);
}
