/**
 * The transformer blocks hybrids share, each written once against the Backend interface:
 * grouped-query self-attention with optional RoPE (transformers' LlamaAttention / BambaAttention /
 * NemotronHAttention / JambaAttention), the MLPs (SwiGLU: LlamaMLP, BambaMLP, JambaMLP; relu²:
 * NemotronHMLP) and the sparse mixture of SwiGLU experts (JambaSparseMoeBlock).
 */
import type { Backend, KvCache, Tensor, WeightDType } from '../backends/backend.js';
import type { TensorSpec } from './graph.js';

type Get = (localName: string) => Float32Array;

// ---- attention --------------------------------------------------------------------------------

export interface AttentionSpec {
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** q/k/v/o projection biases (Llama's attention_bias). */
  bias: boolean;
  /** RoPE inverse frequencies (attention-math.ts ropeInvFreq), or null for attention without positions (Jamba, NemotronH). */
  invFreq: Float32Array | null;
}

export interface AttentionWeights {
  q: Tensor; k: Tensor; v: Tensor; o: Tensor;
  bias: { q: Tensor; k: Tensor; v: Tensor; o: Tensor } | null;
}

export function attentionTensors(a: AttentionSpec): TensorSpec[] {
  const { hiddenSize: D, numHeads: H, numKvHeads: G, headDim: Dh } = a;
  const t: TensorSpec[] = [
    { name: 'q_proj.weight', shape: [H * Dh, D], matrix: true },
    { name: 'k_proj.weight', shape: [G * Dh, D], matrix: true },
    { name: 'v_proj.weight', shape: [G * Dh, D], matrix: true },
    { name: 'o_proj.weight', shape: [D, H * Dh], matrix: true },
  ];
  if (a.bias) {
    t.push(
      { name: 'q_proj.bias', shape: [H * Dh], matrix: false }, { name: 'k_proj.bias', shape: [G * Dh], matrix: false },
      { name: 'v_proj.bias', shape: [G * Dh], matrix: false }, { name: 'o_proj.bias', shape: [D], matrix: false },
    );
  }
  return t;
}

export function prepareAttention(a: AttentionSpec, b: Backend, get: Get, dtype: WeightDType): AttentionWeights {
  const { hiddenSize: D, numHeads: H, numKvHeads: G, headDim: Dh } = a;
  const vec = (n: string, len: number) => b.upload(get(n), [len]);
  return {
    q: b.upload(get('q_proj.weight'), [H * Dh, D], dtype),
    k: b.upload(get('k_proj.weight'), [G * Dh, D], dtype),
    v: b.upload(get('v_proj.weight'), [G * Dh, D], dtype),
    o: b.upload(get('o_proj.weight'), [D, H * Dh], dtype),
    bias: a.bias ? { q: vec('q_proj.bias', H * Dh), k: vec('k_proj.bias', G * Dh), v: vec('v_proj.bias', G * Dh), o: vec('o_proj.bias', D) } : null,
  };
}

/**
 *   q, k, v = x·Wqᵀ, x·Wkᵀ, x·Wvᵀ                 [B,T,Hq·Dh], [B,T,Hkv·Dh] ×2
 *   q, k    = rope(q, P), rope(k, P)              P = tokens already in the cache
 *   y       = softmax(q·kᵀ / √Dh, causal) · v     over cache ++ this call's k, v
 *   out     = y·Woᵀ                                [B,T,D]
 */
export function runAttention(b: Backend, a: AttentionSpec, w: AttentionWeights, cache: KvCache, x: Tensor, step: boolean): Tensor {
  const { numHeads: H, numKvHeads: G, headDim: Dh } = a;
  let q = b.matmul(x, w.q, w.bias?.q); // [B, T, H·Dh]
  let k = b.matmul(x, w.k, w.bias?.k); // [B, T, G·Dh]
  const v = b.matmul(x, w.v, w.bias?.v); // [B, T, G·Dh]
  if (a.invFreq) {
    const position = cache.length;
    const qr = b.rope({ x: q, numHeads: H, headDim: Dh, invFreq: a.invFreq, position });
    const kr = b.rope({ x: k, numHeads: G, headDim: Dh, invFreq: a.invFreq, position });
    b.free(q, k);
    [q, k] = [qr, kr];
  }
  const args = { q, k, v, cache, numHeads: H, numKvHeads: G, headDim: Dh, scale: 1 / Math.sqrt(Dh) };
  const y = step ? b.attentionStep(args) : b.attention(args); // [B, T, H·Dh]
  const out = b.matmul(y, w.o, w.bias?.o);
  b.free(q, k, v, y);
  return out;
}

// ---- MLPs -------------------------------------------------------------------------------------

export interface MlpSpec {
  hiddenSize: number;
  inner: number;
  /** 'swiglu': down(silu(gate(x)) ⊙ up(x)); 'relu2': down(relu(up(x))²). */
  act: 'swiglu' | 'relu2';
  bias: boolean;
}

export interface MlpWeights {
  gate: Tensor | null; up: Tensor; down: Tensor;
  bias: { gate: Tensor | null; up: Tensor; down: Tensor } | null;
}

export function mlpTensors(m: MlpSpec): TensorSpec[] {
  const { hiddenSize: D, inner: I } = m;
  const names = m.act === 'swiglu' ? ['gate_proj', 'up_proj'] : ['up_proj'];
  const t: TensorSpec[] = [...names.map((n) => ({ name: `${n}.weight`, shape: [I, D], matrix: true })), { name: 'down_proj.weight', shape: [D, I], matrix: true }];
  if (m.bias) t.push(...names.map((n) => ({ name: `${n}.bias`, shape: [I], matrix: false })), { name: 'down_proj.bias', shape: [D], matrix: false });
  return t;
}

export function prepareMlp(m: MlpSpec, b: Backend, get: Get, dtype: WeightDType): MlpWeights {
  const { hiddenSize: D, inner: I } = m;
  const gated = m.act === 'swiglu';
  return {
    gate: gated ? b.upload(get('gate_proj.weight'), [I, D], dtype) : null,
    up: b.upload(get('up_proj.weight'), [I, D], dtype),
    down: b.upload(get('down_proj.weight'), [D, I], dtype),
    bias: m.bias
      ? { gate: gated ? b.upload(get('gate_proj.bias'), [I]) : null, up: b.upload(get('up_proj.bias'), [I]), down: b.upload(get('down_proj.bias'), [D]) }
      : null,
  };
}

export function runMlp(b: Backend, m: MlpSpec, w: MlpWeights, x: Tensor): Tensor {
  const up = b.matmul(x, w.up, w.bias?.up); //                    [B, T, I]
  let h: Tensor;
  if (m.act === 'swiglu') {
    const gate = b.matmul(x, w.gate!, w.bias?.gate); //           [B, T, I]
    h = b.swiglu(gate, up);
    b.free(gate);
  } else {
    h = b.relu2(up);
  }
  const out = b.matmul(h, w.down, w.bias?.down); //               [B, T, D]
  b.free(up, h);
  return out;
}

// ---- mixture of experts -----------------------------------------------------------------------

export interface MoeSpec {
  hiddenSize: number;
  inner: number;
  experts: number;
  topK: number;
  /** Renormalise the top-k probabilities (Mixtral); Jamba keeps the raw softmax values. */
  normalize: boolean;
}

export interface MoeWeights { router: Tensor; gate: Tensor[]; up: Tensor[]; down: Tensor[] }

/** Checkpoint layout of transformers' saved Jamba (5.x converts to and from its fused experts). */
export function moeTensors(m: MoeSpec): TensorSpec[] {
  const { hiddenSize: D, inner: I, experts: E } = m;
  const t: TensorSpec[] = [{ name: 'router.weight', shape: [E, D], matrix: false }];
  for (let e = 0; e < E; e++) {
    t.push(
      { name: `experts.${e}.gate_proj.weight`, shape: [I, D], matrix: true },
      { name: `experts.${e}.up_proj.weight`, shape: [I, D], matrix: true },
      { name: `experts.${e}.down_proj.weight`, shape: [D, I], matrix: true },
    );
  }
  return t;
}

export function prepareMoe(m: MoeSpec, b: Backend, get: Get, dtype: WeightDType): MoeWeights {
  const { hiddenSize: D, inner: I, experts: E } = m;
  const each = (n: string, shape: number[]) => Array.from({ length: E }, (_, e) => b.upload(get(`experts.${e}.${n}.weight`), shape, dtype));
  return {
    router: b.upload(get('router.weight'), [E, D]), // f32 always: routing decisions must not flip with the weight dtype
    gate: each('gate_proj', [I, D]), up: each('up_proj', [I, D]), down: each('down_proj', [D, I]),
  };
}

export function runMoe(b: Backend, m: MoeSpec, w: MoeWeights, x: Tensor): Tensor {
  return b.mixtureOfExperts({ x, router: w.router, gate: w.gate, up: w.up, down: w.down, topK: m.topK, normalize: m.normalize });
}
