/**
 * Jamba — transformers `JambaForCausalLM`, model_type "jamba": Mamba-1 layers with attention where
 * i % attn_layer_period == attn_layer_offset, and a mixture-of-experts feed-forward where
 * i % expert_layer_period == expert_layer_offset (num_experts > 1); every layer (modeling_jamba.py)
 *   h = h + (mamba | self_attn)(input_layernorm(h));  h = h + feed_forward(pre_ff_layernorm(h))
 * The Mamba-1 mixer RMS-normalises dt, B and C after x_proj; attention has no positional embedding;
 * the router takes the top-k of softmax(router·x) without renormalising (JambaSparseMoeBlock).
 */
import { fail } from '../errors.js';
import { decoderGraph, type DecoderConfig } from './decoder.js';
import { parseHeads, requireAct } from './llama.js';

export const jambaGraph = decoderGraph({
  modelType: 'jamba',
  kinds: ['attention', 'mamba', 'mlp', 'moe'],
  parseConfig(r): DecoderConfig {
    requireAct(r, 'hidden_act', ['silu'], 'silu');
    const hiddenSize = r.int('hidden_size');
    const numLayers = r.int('num_hidden_layers', { max: 4096 });
    const vocabSize = r.int('vocab_size');
    const normEps = r.num('rms_norm_eps', { default: 1e-6, min: 0 });
    const period = r.int('attn_layer_period', { default: 8 });
    const offset = r.int('attn_layer_offset', { default: 4, min: 0 });
    const ePeriod = r.int('expert_layer_period', { default: 2 });
    const eOffset = r.int('expert_layer_offset', { default: 1, min: 0 });
    if (offset >= period) throw fail('E_CONFIG', `${r.file}: attn_layer_offset (${offset}) must be less than attn_layer_period (${period})`, { file: r.file, field: 'attn_layer_offset' });
    if (eOffset >= ePeriod) throw fail('E_CONFIG', `${r.file}: expert_layer_offset (${eOffset}) must be less than expert_layer_period (${ePeriod})`, { file: r.file, field: 'expert_layer_offset' });
    const experts = r.int('num_experts', { default: 16, max: 1024 });
    const topK = r.int('num_experts_per_tok', { default: 2, max: experts });
    const heads = parseHeads(r, hiddenSize, null);
    const expand = r.num('mamba_expand', { default: 2, min: 0 });
    const I = Math.trunc(expand * hiddenSize);
    const rank = r.raw.mamba_dt_rank === undefined || r.raw.mamba_dt_rank === 'auto' ? Math.ceil(hiddenSize / 16) : r.int('mamba_dt_rank');
    const stateSize = r.int('mamba_d_state', { default: 16 });
    const convKernel = r.int('mamba_d_conv', { default: 4, max: 1024 });
    const inner = r.int('intermediate_size');
    return {
      architecture: 'jamba', vocabSize, hiddenSize, numLayers, stateSize, convKernel, intermediateSize: I,
      eosTokenId: r.tokenId('eos_token_id', vocabSize), raw: r.raw, normEps,
      tieWordEmbeddings: r.bool('tie_word_embeddings', false),
      layers: Array.from({ length: numLayers }, (_, i) => ({
        mixer: i % period === offset ? 'attention' as const : 'mamba' as const,
        ffn: experts > 1 && i % ePeriod === eOffset ? 'moe' as const : 'mlp' as const,
      })),
      layerField: 'attn_layer_period',
      names: {
        embed: 'model.embed_tokens.weight', finalNorm: 'model.final_layernorm.weight', layer: (i) => `model.layers.${i}.`,
        mixerNorm: 'input_layernorm', ffnNorm: 'pre_ff_layernorm', ffnPrefix: 'feed_forward.',
        mixerPrefix: { attention: 'self_attn.', mamba: 'mamba.', mamba2: 'mamba.', mlp: 'feed_forward.' },
      },
      attention: { hiddenSize, ...heads, bias: false, invFreq: null },
      mamba1: {
        architecture: 'mamba', vocabSize, hiddenSize, numLayers, stateSize, convKernel, intermediateSize: I, raw: r.raw, normEps,
        tieWordEmbeddings: false, timeStepRank: rank,
        useBias: r.bool('mamba_proj_bias', false), useConvBias: r.bool('mamba_conv_bias', true), innerNorms: true,
      },
      mlp: { hiddenSize, inner, act: 'swiglu', bias: false },
      moe: { hiddenSize, inner, experts, topK, normalize: false },
    };
  },
});
