/**
 * Mamba-1 (Gu & Dao 2023) — transformers `MambaForCausalLM`, model_type "mamba".
 * The mixer follows MambaMixer.slow_forward line by line:
 *
 *   x, z   = in_proj(h)                      [B, T, I] each
 *   x      = silu(conv1d_causal(x))          depthwise, kernel K
 *   dt,B,C = x_proj(x)                       [B, T, R], [B, T, N], [B, T, N]
 *   dt     = dt_proj.weight · dt             bias and softplus fused into the scan
 *   y      = selective_scan(x, dt, A = −exp(A_log), B, C, D, z)
 *   out    = out_proj(y)
 */
import { fail } from '../errors.js';
import type { Backend, Tensor } from '../backends/backend.js';
import type { MixerSpec, StackConfig, TensorSpec } from './architecture.js';
import { negExp, uploadTensor } from './graph.js';

export interface MambaConfig extends StackConfig {
  architecture: 'mamba';
  /** R: rank of the Δ projection. */
  timeStepRank: number;
  useBias: boolean;
  useConvBias: boolean;
  /** Jamba's RMSNorms on dt, B and C after x_proj (dt_layernorm, b_layernorm, c_layernorm). */
  innerNorms?: boolean;
}

export interface MambaLayer {
  /** in_proj as one [2I, D] weight (and [2I] bias) where the backend has rowView: X and Z are then views of it. */
  inProj?: { weight: Tensor; bias: Tensor | null } | null;
  inProjX: Tensor; inProjZ: Tensor; inProjXBias: Tensor | null; inProjZBias: Tensor | null;
  convWeight: Tensor; convBias: Tensor | null;
  xProjDt: Tensor; xProjB: Tensor; xProjC: Tensor;
  dtProjWeight: Tensor; dtProjBias: Tensor;
  A: Tensor; D: Tensor;
  outProj: Tensor; outProjBias: Tensor | null;
  innerNorms: { dt: Tensor; B: Tensor; C: Tensor } | null;
}

/** Rows [start, start+count) of a row-major [rows, cols] matrix. */
export function rowBlock(data: Float32Array, cols: number, start: number, count: number): Float32Array {
  return data.subarray(start * cols, (start + count) * cols);
}

export const mamba: MixerSpec<MambaConfig, MambaLayer> = {
  modelType: 'mamba',
  requiredOps: ['embedding', 'rmsNorm', 'matmul', 'add', 'conv1dCausal', 'conv1dCausalStep', 'selectiveScan', 'selectiveScanStep'],

  parseConfig(r) {
    const act = r.str('hidden_act', 'silu');
    if (act !== 'silu' && act !== 'swish') throw fail('E_CONFIG', `${r.file}: field "hidden_act" must be "silu", got "${act}"`, { file: r.file, field: 'hidden_act' });
    const hiddenSize = r.int('hidden_size');
    const expand = r.num('expand', { default: 2, min: 0 });
    const intermediateSize = Math.trunc(expand * hiddenSize); // transformers: int(expand * hidden_size)
    if (intermediateSize < 1) throw fail('E_CONFIG', `${r.file}: expand × hidden_size must be ≥ 1`, { file: r.file, field: 'expand' });
    const rawRank = r.raw.time_step_rank;
    const timeStepRank = rawRank === undefined || rawRank === 'auto' ? Math.ceil(hiddenSize / 16) : r.int('time_step_rank');
    const vocabSize = r.int('vocab_size');
    return {
      architecture: 'mamba',
      vocabSize,
      hiddenSize,
      numLayers: r.int('num_hidden_layers', { max: 4096 }),
      stateSize: r.int('state_size', { default: 16 }),
      convKernel: r.int('conv_kernel', { default: 4, max: 1024 }),
      intermediateSize,
      eosTokenId: r.tokenId('eos_token_id', vocabSize),
      raw: r.raw,
      normEps: r.num('layer_norm_epsilon', { default: 1e-5, min: 0 }),
      tieWordEmbeddings: r.bool('tie_word_embeddings', true),
      timeStepRank,
      useBias: r.bool('use_bias', false),
      useConvBias: r.bool('use_conv_bias', true),
    };
  },

  mixerTensors(c) {
    const { hiddenSize: D, intermediateSize: I, stateSize: N, convKernel: K, timeStepRank: R } = c;
    const t: TensorSpec[] = [
      { name: 'in_proj.weight', shape: [2 * I, D], matrix: true },
      { name: 'conv1d.weight', shape: [I, 1, K], matrix: false },
      { name: 'x_proj.weight', shape: [R + 2 * N, I], matrix: true },
      { name: 'dt_proj.weight', shape: [I, R], matrix: true },
      { name: 'dt_proj.bias', shape: [I], matrix: false },
      { name: 'A_log', shape: [I, N], matrix: false },
      { name: 'D', shape: [I], matrix: false },
      { name: 'out_proj.weight', shape: [D, I], matrix: true },
    ];
    if (c.useConvBias) t.push({ name: 'conv1d.bias', shape: [I], matrix: false });
    if (c.useBias) t.push({ name: 'in_proj.bias', shape: [2 * I], matrix: false }, { name: 'out_proj.bias', shape: [D], matrix: false });
    if (c.innerNorms) {
      t.push(
        { name: 'dt_layernorm.weight', shape: [R], matrix: false },
        { name: 'b_layernorm.weight', shape: [N], matrix: false },
        { name: 'c_layernorm.weight', shape: [N], matrix: false },
      );
    }
    return t;
  },

  prepareLayer(c, b, get, dtype) {
    const { hiddenSize: D, intermediateSize: I, stateSize: N, convKernel: K, timeStepRank: R } = c;
    // Whole matrices go through uploadTensor (the loader may stream them from the file).
    const fused = b.rowView ? { weight: uploadTensor(get, b, 'in_proj.weight', [2 * I, D], dtype), bias: null as Tensor | null } : null;
    const inProj = fused ? null : get('in_proj.weight');
    // x_proj too, where views exist: its dt / B / C blocks then lie back to back in one buffer, which a
    // decode step can bind whole (webgpu's xProjPartials) instead of a packed copy of them.
    const xProjWhole = b.rowView ? uploadTensor(get, b, 'x_proj.weight', [R + 2 * N, I], dtype) : null;
    const xProj = xProjWhole ? null : get('x_proj.weight');
    const inBias = c.useBias ? get('in_proj.bias') : null;
    if (fused && inBias) fused.bias = b.upload(inBias, [2 * I]);
    const half = (t: Tensor | null, start: number) => (t ? b.rowView!(t, start, I) : null);
    return {
      inProj: fused,
      inProjX: fused ? half(fused.weight, 0)! : b.upload(rowBlock(inProj!, D, 0, I), [I, D], dtype),
      inProjZ: fused ? half(fused.weight, I)! : b.upload(rowBlock(inProj!, D, I, I), [I, D], dtype),
      inProjXBias: fused ? half(fused.bias, 0) : inBias ? b.upload(inBias.subarray(0, I), [I]) : null,
      inProjZBias: fused ? half(fused.bias, I) : inBias ? b.upload(inBias.subarray(I), [I]) : null,
      convWeight: b.upload(get('conv1d.weight'), [I, K]),
      convBias: c.useConvBias ? b.upload(get('conv1d.bias'), [I]) : null,
      xProjDt: xProjWhole ? b.rowView!(xProjWhole, 0, R) : b.upload(rowBlock(xProj!, I, 0, R), [R, I], dtype),
      xProjB: xProjWhole ? b.rowView!(xProjWhole, R, N) : b.upload(rowBlock(xProj!, I, R, N), [N, I], dtype),
      xProjC: xProjWhole ? b.rowView!(xProjWhole, R + N, N) : b.upload(rowBlock(xProj!, I, R + N, N), [N, I], dtype),
      dtProjWeight: uploadTensor(get, b, 'dt_proj.weight', [I, R], dtype),
      dtProjBias: b.upload(get('dt_proj.bias'), [I]),
      A: b.upload(negExp(get, 'A_log'), [I, N]), // A = −exp(A_log)
      D: b.upload(get('D'), [I]),
      outProj: uploadTensor(get, b, 'out_proj.weight', [D, I], dtype),
      outProjBias: c.useBias ? b.upload(get('out_proj.bias'), [D]) : null,
      innerNorms: c.innerNorms
        ? { dt: b.upload(get('dt_layernorm.weight'), [R]), B: b.upload(get('b_layernorm.weight'), [N]), C: b.upload(get('c_layernorm.weight'), [N]) }
        : null,
    };
  },

  layerStateShapes(c, batch) {
    return [
      [batch, c.intermediateSize, c.convKernel - 1], // conv: last K−1 inputs per channel
      [batch, c.intermediateSize, c.stateSize], // ssm: h
    ];
  },

  prefillChunk() {
    return 256;
  },

  mixer({ backend: b, cfg: c, weights: w, state: [convState, ssmState], step }, h) {
    const [xIn, z, xz] = inProjection(b, w, h, c.intermediateSize); // [B, T, I] each
    const conv = step ? b.conv1dCausalStep : b.conv1dCausal;
    const x = conv.call(b, { x: xIn, weight: w.convWeight, bias: w.convBias, state: convState, silu: true }); // [B, T, I]
    let dtLow = b.matmul(x, w.xProjDt); //                            [B, T, R]
    let Bm = b.matmul(x, w.xProjB); //                                [B, T, N]
    let Cm = b.matmul(x, w.xProjC); //                                [B, T, N]
    if (w.innerNorms) { // Jamba: dt, B, C = rmsnorm(dt), rmsnorm(B), rmsnorm(C)  (JambaMambaMixer.slow_forward)
      const n = w.innerNorms;
      const [dtN, BN, CN] = [b.rmsNorm(dtLow, n.dt, c.normEps), b.rmsNorm(Bm, n.B, c.normEps), b.rmsNorm(Cm, n.C, c.normEps)];
      b.free(dtLow, Bm, Cm);
      [dtLow, Bm, Cm] = [dtN, BN, CN];
    }
    const dt = b.matmul(dtLow, w.dtProjWeight); //                    [B, T, I]
    const scan = step ? b.selectiveScanStep : b.selectiveScan;
    const y = scan.call(b, { x, dt, dtBias: w.dtProjBias, A: w.A, B: Bm, C: Cm, D: w.D, z, state: ssmState }); // [B, T, I]
    const out = b.matmul(y, w.outProj, w.outProjBias); //             [B, T, D]
    b.free(...(xz ? [xz] : [xIn, z]), x, dtLow, Bm, Cm, dt, y);
    return out;
  },

  fusedStep({ backend, weights, state }, x, residual) {
    return mambaFusedStep(backend, weights, state, x, residual);
  },
};

/**
 * x, z = in_proj(h).chunk(2) (MambaMixer.slow_forward). One token of one sequence: a single
 * matmul with the fused [2I, D] weight, whose [x | z] output is split by views (the third value,
 * to free); otherwise — several rows, whose x and z would interleave — two matmuls with the
 * weight's halves.
 */
function inProjection(b: Backend, w: MambaLayer, h: Tensor, I: number): [Tensor, Tensor, Tensor | null] {
  if (w.inProj && b.rowView && h.shape[0] * h.shape[1] === 1) {
    const xz = b.matmul(h, w.inProj.weight, w.inProj.bias); //     [1, 1, 2I]
    const rows = b.reshape(xz, [2, I]);
    return [b.reshape(b.rowView(rows, 0, 1), [1, 1, I]), b.reshape(b.rowView(rows, 1, 1), [1, 1, I]), xz];
  }
  return [b.matmul(h, w.inProjX, w.inProjXBias), b.matmul(h, w.inProjZ, w.inProjZBias), null];
}

/**
 * Decode (T = 1) of `residual + mixer(x)` through the backend's fused op when it has one
 * (Backend.mambaMixerStep: the same equations as `mamba.mixer` above, in a few GPU kernels).
 * Null when the backend has none or declines; the caller then runs `mamba.mixer` and the add.
 */
export function mambaFusedStep(b: Backend, w: MambaLayer, [convState, ssmState]: Tensor[], x: Tensor, residual: Tensor): Tensor | null {
  if (!b.mambaMixerStep || w.innerNorms) return null; // Jamba's inner norms are not in the fused op
  const { innerNorms: _, inProj: __, ...weights } = w;
  return b.mambaMixerStep({ ...weights, x, residual, convState, ssmState });
}
