/**
 * Nemotron-H — transformers `NemotronHForCausalLM`, model_type "nemotron_h": one mixer per layer,
 * the kind from `hybrid_override_pattern` (M = Mamba-2, * = attention, - = MLP) or its 5.x spelling
 * `layers_block_type` ("linear_attention" / "full_attention" / "mlp"); every layer (NemotronHBlock)
 *   h = h + mixer(norm(h))
 * The Mamba-2 mixer normalises its gated output per group of I / n_groups (Zamba2RMSNormGated) and
 * clamps Δ below at time_step_min (transformers 5.17: time_step_limit = (time_step_min, ∞)); attention
 * has no positional embedding; the MLP is down(relu(up(x))²).
 */
import { fail } from '../errors.js';
import type { ConfigReader } from '../formats/hf-config.js';
import { decoderGraph, type DecoderConfig, type MixerKind } from './decoder.js';
import { parseHeads, requireAct } from './llama.js';

const KINDS: Record<string, MixerKind> = {
  M: 'mamba2', '*': 'attention', '-': 'mlp',
  mamba: 'mamba2', linear_attention: 'mamba2', attention: 'attention', full_attention: 'attention', mlp: 'mlp',
};

function parseLayers(r: ConfigReader): { kinds: MixerKind[]; field: string } {
  const list = r.raw.layers_block_type ?? r.raw.layer_types;
  const field = r.raw.layers_block_type !== undefined ? 'layers_block_type' : r.raw.layer_types !== undefined ? 'layer_types' : 'hybrid_override_pattern';
  const items: unknown[] = Array.isArray(list) ? list : typeof r.raw.hybrid_override_pattern === 'string' ? [...r.raw.hybrid_override_pattern] : [];
  if (items.length === 0) {
    throw fail('E_CONFIG', `${r.file}: field "hybrid_override_pattern" (or "layers_block_type") must give the layer kinds, e.g. "M-M*-M"`, { file: r.file, field });
  }
  const kinds = items.map((k, i) => {
    const kind = typeof k === 'string' ? KINDS[k] : undefined;
    if (!kind) {
      const moe = k === 'E' || k === 'moe';
      throw fail('E_CONFIG', `${r.file}: field "${field}" layer ${i} is ${JSON.stringify(k)}; expected M / * / - (Mamba-2, attention, MLP)${moe ? ' — mixture-of-experts layers are not supported yet' : ''}`, { file: r.file, field });
    }
    return kind;
  });
  if (r.has('num_hidden_layers') && r.raw.num_hidden_layers !== kinds.length && field === 'hybrid_override_pattern') {
    throw fail('E_CONFIG', `${r.file}: hybrid_override_pattern has ${kinds.length} layers but num_hidden_layers is ${String(r.raw.num_hidden_layers)}`, { file: r.file, field });
  }
  return { kinds, field };
}

export const nemotronHGraph = decoderGraph({
  modelType: 'nemotron_h',
  kinds: ['attention', 'mamba2', 'mlp'],
  parseConfig(r): DecoderConfig {
    requireAct(r, 'mamba_hidden_act', ['silu'], 'silu');
    requireAct(r, 'mlp_hidden_act', ['relu2'], 'relu2');
    const { kinds, field } = parseLayers(r);
    const hiddenSize = r.int('hidden_size');
    const vocabSize = r.int('vocab_size');
    const normEps = r.num('layer_norm_epsilon', { default: 1e-5, min: 0 });
    const heads = parseHeads(r, hiddenSize, 'head_dim');
    const mH = r.int('mamba_num_heads', { default: 128 });
    const dHead = r.int('mamba_head_dim', { default: 64 });
    const I = mH * dHead;
    const nGroups = r.int('n_groups', { default: 8 });
    if (mH % nGroups !== 0) throw fail('E_CONFIG', `${r.file}: n_groups (${nGroups}) must divide mamba_num_heads (${mH})`, { file: r.file, field: 'n_groups' });
    const stateSize = r.int('ssm_state_size', { default: 128 });
    const convKernel = r.int('conv_kernel', { default: 4, max: 1024 });
    const inner = r.int('intermediate_size');
    const useBias = r.bool('use_bias', false);
    return {
      architecture: 'nemotron_h', vocabSize, hiddenSize, numLayers: kinds.length, stateSize, convKernel, intermediateSize: I,
      numHeads: mH, headDim: dHead, nGroups,
      eosTokenId: r.tokenId('eos_token_id', vocabSize), raw: r.raw, normEps,
      tieWordEmbeddings: r.bool('tie_word_embeddings', false),
      layers: kinds.map((mixer) => ({ mixer, ffn: null })),
      layerField: field,
      names: {
        embed: 'backbone.embeddings.weight', finalNorm: 'backbone.norm_f.weight', layer: (i) => `backbone.layers.${i}.`,
        mixerNorm: 'norm', ffnNorm: 'norm', ffnPrefix: 'mixer.',
        mixerPrefix: { attention: 'mixer.', mamba: 'mixer.', mamba2: 'mixer.', mlp: 'mixer.' },
      },
      attention: { hiddenSize, ...heads, bias: false, invFreq: null },
      mamba2: {
        architecture: 'mamba2', vocabSize, hiddenSize, numLayers: kinds.length, stateSize, convKernel, intermediateSize: I,
        numHeads: mH, headDim: dHead, nGroups, raw: r.raw, normEps, tieWordEmbeddings: false,
        chunkSize: r.int('chunk_size', { default: 128, max: 4096 }),
        timeStepLimit: [r.num('time_step_min', { default: 0.001, min: 0 }), Infinity],
        useBias, useConvBias: r.bool('use_conv_bias', true),
        normGroupSize: I / nGroups,
      },
      mlp: { hiddenSize, inner, act: 'relu2', bias: r.bool('mlp_bias', false) },
    };
  },
});
