/**
 * Llama — transformers `LlamaForCausalLM`, model_type "llama": the plain transformer, every layer
 *   h = h + self_attn(input_layernorm(h));  h = h + mlp(post_attention_layernorm(h))
 * with grouped-query attention, RoPE over the full head_dim and a SwiGLU MLP (modeling_llama.py).
 */
import { fail } from '../errors.js';
import type { ConfigReader } from '../formats/hf-config.js';
import { decoderGraph, type DecoderConfig } from './decoder.js';
import { parseRope } from './rope-config.js';

/** Attention heads as every attention architecture reads them; E_CONFIG when they do not fit. */
export function parseHeads(r: ConfigReader, hidden: number, headDimField: string | null): { numHeads: number; numKvHeads: number; headDim: number } {
  const numHeads = r.int('num_attention_heads', { max: 4096 });
  const numKvHeads = r.int('num_key_value_heads', { default: numHeads, max: 4096 });
  if (numHeads % numKvHeads !== 0) {
    throw fail('E_CONFIG', `${r.file}: num_key_value_heads (${numKvHeads}) must divide num_attention_heads (${numHeads})`, { file: r.file, field: 'num_key_value_heads' });
  }
  const headDim = headDimField ? r.int(headDimField, { default: Math.floor(hidden / numHeads) }) : Math.floor(hidden / numHeads);
  if (headDim < 1) throw fail('E_CONFIG', `${r.file}: head_dim must be ≥ 1 (hidden_size / num_attention_heads)`, { file: r.file, field: 'head_dim' });
  return { numHeads, numKvHeads, headDim };
}

export function requireAct(r: ConfigReader, field: string, allowed: string[], def: string): string {
  const act = r.str(field, def);
  if (!allowed.includes(act)) throw fail('E_CONFIG', `${r.file}: field "${field}" must be ${allowed.map((a) => `"${a}"`).join(' or ')}, got "${act}"`, { file: r.file, field });
  return act;
}

export const llamaGraph = decoderGraph({
  modelType: 'llama',
  kinds: ['attention', 'mlp'],
  parseConfig(r): DecoderConfig {
    requireAct(r, 'hidden_act', ['silu'], 'silu');
    const hiddenSize = r.int('hidden_size');
    const numLayers = r.int('num_hidden_layers', { max: 4096 });
    const heads = parseHeads(r, hiddenSize, 'head_dim');
    const inner = r.int('intermediate_size');
    const vocabSize = r.int('vocab_size');
    const bias = r.bool('attention_bias', false);
    return {
      architecture: 'llama', vocabSize, hiddenSize, numLayers, stateSize: 0, convKernel: 0, intermediateSize: inner,
      numHeads: heads.numHeads, headDim: heads.headDim,
      eosTokenId: r.tokenId('eos_token_id', vocabSize), raw: r.raw,
      normEps: r.num('rms_norm_eps', { default: 1e-6, min: 0 }),
      tieWordEmbeddings: r.bool('tie_word_embeddings', false),
      layers: Array.from({ length: numLayers }, () => ({ mixer: 'attention' as const, ffn: 'mlp' as const })),
      layerField: 'num_hidden_layers',
      names: {
        embed: 'model.embed_tokens.weight', finalNorm: 'model.norm.weight', layer: (i) => `model.layers.${i}.`,
        mixerNorm: 'input_layernorm', ffnNorm: 'post_attention_layernorm', ffnPrefix: 'mlp.',
        mixerPrefix: { attention: 'self_attn.', mamba: 'mamba.', mamba2: 'mamba.', mlp: 'mlp.' },
      },
      attention: { hiddenSize, ...heads, bias, invFreq: parseRope(r, heads.headDim, null) },
      mlp: { hiddenSize, inner, act: 'swiglu', bias: r.bool('mlp_bias', false) },
    };
  },
});
