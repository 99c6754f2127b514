/**
 * Host-side arithmetic that every backend's attention family shares, so they agree bit for bit
 * where transformers computes in f32: the rotary tables and the MoE router's top-k.
 */

/**
 * transformers' default RoPE inverse frequencies (modeling_rope_utils / LlamaRotaryEmbedding):
 *   d = int(head_dim · partial_rotary_factor);  invFreq[i] = 1 / theta^(2i / d),  i < ⌈d/2⌉
 * computed in f32 as torch does (arange(0, d, 2).float() / d, then base ** that, then 1 / that).
 */
export function ropeInvFreq(headDim: number, theta: number, partialRotaryFactor = 1): Float32Array {
  const d = Math.trunc(headDim * partialRotaryFactor);
  const f = Math.fround;
  const out = new Float32Array(Math.ceil(d / 2));
  for (let i = 0; i < out.length; i++) out[i] = f(1 / f(Math.pow(theta, f((2 * i) / d))));
  return out;
}

/**
 * cos θ and sin θ for tokens [position, position + T) and every pair: θ = fround(p · invFreq[i])
 * (HF multiplies in f32: inv_freq.float() @ position_ids.float()), then cos/sin of that f32 angle.
 * → [T, R] each.
 */
export function ropeTables(invFreq: Float32Array, position: number, seq: number): { cos: Float32Array; sin: Float32Array } {
  const R = invFreq.length;
  const cos = new Float32Array(seq * R), sin = new Float32Array(seq * R);
  for (let t = 0; t < seq; t++) {
    const p = Math.fround(position + t);
    for (let i = 0; i < R; i++) {
      const angle = Math.fround(p * invFreq[i]);
      cos[t * R + i] = Math.cos(angle);
      sin[t * R + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * The MoE router for one token: softmax of the router logits (in f32, as transformers'
 * softmax(dtype=torch.float)), the top-k experts by probability (ties → lower index), their
 * weights (renormalised to sum 1 when `normalize`, as Mixtral's norm_topk_prob; Jamba does not).
 */
export function routeTopK(logits: ArrayLike<number>, offset: number, experts: number, topK: number, normalize: boolean): { index: number[]; weight: number[] } {
  let max = -Infinity;
  for (let e = 0; e < experts; e++) max = Math.max(max, logits[offset + e]);
  const p = new Float64Array(experts);
  let sum = 0;
  for (let e = 0; e < experts; e++) { p[e] = Math.exp(logits[offset + e] - max); sum += p[e]; }
  for (let e = 0; e < experts; e++) p[e] = Math.fround(p[e] / sum);
  const order = [...p.keys()].sort((a, b) => p[b] - p[a] || a - b).slice(0, topK);
  let w = order.map((e) => p[e]);
  if (normalize) {
    const s = w.reduce((a, b) => a + b, 0);
    w = w.map((x) => x / s);
  }
  return { index: order, weight: w };
}
