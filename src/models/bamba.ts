/**
 * Bamba — transformers `BambaForCausalLM`, model_type "bamba": Mamba-2 layers with attention at
 * `attn_layer_indices`; every layer (modeling_bamba.py BambaDecoderLayer)
 *   h = h + (mamba | self_attn)(input_layernorm(h));  h = h + feed_forward(pre_ff_layernorm(h))
 * The Mamba-2 mixer is Mamba2Mixer's (full-width gated RMSNorm); attention rotates
 * int(head_dim · partial_rotary_factor) dims (the config hard-codes the factor 0.5).
 */
import { fail } from '../errors.js';
import { decoderGraph, type DecoderConfig } from './decoder.js';
import { parseHeads, requireAct } from './llama.js';
import { parseRope } from './rope-config.js';

export const bambaGraph = decoderGraph({
  modelType: 'bamba',
  kinds: ['attention', 'mamba2', 'mlp'],
  parseConfig(r): DecoderConfig {
    requireAct(r, 'hidden_act', ['silu'], 'silu');
    const hiddenSize = r.int('hidden_size');
    const numLayers = r.int('num_hidden_layers', { max: 4096 });
    const vocabSize = r.int('vocab_size');
    const normEps = r.num('rms_norm_eps', { default: 1e-5, min: 0 });
    const rawIdx = r.raw.attn_layer_indices ?? [];
    if (!Array.isArray(rawIdx) || rawIdx.some((i) => !Number.isInteger(i) || i < 0 || i >= numLayers)) {
      throw fail('E_CONFIG', `${r.file}: field "attn_layer_indices" must be a list of layer indices in [0, ${numLayers}), got ${JSON.stringify(rawIdx)}`, { file: r.file, field: 'attn_layer_indices' });
    }
    const attn = new Set(rawIdx as number[]);
    const heads = parseHeads(r, hiddenSize, null);
    const expand = r.num('mamba_expand', { default: 2, min: 0 });
    const I = Math.trunc(expand * hiddenSize);
    const mH = r.int('mamba_n_heads', { default: 128 });
    const dHead = r.raw.mamba_d_head === undefined || r.raw.mamba_d_head === 'auto' ? Math.floor(I / mH) : r.int('mamba_d_head');
    if (dHead * mH !== I) {
      throw fail('E_CONFIG', `${r.file}: mamba_n_heads × mamba_d_head (${mH} × ${dHead}) must equal mamba_expand × hidden_size (${I})`, { file: r.file, field: 'mamba_n_heads' });
    }
    const nGroups = r.int('mamba_n_groups', { default: 1 });
    if (mH % nGroups !== 0) throw fail('E_CONFIG', `${r.file}: mamba_n_groups (${nGroups}) must divide mamba_n_heads (${mH})`, { file: r.file, field: 'mamba_n_groups' });
    const stateSize = r.int('mamba_d_state', { default: 256 });
    const convKernel = r.int('mamba_d_conv', { default: 4, max: 1024 });
    const inner = r.int('intermediate_size');
    return {
      architecture: 'bamba', vocabSize, hiddenSize, numLayers, stateSize, convKernel, intermediateSize: I,
      numHeads: mH, headDim: dHead, nGroups,
      eosTokenId: r.tokenId('eos_token_id', vocabSize), raw: r.raw, normEps,
      tieWordEmbeddings: r.bool('tie_word_embeddings', false),
      layers: Array.from({ length: numLayers }, (_, i) => ({ mixer: attn.has(i) ? 'attention' as const : 'mamba2' as const, ffn: 'mlp' as const })),
      layerField: 'attn_layer_indices',
      names: {
        embed: 'model.embed_tokens.weight', finalNorm: 'model.final_layernorm.weight', layer: (i) => `model.layers.${i}.`,
        mixerNorm: 'input_layernorm', ffnNorm: 'pre_ff_layernorm', ffnPrefix: 'feed_forward.',
        mixerPrefix: { attention: 'self_attn.', mamba: 'mamba.', mamba2: 'mamba.', mlp: 'feed_forward.' },
      },
      attention: { hiddenSize, ...heads, bias: false, invFreq: parseRope(r, heads.headDim, { defaultFactor: 0.5 }) },
      mamba2: {
        architecture: 'mamba2', vocabSize, hiddenSize, numLayers, stateSize, convKernel, intermediateSize: I,
        numHeads: mH, headDim: dHead, nGroups, raw: r.raw, normEps, tieWordEmbeddings: false,
        chunkSize: r.int('mamba_chunk_size', { default: 256, max: 4096 }),
        timeStepLimit: r.pair('time_step_limit', [0, Infinity]),
        useBias: r.bool('mamba_proj_bias', false), useConvBias: r.bool('mamba_conv_bias', true),
      },
      mlp: { hiddenSize, inner, act: 'swiglu', bias: false },
    };
  },
});
