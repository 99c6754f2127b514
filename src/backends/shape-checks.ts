/**
 * Shape checks shared by every backend, so each op rejects a mismatched call the
 * same way (E_SHAPE naming the op and the operand) instead of reading out of bounds.
 */
import { fail } from '../errors.js';
import {
  gatesOf, numel, type AttentionArgs, type KvCache, type MoeArgs, type RopeArgs, type Conv1dArgs, type Mamba3ScanArgs, type LtiScanArgs, type RecurrentScanArgs, type SelectiveScanArgs, type SsdScanArgs, type Tensor,
} from './backend.js';

function expectShape(op: string, operand: string, t: Tensor, expected: readonly number[]): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw fail('E_SHAPE', `${op}: ${operand} has shape [${t.shape}], expected [${expected}]`, { field: operand });
  }
}

/** The *Step ops take one token: seq (x.shape[1]) must be 1. */
export function checkOneToken(op: string, seq: number): void {
  if (seq !== 1) throw fail('E_SHAPE', `${op} takes one token, got T=${seq}`);
}

export function checkSameShape(op: string, a: Tensor, b: Tensor): void {
  expectShape(op, 'second operand', b, a.shape);
}

/** x [..., D] with weight [D]; returns D. */
export function checkRowWeight(op: string, x: Tensor, weight: Tensor): number {
  const dim = x.shape[x.shape.length - 1];
  expectShape(op, 'weight', weight, [dim]);
  return dim;
}

/** x [..., K] · w[M, K]ᵀ (+ bias [M]). */
export function checkMatmul(x: Tensor, w: Tensor, bias: Tensor | null): { rows: number; inner: number; outCols: number } {
  if (w.shape.length !== 2) throw fail('E_SHAPE', `matmul: weight must be 2-D, got [${w.shape}]`);
  const [outCols, inner] = w.shape;
  if (x.shape[x.shape.length - 1] !== inner) {
    throw fail('E_SHAPE', `matmul: input [${x.shape}] does not match weight [${w.shape}] (inner dim ${inner})`);
  }
  if (bias) expectShape('matmul', 'bias', bias, [outCols]);
  return { rows: numel(x.shape) / inner, inner, outCols };
}

export function checkConv1d(a: Conv1dArgs): { batch: number; seq: number; channels: number; kernel: number } {
  if (a.x.shape.length !== 3) throw fail('E_SHAPE', `conv1dCausal: x must be [B, T, C], got [${a.x.shape}]`);
  const [batch, seq, channels] = a.x.shape;
  if (a.weight.shape.length !== 2 || a.weight.shape[0] !== channels) {
    throw fail('E_SHAPE', `conv1dCausal: weight [${a.weight.shape}] does not match ${channels} channels`);
  }
  const kernel = a.weight.shape[1];
  if (a.bias) expectShape('conv1dCausal', 'bias', a.bias, [channels]);
  expectShape('conv1dCausal', 'state', a.state, [batch, channels, kernel - 1]);
  return { batch, seq, channels, kernel };
}

export function checkSelectiveScan(a: SelectiveScanArgs): { batch: number; seq: number; inner: number; stateSize: number } {
  if (a.x.shape.length !== 3) throw fail('E_SHAPE', `selectiveScan: x must be [B, T, I], got [${a.x.shape}]`);
  const [batch, seq, inner] = a.x.shape;
  const stateSize = a.A.shape[1];
  expectShape('selectiveScan', 'A', a.A, [inner, stateSize]);
  expectShape('selectiveScan', 'dt', a.dt, [batch, seq, inner]);
  expectShape('selectiveScan', 'z', a.z, [batch, seq, inner]);
  expectShape('selectiveScan', 'dtBias', a.dtBias, [inner]);
  expectShape('selectiveScan', 'D', a.D, [inner]);
  expectShape('selectiveScan', 'B', a.B, [batch, seq, stateSize]);
  expectShape('selectiveScan', 'C', a.C, [batch, seq, stateSize]);
  expectShape('selectiveScan', 'state', a.state, [batch, inner, stateSize]);
  return { batch, seq, inner, stateSize };
}

export function checkSsdScan(a: SsdScanArgs): {
  batch: number; seq: number; numHeads: number; headDim: number; stateSize: number; nGroups: number;
} {
  const { numHeads: H, headDim: P, stateSize: N, nGroups: G } = a;
  if (a.x.shape.length !== 3) throw fail('E_SHAPE', `ssdScan: x must be [B, T, H·P], got [${a.x.shape}]`);
  if (G <= 0 || H % G !== 0) throw fail('E_SHAPE', `ssdScan: ${G} groups do not divide ${H} heads`);
  const [batch, seq] = a.x.shape;
  expectShape('ssdScan', 'x', a.x, [batch, seq, H * P]);
  expectShape('ssdScan', 'dt', a.dt, [batch, seq, H]);
  expectShape('ssdScan', 'dtBias', a.dtBias, [H]);
  expectShape('ssdScan', 'A', a.A, [H]);
  expectShape('ssdScan', 'D', a.D, [H]);
  expectShape('ssdScan', 'B', a.B, [batch, seq, G * N]);
  expectShape('ssdScan', 'C', a.C, [batch, seq, G * N]);
  expectShape('ssdScan', 'state', a.state, [batch, H, P, N]);
  return { batch, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G };
}

export function checkRecurrentScan(a: RecurrentScanArgs): { batch: number; seq: number; hidden: number; out: number; gates: number } {
  const op = 'recurrentScan';
  if (a.cell !== 'rnn_tanh' && a.cell !== 'rnn_relu' && a.cell !== 'lstm' && a.cell !== 'gru') {
    throw fail('E_ARGUMENT', `${op}: unknown cell ${JSON.stringify(a.cell)}`, { field: 'cell' });
  }
  const gates = gatesOf(a.cell);
  if (a.xg.shape.length !== 3) throw fail('E_SHAPE', `${op}: xg must be [B, T, G·H], got [${a.xg.shape}]`, { field: 'xg' });
  if (a.wHH.shape.length !== 2) throw fail('E_SHAPE', `${op}: wHH must be [G·H, R], got [${a.wHH.shape}]`, { field: 'wHH' });
  const [batch, seq, gh] = a.xg.shape;
  if (gh % gates !== 0) throw fail('E_SHAPE', `${op}: xg width ${gh} is not ${gates} gate blocks`, { field: 'xg' });
  const hidden = gh / gates;
  const out = a.wHH.shape[1];
  expectShape(op, 'wHH', a.wHH, [gh, out]);
  if (a.bHH) expectShape(op, 'bHH', a.bHH, [gh]);
  if (a.wHR) {
    if (a.cell !== 'lstm') throw fail('E_ARGUMENT', `${op}: a projection (wHR) exists only for the lstm cell`, { field: 'wHR' });
    expectShape(op, 'wHR', a.wHR, [out, hidden]);
  } else if (out !== hidden) {
    throw fail('E_SHAPE', `${op}: wHH [${a.wHH.shape}] must be [${gh}, ${hidden}] without a projection`, { field: 'wHH' });
  }
  expectShape(op, 'h', a.h, [batch, out]);
  if (a.cell === 'lstm') {
    if (!a.c) throw fail('E_ARGUMENT', `${op}: the lstm cell needs its cell state c`, { field: 'c' });
    expectShape(op, 'c', a.c, [batch, hidden]);
  } else if (a.c) {
    throw fail('E_ARGUMENT', `${op}: only the lstm cell carries a cell state c`, { field: 'c' });
  }
  return { batch, seq, hidden, out, gates };
}

export function checkLtiScan(a: LtiScanArgs): { batch: number; seq: number; channels: number; modes: number } {
  const op = 'ltiScan';
  if (a.x.shape.length !== 3) throw fail('E_SHAPE', `${op}: x must be [B, T, H], got [${a.x.shape}]`, { field: 'x' });
  const [batch, seq, channels] = a.x.shape;
  if (a.dA.shape.length !== 3 || a.dA.shape[0] !== channels || a.dA.shape[1] !== 2) {
    throw fail('E_SHAPE', `${op}: dA has shape [${a.dA.shape}], expected [${channels}, 2, M]`, { field: 'dA' });
  }
  const modes = a.dA.shape[2];
  expectShape(op, 'C', a.C, [channels, 2, modes]);
  expectShape(op, 'D', a.D, [channels]);
  expectShape(op, 'state', a.state, [batch, channels, 2, modes]);
  return { batch, seq, channels, modes };
}

export interface Mamba3Dims {
  batch: number; seq: number; numHeads: number; headDim: number; stateSize: number; nGroups: number; rank: number; angles: number;
}

export function checkMamba3Scan(a: Mamba3ScanArgs): Mamba3Dims {
  const op = 'mamba3Scan';
  const { numHeads: H, headDim: P, stateSize: N, nGroups: G, rank: R } = a;
  for (const [k, v] of Object.entries({ numHeads: H, headDim: P, stateSize: N, nGroups: G, rank: R })) {
    if (!Number.isInteger(v) || v < 1) throw fail('E_ARGUMENT', `${op}: ${k} must be a positive integer, got ${v}`, { field: k });
  }
  if (H % G !== 0) throw fail('E_SHAPE', `${op}: ${G} groups do not divide ${H} heads`, { field: 'nGroups' });
  if (a.pairing !== 'adjacent' && a.pairing !== 'halves') throw fail('E_ARGUMENT', `${op}: unknown pairing ${JSON.stringify(a.pairing)}`, { field: 'pairing' });
  if (a.x.shape.length !== 3) throw fail('E_SHAPE', `${op}: x must be [B, T, H·P], got [${a.x.shape}]`, { field: 'x' });
  const [batch, seq] = a.x.shape;
  if (a.angles.shape.length !== 3) throw fail('E_SHAPE', `${op}: angles must be [B, T, S], got [${a.angles.shape}]`, { field: 'angles' });
  const S = a.angles.shape[2];
  const maxAngles = a.pairing === 'adjacent' ? Math.floor(N / 2) : N % 2 === 0 ? N / 2 : 0;
  if (S > maxAngles) {
    throw fail('E_SHAPE', `${op}: ${S} rotary angles do not fit ${N} state dims with ${a.pairing} pairing`, { field: 'angles' });
  }
  expectShape(op, 'x', a.x, [batch, seq, H * P]);
  expectShape(op, 'z', a.z, [batch, seq, H * P]);
  expectShape(op, 'B', a.B, [batch, seq, R * G * N]);
  expectShape(op, 'C', a.C, [batch, seq, R * G * N]);
  expectShape(op, 'ddDt', a.ddDt, [batch, seq, H]);
  expectShape(op, 'ddA', a.ddA, [batch, seq, H]);
  expectShape(op, 'trap', a.trap, [batch, seq, H]);
  expectShape(op, 'angles', a.angles, [batch, seq, S]);
  expectShape(op, 'dtBias', a.dtBias, [H]);
  expectShape(op, 'BBias', a.BBias, [H, R, N]);
  expectShape(op, 'CBias', a.CBias, [H, R, N]);
  expectShape(op, 'D', a.D, [H]);
  if (a.mimo) {
    expectShape(op, 'mimo.x', a.mimo.x, [H, R, P]);
    expectShape(op, 'mimo.z', a.mimo.z, [H, R, P]);
    expectShape(op, 'mimo.o', a.mimo.o, [H, R, P]);
  } else if (R !== 1) {
    throw fail('E_ARGUMENT', `${op}: rank ${R} needs the mimo projections`, { field: 'mimo' });
  }
  if (a.normWeight) expectShape(op, 'normWeight', a.normWeight, [H * P]);
  expectShape(op, 'angleState', a.angleState, [batch, H, S]);
  expectShape(op, 'ssmState', a.ssmState, [batch, H, P, N]);
  expectShape(op, 'kState', a.kState, [batch, R, H, N]);
  expectShape(op, 'vState', a.vState, [batch, H, P]);
  return { batch, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G, rank: R, angles: S };
}

// ---- attention family --------------------------------------------------------------------------

export function checkRope(a: RopeArgs): { rows: number; pairs: number } {
  const op = 'rope';
  if (a.x.shape.length !== 3) throw fail('E_SHAPE', `${op}: x must be [B, T, H·Dh], got [${a.x.shape}]`, { field: 'x' });
  const [batch, seq] = a.x.shape;
  expectShape(op, 'x', a.x, [batch, seq, a.numHeads * a.headDim]);
  const pairs = a.invFreq.length;
  if (2 * pairs > a.headDim) throw fail('E_SHAPE', `${op}: ${pairs} rotary pairs do not fit head_dim ${a.headDim}`, { field: 'invFreq' });
  if (!Number.isInteger(a.position) || a.position < 0) throw fail('E_ARGUMENT', `${op}: position must be a non-negative integer, got ${a.position}`, { field: 'position' });
  return { rows: batch * seq * a.numHeads, pairs };
}

export function checkAttention(a: AttentionArgs): { batch: number; seq: number; past: number } {
  const op = 'attention';
  const { numHeads: H, numKvHeads: G, headDim: Dh, cache } = a;
  if (a.q.shape.length !== 3) throw fail('E_SHAPE', `${op}: q must be [B, T, Hq·Dh], got [${a.q.shape}]`, { field: 'q' });
  if (G <= 0 || H % G !== 0) throw fail('E_SHAPE', `${op}: ${G} kv heads do not divide ${H} query heads`, { field: 'numKvHeads' });
  const [batch, seq] = a.q.shape;
  expectShape(op, 'q', a.q, [batch, seq, H * Dh]);
  expectShape(op, 'k', a.k, [batch, seq, G * Dh]);
  expectShape(op, 'v', a.v, [batch, seq, G * Dh]);
  if (cache.batch !== batch || cache.kvHeads !== G || cache.headDim !== Dh) {
    throw fail('E_SHAPE', `${op}: cache is for [${cache.batch}, ${cache.kvHeads}, ·, ${cache.headDim}], the call is [${batch}, ${G}, ·, ${Dh}]`, { field: 'cache' });
  }
  if (cache.length + seq > cache.maxTokens) {
    throw fail('E_MEMORY', `${op}: the KV cache holds at most ${cache.maxTokens} tokens (its memory cap); ${cache.length} + ${seq} would exceed it`, { field: 'maxMemoryBytes' });
  }
  return { batch, seq, past: cache.length };
}

export function checkKvData(cache: KvCache, k: Float32Array, v: Float32Array, length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > cache.maxTokens) {
    throw fail('E_STATE', `KV cache: length ${length} is not in [0, ${cache.maxTokens}]`, { field: 'length' });
  }
  const n = cache.batch * cache.kvHeads * length * cache.headDim;
  if (k.length !== n || v.length !== n) throw fail('E_STATE', `KV cache: ${k.length} / ${v.length} values for ${length} tokens, expected ${n}`, { field: 'length' });
}

export function checkMoe(a: MoeArgs): { rows: number; dim: number; experts: number; inner: number } {
  const op = 'mixtureOfExperts';
  const dim = a.x.shape[a.x.shape.length - 1];
  if (a.router.shape.length !== 2 || a.router.shape[1] !== dim) throw fail('E_SHAPE', `${op}: router [${a.router.shape}] does not match x [${a.x.shape}]`, { field: 'router' });
  const experts = a.router.shape[0];
  if (a.gate.length !== experts || a.up.length !== experts || a.down.length !== experts) {
    throw fail('E_SHAPE', `${op}: ${experts} router rows but ${a.gate.length} / ${a.up.length} / ${a.down.length} experts`, { field: 'experts' });
  }
  if (!Number.isInteger(a.topK) || a.topK < 1 || a.topK > experts) throw fail('E_ARGUMENT', `${op}: topK ${a.topK} is not in [1, ${experts}]`, { field: 'topK' });
  const inner = a.gate[0].shape[0];
  for (let e = 0; e < experts; e++) {
    expectShape(op, `gate[${e}]`, a.gate[e], [inner, dim]);
    expectShape(op, `up[${e}]`, a.up[e], [inner, dim]);
    expectShape(op, `down[${e}]`, a.down[e], [dim, inner]);
  }
  return { rows: numel(a.x.shape) / dim, dim, experts, inner };
}
