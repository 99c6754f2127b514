/**
 * Mamba-2 (Dao & Gu 2024, "Transformers are SSMs") — transformers `Mamba2ForCausalLM`,
 * model_type "mamba2". The mixer follows Mamba2Mixer.torch_forward:
 *
 *   z, xBC, dt = in_proj(h)                      [B,T,I], [B,T,I+2GN], [B,T,H]
 *   x, B, C    = silu(conv1d_causal(xBC))         depthwise, so each part convolves alone
 *   y          = ssd(x, Δ = clamp(softplus(dt + dt_bias), time_step_limit), A = −exp(A_log), B, C) + D·x
 *   y          = rmsnorm(y · silu(z)) · norm.weight     over the full width I (transformers 5.x
 *                                                        MambaRMSNormGated; mamba_ssm normalises per group)
 *   out        = out_proj(y)
 *
 * in_proj's rows and conv1d's channels are split at load, so the graph needs no slicing op.
 * time_step_limit clamps Δ in both the chunked and the step form, so a step-by-step run equals
 * the full forward (transformers 5.17 omits the clamp in its cached step; mamba_ssm's chunked
 * kernels apply it) — with the default (0, ∞) limit the two agree anyway.
 */
import { fail } from '../errors.js';
import type { Backend, Tensor } from '../backends/backend.js';
import type { MixerSpec, StackConfig, TensorSpec } from './architecture.js';
import { rowBlock } from './mamba.js';
import { negExp, uploadTensor } from './graph.js';

export interface Mamba2Config extends StackConfig {
  architecture: 'mamba2';
  numHeads: number;
  headDim: number;
  nGroups: number;
  chunkSize: number;
  timeStepLimit: [number, number];
  useBias: boolean;
  useConvBias: boolean;
  /**
   * Width of each gated-RMSNorm group before out_proj. Unset: the full width I, as transformers
   * 5.x computes. mamba_ssm and llama.cpp normalise each of the n_groups groups alone (I / G);
   * the GGUF loader sets that, since a GGUF file means the model llama.cpp runs.
   */
  normGroupSize?: number;
}

export interface Mamba2Layer {
  /** in_proj as one [2I + 2GN + H, D] weight (and bias) where the backend has rowView: the parts below are then views of it. */
  inProj?: { weight: Tensor; bias: Tensor | null } | null;
  inProjZ: Tensor; inProjX: Tensor; inProjB: Tensor; inProjC: Tensor; inProjDt: Tensor;
  inProjBias: { z: Tensor; x: Tensor; B: Tensor; C: Tensor; dt: Tensor } | null;
  convX: Tensor; convB: Tensor; convC: Tensor;
  convBias: { x: Tensor; B: Tensor; C: Tensor } | null;
  dtBias: Tensor; A: Tensor; D: Tensor;
  norm: Tensor;
  outProj: Tensor; outProjBias: Tensor | null;
}

export const mamba2: MixerSpec<Mamba2Config, Mamba2Layer> = {
  modelType: 'mamba2',
  requiredOps: ['embedding', 'rmsNorm', 'gatedRmsNorm', 'matmul', 'add', 'conv1dCausal', 'conv1dCausalStep', 'ssdChunkScan', 'ssdStep'],

  parseConfig(r) {
    const act = r.str('hidden_act', 'silu');
    if (act !== 'silu' && act !== 'swish') throw fail('E_CONFIG', `${r.file}: field "hidden_act" must be "silu", got "${act}"`, { file: r.file, field: 'hidden_act' });
    const hiddenSize = r.int('hidden_size');
    const expand = r.num('expand', { default: 2, min: 0 });
    const intermediateSize = Math.trunc(expand * hiddenSize);
    const numHeads = r.int('num_heads');
    const headDim = r.int('head_dim', { default: 64 });
    const nGroups = r.int('n_groups', { default: 1 });
    if (numHeads * headDim !== intermediateSize) {
      throw fail('E_CONFIG', `${r.file}: num_heads × head_dim (${numHeads} × ${headDim}) must equal expand × hidden_size (${intermediateSize})`, { file: r.file, field: 'num_heads' });
    }
    if (numHeads % nGroups !== 0) {
      throw fail('E_CONFIG', `${r.file}: n_groups (${nGroups}) must divide num_heads (${numHeads})`, { file: r.file, field: 'n_groups' });
    }
    const vocabSize = r.int('vocab_size');
    return {
      architecture: 'mamba2',
      vocabSize,
      hiddenSize,
      numLayers: r.int('num_hidden_layers', { max: 4096 }),
      stateSize: r.int('state_size', { default: 128 }),
      convKernel: r.int('conv_kernel', { default: 4, max: 1024 }),
      intermediateSize,
      numHeads,
      headDim,
      nGroups,
      eosTokenId: r.tokenId('eos_token_id', vocabSize),
      raw: r.raw,
      normEps: r.num('layer_norm_epsilon', { default: 1e-5, min: 0 }),
      tieWordEmbeddings: r.bool('tie_word_embeddings', true),
      chunkSize: r.int('chunk_size', { default: 256, max: 4096 }),
      timeStepLimit: r.pair('time_step_limit', [0, Infinity]),
      useBias: r.bool('use_bias', false),
      useConvBias: r.bool('use_conv_bias', true),
    };
  },

  mixerTensors(c) {
    const { hiddenSize: D, intermediateSize: I, stateSize: N, convKernel: K, numHeads: H, nGroups: G } = c;
    const convDim = I + 2 * G * N;
    const projDim = 2 * I + 2 * G * N + H;
    const t: TensorSpec[] = [
      { name: 'in_proj.weight', shape: [projDim, D], matrix: true },
      { name: 'conv1d.weight', shape: [convDim, 1, K], matrix: false },
      { name: 'dt_bias', shape: [H], matrix: false },
      { name: 'A_log', shape: [H], matrix: false },
      { name: 'D', shape: [H], matrix: false },
      { name: 'norm.weight', shape: [I], matrix: false },
      { name: 'out_proj.weight', shape: [D, I], matrix: true },
    ];
    if (c.useConvBias) t.push({ name: 'conv1d.bias', shape: [convDim], matrix: false });
    if (c.useBias) t.push({ name: 'in_proj.bias', shape: [projDim], matrix: false }, { name: 'out_proj.bias', shape: [D], matrix: false });
    return t;
  },

  prepareLayer(c, b, get, dtype) {
    const { hiddenSize: D, intermediateSize: I, stateSize: N, convKernel: K, numHeads: H, nGroups: G } = c;
    const GN = G * N;
    // in_proj rows: [z: I][x: I][B: GN][C: GN][dt: H]; conv1d channels: [x: I][B: GN][C: GN]
    const P = 2 * I + 2 * GN + H;
    // The whole in_proj through uploadTensor (the loader may stream it from the file) where parts can be views.
    const fusedWeight = b.rowView ? uploadTensor(get, b, 'in_proj.weight', [P, D], dtype) : null;
    const inProj = fusedWeight ? null : get('in_proj.weight');
    const conv = get('conv1d.weight');
    const inBias = c.useBias ? get('in_proj.bias') : null;
    const convBias = c.useConvBias ? get('conv1d.bias') : null;
    const fused = fusedWeight ? { weight: fusedWeight, bias: inBias ? b.upload(inBias, [P]) : null } : null;
    const part = (start: number, count: number) => (fused ? b.rowView!(fused.weight, start, count) : b.upload(rowBlock(inProj!, D, start, count), [count, D], dtype));
    const vec = (data: Float32Array, start: number, count: number) =>
      (fused?.bias && data === inBias ? b.rowView!(fused.bias, start, count) : b.upload(data.subarray(start, start + count), [count]));
    const convPart = (start: number, count: number) => b.upload(rowBlock(conv, K, start, count), [count, K]);
    return {
      inProj: fused,
      inProjZ: part(0, I), inProjX: part(I, I), inProjB: part(2 * I, GN), inProjC: part(2 * I + GN, GN), inProjDt: part(2 * I + 2 * GN, H),
      inProjBias: inBias
        ? { z: vec(inBias, 0, I), x: vec(inBias, I, I), B: vec(inBias, 2 * I, GN), C: vec(inBias, 2 * I + GN, GN), dt: vec(inBias, 2 * I + 2 * GN, H) }
        : null,
      convX: convPart(0, I), convB: convPart(I, GN), convC: convPart(I + GN, GN),
      convBias: convBias ? { x: vec(convBias, 0, I), B: vec(convBias, I, GN), C: vec(convBias, I + GN, GN) } : null,
      dtBias: b.upload(get('dt_bias'), [H]),
      A: b.upload(negExp(get, 'A_log'), [H]), // A = −exp(A_log), one scalar per head
      D: b.upload(get('D'), [H]),
      norm: b.upload(get('norm.weight'), [I]),
      outProj: uploadTensor(get, b, 'out_proj.weight', [D, I], dtype),
      outProjBias: c.useBias ? b.upload(get('out_proj.bias'), [D]) : null,
    };
  },

  layerStateShapes(c, batch) {
    const hist = c.convKernel - 1;
    const GN = c.nGroups * c.stateSize;
    return [
      [batch, c.intermediateSize, hist], // conv state of x
      [batch, GN, hist], //                  conv state of B
      [batch, GN, hist], //                  conv state of C
      [batch, c.numHeads, c.headDim, c.stateSize], // ssm: h per head
    ];
  },

  prefillChunk(c) {
    // A whole number of SSD chunks, ~256 tokens, so chunk boundaries line up with HF's.
    return c.chunkSize * Math.max(1, Math.round(256 / c.chunkSize));
  },

  mixer({ backend: b, cfg: c, weights: w, state: [convXState, convBState, convCState, ssmState], step }, h) {
    const [z, xIn, BIn, CIn, dt, zxbcdt] = inProjection(b, w, h, c); // [B, T, I], [B, T, I], [B, T, G·N] ×2, [B, T, H]
    const conv = step ? b.conv1dCausalStep : b.conv1dCausal;
    const x = conv.call(b, { x: xIn, weight: w.convX, bias: w.convBias?.x ?? null, state: convXState, silu: true });
    const Bm = conv.call(b, { x: BIn, weight: w.convB, bias: w.convBias?.B ?? null, state: convBState, silu: true });
    const Cm = conv.call(b, { x: CIn, weight: w.convC, bias: w.convBias?.C ?? null, state: convCState, silu: true });
    const scan = step ? b.ssdStep : b.ssdChunkScan;
    const y = scan.call(b, {
      x, dt, dtBias: w.dtBias, dtMin: c.timeStepLimit[0], dtMax: c.timeStepLimit[1], A: w.A, B: Bm, C: Cm, D: w.D,
      numHeads: c.numHeads, headDim: c.headDim, nGroups: c.nGroups, stateSize: c.stateSize, chunkSize: c.chunkSize, state: ssmState,
    }); //                                              [B, T, I]
    const normed = b.gatedRmsNorm(y, z, w.norm, c.normEps, c.normGroupSize ?? c.intermediateSize);
    const out = b.matmul(normed, w.outProj, w.outProjBias); // [B, T, D]
    b.free(...(zxbcdt ? [zxbcdt] : [z, xIn, BIn, CIn, dt]), x, Bm, Cm, y, normed);
    return out;
  },

  /** Decode through the backend's fused op (Backend.mamba2MixerStep: `mixer` above and the residual add, in a few kernels). */
  fusedStep({ backend: b, cfg: c, weights: w, state: [convXState, convBState, convCState, ssmState] }, x, residual) {
    if (!b.mamba2MixerStep) return null;
    return b.mamba2MixerStep({
      ...w, x, residual, dtMin: c.timeStepLimit[0], dtMax: c.timeStepLimit[1],
      normEps: c.normEps, normGroupSize: c.normGroupSize ?? c.intermediateSize,
      numHeads: c.numHeads, headDim: c.headDim, nGroups: c.nGroups, stateSize: c.stateSize,
      convXState, convBState, convCState, ssmState,
    });
  },
};

/**
 * z, x, B, C, dt = in_proj(h) split as Mamba2Mixer does (torch.split of zxbcdt). One token of one
 * sequence: a single matmul with the fused weight, its output split by views (the sixth value, to
 * free); otherwise — several rows, whose parts would interleave — one matmul per part.
 */
function inProjection(b: Backend, w: Mamba2Layer, h: Tensor, c: Mamba2Config): [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | null] {
  const bias = w.inProjBias;
  if (w.inProj && b.rowView && h.shape[0] * h.shape[1] === 1) {
    const I = c.intermediateSize, GN = c.nGroups * c.stateSize, H = c.numHeads;
    const all = b.matmul(h, w.inProj.weight, w.inProj.bias); //      [1, 1, 2I + 2GN + H]
    const rows = b.reshape(all, [2 * I + 2 * GN + H, 1]);
    const part = (start: number, count: number) => b.reshape(b.rowView!(rows, start, count), [1, 1, count]);
    return [part(0, I), part(I, I), part(2 * I, GN), part(2 * I + GN, GN), part(2 * I + 2 * GN, H), all];
  }
  return [
    b.matmul(h, w.inProjZ, bias?.z), b.matmul(h, w.inProjX, bias?.x), b.matmul(h, w.inProjB, bias?.B),
    b.matmul(h, w.inProjC, bias?.C), b.matmul(h, w.inProjDt, bias?.dt), null,
  ];
}
