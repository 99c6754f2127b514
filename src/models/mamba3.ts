/**
 * Mamba-3 (Lahoti, Li, Chen, Wang, Bick, Kolter, Dao, Gu 2026) — state-spaces/mamba
 * `mamba_ssm/modules/mamba3.py` (class Mamba3), SISO and MIMO, in mamba_ssm's MixerModel
 * stack (embedding, pre-norm residual blocks, norm_f, tied or untied lm_head). model_type
 * "mamba3"; config.json fields and conversion in docs/mamba3.md. The mixer:
 *
 *   z, x, B, C, dd_dt, dd_A, trap, angles = in_proj(u)   [I], [I], [R·G·N], [R·G·N], [H], [H], [H], [S]
 *   B, C  = rmsnorm(B)·B_norm, rmsnorm(C)·C_norm            per (rank, group) over N; no causal conv
 *   y     = mamba3(x, z, B, C, Δ = softplus(dd_dt + dt_bias), A = min(−softplus(dd_A), −A_floor),
 *                  λ = σ(trap), θ += π·tanh(angles)·Δ, B_bias, C_bias, D, mimo_x/z/o, output norm)
 *   out   = out_proj(y)
 *
 * with the trapezoidal recurrence h_t = α_t h_{t−1} + (1−λ_t)Δ_t α_t (B̃_{t−1} ⊗ x_{t−1}) + λ_t Δ_t (B̃_t ⊗ x_t),
 * α = exp(AΔ), B̃ = rot_θ(B + B_bias) (see Mamba3ScanArgs in src/backends/backend.ts for every term).
 * Prefill runs the chunked form (`mamba3Scan`), decode the step form (`mamba3Step`). The carried
 * state per layer is the module's (angle_dt_state, ssm_state, k_state, v_state).
 *
 * in_proj is one weight whose row blocks are the parts (views, Backend.rowView): a decode token makes
 * one matmul and splits its output by views; prefill (and backends without rowView, which upload
 * the parts separately) makes one matmul per part, so the graph needs no strided slicing op.
 */
import { fail } from '../errors.js';
import type { Backend, Tensor } from '../backends/backend.js';
import type { MixerSpec, StackConfig, TensorSpec } from './architecture.js';
import { rowBlock } from './mamba.js';
import { uploadTensor } from './graph.js';

export interface Mamba3Config extends StackConfig {
  architecture: 'mamba3';
  numHeads: number;
  headDim: number;
  nGroups: number;
  /** 0.5 or 1.0: the share of d_state that rotates. */
  ropeFraction: number;
  /** S = num_rope_angles: ⌊d_state·rope_fraction⌋ rounded down to even, halved. */
  numAngles: number;
  aFloor: number;
  isMimo: boolean;
  /** R: mimo_rank for MIMO, 1 for SISO. */
  mimoRank: number;
  isOutprojNorm: boolean;
  chunkSize: number;
}

interface Mamba3Layer {
  /** in_proj as one weight where the backend has rowView: the parts below are then views of it. */
  inProjWeight: Tensor | null;
  inProj: { z: Tensor; x: Tensor; B: Tensor; C: Tensor; ddDt: Tensor; ddA: Tensor; trap: Tensor; angles: Tensor };
  BNorm: Tensor; CNorm: Tensor;
  dtBias: Tensor; BBias: Tensor; CBias: Tensor; D: Tensor;
  mimo: { x: Tensor; z: Tensor; o: Tensor } | null;
  norm: Tensor | null;
  outProj: Tensor;
}

/** mamba3.py's B_norm / C_norm and the output RMSNormGated are built with eps = 1e-5, whatever norm_epsilon says. */
const MIXER_NORM_EPS = 1e-5;

/** in_proj rows, in mamba3.py's split order. */
function inProjParts(c: Mamba3Config): [name: keyof Mamba3Layer['inProj'], rows: number][] {
  const { intermediateSize: I, stateSize: N, nGroups: G, mimoRank: R, numHeads: H, numAngles: S } = c;
  return [['z', I], ['x', I], ['B', R * G * N], ['C', R * G * N], ['ddDt', H], ['ddA', H], ['trap', H], ['angles', S]];
}

export const mamba3: MixerSpec<Mamba3Config, Mamba3Layer> = {
  modelType: 'mamba3',
  requiredOps: ['embedding', 'rmsNorm', 'matmul', 'add', 'mamba3Scan', 'mamba3Step'],
  embeddingName: 'backbone.embedding.weight', // mamba_ssm's MixerModel.embedding

  parseConfig(r) {
    const bad = (field: string, msg: string): never => { throw fail('E_CONFIG', `${r.file}: ${msg}`, { file: r.file, field }); };
    const hiddenSize = r.int('hidden_size');
    const expand = r.num('expand', { default: 2, min: 0 });
    const intermediateSize = Math.trunc(expand * hiddenSize);
    const headDim = r.int('head_dim', { default: 64 });
    if (intermediateSize < 1 || intermediateSize % headDim !== 0) {
      bad('head_dim', `field "head_dim" (${headDim}) must divide expand × hidden_size (${intermediateSize}), as mamba3.py asserts`);
    }
    const numHeads = intermediateSize / headDim;
    const nGroups = r.int('n_groups', { default: 1 });
    if (numHeads % nGroups !== 0) bad('n_groups', `field "n_groups" (${nGroups}) must divide the ${numHeads} heads`);
    const stateSize = r.int('state_size', { default: 128, max: 1 << 16 });
    if (stateSize % 2 !== 0) bad('state_size', `field "state_size" (${stateSize}) must be even: the rotary embedding turns pairs of state dims`);
    const ropeFraction = r.num('rope_fraction', { default: 0.5 });
    if (ropeFraction !== 0.5 && ropeFraction !== 1) bad('rope_fraction', `field "rope_fraction" must be 0.5 or 1.0 (mamba3.py asserts it), got ${ropeFraction}`);
    let split = Math.trunc(stateSize * ropeFraction);
    if (split % 2 !== 0) split -= 1;
    const numAngles = split / 2;
    if (numAngles < 1) bad('state_size', `field "state_size" (${stateSize}) leaves no rotary angle at rope_fraction ${ropeFraction}`);
    const isMimo = r.bool('is_mimo', false);
    const mimoRank = isMimo ? r.int('mimo_rank', { default: 4, max: 64 }) : 1;
    const vocabSize = r.int('vocab_size');
    return {
      architecture: 'mamba3',
      vocabSize,
      hiddenSize,
      numLayers: r.int('num_hidden_layers', { max: 4096 }),
      stateSize,
      convKernel: 0, // Mamba-3 has no causal conv
      intermediateSize,
      numHeads,
      headDim,
      nGroups,
      eosTokenId: r.tokenId('eos_token_id', vocabSize),
      raw: r.raw,
      normEps: r.num('layer_norm_epsilon', { default: 1e-5, min: 0 }),
      tieWordEmbeddings: r.bool('tie_word_embeddings', true),
      ropeFraction,
      numAngles,
      aFloor: r.num('a_floor', { default: 1e-4, min: 0 }),
      isMimo,
      mimoRank,
      isOutprojNorm: r.bool('is_outproj_norm', false),
      chunkSize: r.int('chunk_size', { default: 64, max: 4096 }),
    };
  },

  mixerTensors(c) {
    const { hiddenSize: D, intermediateSize: I, stateSize: N, numHeads: H, headDim: P, nGroups: G, mimoRank: R, numAngles: S } = c;
    const rows = inProjParts(c).reduce((n, [, k]) => n + k, 0);
    const why = `in_proj rows = z ${I} + x ${I} + B ${R * G * N} + C ${R * G * N} (state_size ${N} × n_groups ${G} × mimo_rank ${R} each) `
      + `+ dd_dt, dd_A, trap ${H} each (${H} heads of head_dim ${P}) + ${S} rope angles (state_size ${N} × rope_fraction ${c.ropeFraction})`;
    const perHead = `num_heads ${H} × mimo_rank ${R} × state_size ${N}`;
    const t: TensorSpec[] = [
      { name: 'in_proj.weight', shape: [rows, D], matrix: true, why },
      { name: 'dt_bias', shape: [H], matrix: false, why: `num_heads = expand × hidden_size / head_dim = ${H}` },
      { name: 'B_bias', shape: [H, R, N], matrix: false, why: perHead },
      { name: 'C_bias', shape: [H, R, N], matrix: false, why: perHead },
      { name: 'B_norm.weight', shape: [N], matrix: false },
      { name: 'C_norm.weight', shape: [N], matrix: false },
      { name: 'D', shape: [H], matrix: false },
      { name: 'out_proj.weight', shape: [D, I], matrix: true },
    ];
    if (c.isMimo) {
      const mw = `num_heads ${H} × mimo_rank ${R} × head_dim ${P}`;
      t.push(
        { name: 'mimo_x', shape: [H, R, P], matrix: false, why: mw },
        { name: 'mimo_z', shape: [H, R, P], matrix: false, why: mw },
        { name: 'mimo_o', shape: [H, R, P], matrix: false, why: mw },
      );
    }
    if (c.isOutprojNorm) t.push({ name: 'norm.weight', shape: [I], matrix: false, why: 'is_outproj_norm: RMSNormGated over d_inner' });
    return t;
  },

  prepareLayer(c, b, get, dtype) {
    const { hiddenSize: D, intermediateSize: I, stateSize: N, numHeads: H, headDim: P, mimoRank: R } = c;
    // One weight whose parts are views where the backend has rowView (a decode token then makes one GEMV).
    const total = inProjParts(c).reduce((n, [, k]) => n + k, 0);
    const fused = b.rowView ? uploadTensor(get, b, 'in_proj.weight', [total, D], dtype) : null;
    const inProj = fused ? null : get('in_proj.weight');
    const parts = {} as Mamba3Layer['inProj'];
    let row = 0;
    for (const [name, rows] of inProjParts(c)) {
      parts[name] = fused ? b.rowView!(fused, row, rows) : b.upload(rowBlock(inProj!, D, row, rows), [rows, D], dtype);
      row += rows;
    }
    return {
      inProjWeight: fused,
      inProj: parts,
      BNorm: b.upload(get('B_norm.weight'), [N]),
      CNorm: b.upload(get('C_norm.weight'), [N]),
      dtBias: b.upload(get('dt_bias'), [H]),
      BBias: b.upload(get('B_bias'), [H, R, N]),
      CBias: b.upload(get('C_bias'), [H, R, N]),
      D: b.upload(get('D'), [H]),
      mimo: c.isMimo
        ? { x: b.upload(get('mimo_x'), [H, R, P]), z: b.upload(get('mimo_z'), [H, R, P]), o: b.upload(get('mimo_o'), [H, R, P]) }
        : null,
      norm: c.isOutprojNorm ? b.upload(get('norm.weight'), [I]) : null,
      outProj: uploadTensor(get, b, 'out_proj.weight', [D, I], dtype),
    };
  },

  layerStateShapes(c, batch) {
    return [
      [batch, c.numHeads, c.numAngles], //                  angle_dt_state: cumulative rotary angle θ
      [batch, c.numHeads, c.headDim, c.stateSize], //       ssm_state h
      [batch, c.mimoRank, c.numHeads, c.stateSize], //      k_state: previous rotated, biased B (B̃_{t−1})
      [batch, c.numHeads, c.headDim], //                    v_state: previous x (x_{t−1})
    ];
  },

  prefillChunk(c) {
    // Whole SSD-style chunks, ~256 tokens per prefill call.
    return c.chunkSize * Math.max(1, Math.round(256 / c.chunkSize));
  },

  mixer({ backend: b, cfg: c, weights: w, state: [angleState, ssmState, kState, vState], step }, u) {
    const [batch, seq] = u.shape;
    const RG = c.mimoRank * c.nGroups;
    // z, x, B, C, dd_dt, dd_A, trap, angles = in_proj(u).split(...)  [B, T, I] ×2, [B, T, R·G·N] ×2, [B, T, H] ×3, [B, T, S]
    const [[z, x, BIn, CIn, ddDt, ddA, trap, angles], all] = inProjection(b, w, u, c);
    // B_norm / C_norm: RMSNorm over N for each (rank, group)
    const Bn = b.rmsNorm(b.reshape(BIn, [batch, seq * RG, c.stateSize]), w.BNorm, MIXER_NORM_EPS);
    const Cn = b.rmsNorm(b.reshape(CIn, [batch, seq * RG, c.stateSize]), w.CNorm, MIXER_NORM_EPS);
    const scan = step ? b.mamba3Step : b.mamba3Scan;
    const y = scan.call(b, {
      x, z, B: b.reshape(Bn, [batch, seq, RG * c.stateSize]), C: b.reshape(Cn, [batch, seq, RG * c.stateSize]),
      ddDt, ddA, trap, angles, dtBias: w.dtBias, aFloor: c.aFloor, BBias: w.BBias, CBias: w.CBias, D: w.D,
      mimo: w.mimo, normWeight: w.norm, normEps: MIXER_NORM_EPS,
      numHeads: c.numHeads, headDim: c.headDim, nGroups: c.nGroups, stateSize: c.stateSize, rank: c.mimoRank,
      pairing: c.isMimo ? 'halves' : 'adjacent', chunkSize: c.chunkSize,
      angleState, ssmState, kState, vState,
    }); //                                       [B, T, I]
    const out = b.matmul(y, w.outProj); //      [B, T, D]
    b.free(...(all ? [all] : [z, x, BIn, CIn, ddDt, ddA, trap, angles]), Bn, Cn, y);
    return out;
  },
};

/**
 * The in_proj parts. One token of one sequence with a fused weight: one matmul, its output split
 * by views (the second value, to free); otherwise — several rows, whose parts would interleave —
 * one matmul per part.
 */
function inProjection(b: Backend, w: Mamba3Layer, u: Tensor, c: Mamba3Config): [Tensor[], Tensor | null] {
  const names = inProjParts(c);
  if (w.inProjWeight && b.rowView && u.shape[0] * u.shape[1] === 1) {
    const total = names.reduce((n, [, k]) => n + k, 0);
    const all = b.matmul(u, w.inProjWeight); //  [1, 1, total]
    const rows = b.reshape(all, [total, 1]);
    let row = 0;
    const parts = names.map(([, k]) => { const v = b.reshape(b.rowView!(rows, row, k), [1, 1, k]); row += k; return v; });
    return [parts, all];
  }
  return [names.map(([name]) => b.matmul(u, w.inProj[name])), null];
}
