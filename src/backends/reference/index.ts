/**
 * The reference backend: plain TypeScript, written to be read, not to be fast.
 * It is the oracle every other backend is tested against, op by op, and it is
 * itself tested against Hugging Face transformers goldens (test/fixtures/goldens).
 *
 * Accumulations use JS numbers (f64); stored activations are f32, as on every backend.
 * Weights may be stored as f16/bf16 bit patterns and are widened on read.
 */
import type { BackendInfo } from '../../api/types.js';
import { fail } from '../../errors.js';
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from '../../formats/half.js';
import {
  OP_NAMES, numel,
  type Backend, type Conv1dArgs, type LtiScanArgs, type OpName, type RecurrentScanArgs, type SelectiveScanArgs, type SsdScanArgs,
  type Tensor, type WeightDType, type Mamba3ScanArgs,
} from '../backend.js';
import { mamba3Chunked, mamba3Recurrent, type Mamba3Arrays } from './mamba3.js';
import {
  checkConv1d, checkSelectiveScan, checkSsdScan, checkMatmul, checkSameShape, checkRowWeight, checkLtiScan, checkRecurrentScan,
  checkMamba3Scan,
  checkAttention, checkKvData, checkMoe, checkOneToken, checkRope,
} from '../shape-checks.js';
import { grownCapacity, type AttentionArgs, type KvCache, type MoeArgs, type RopeArgs } from '../backend.js';
import { routeTopK, ropeTables } from '../attention-math.js';

/** K and V blocks [B, Hkv, capacity, Dh] in host memory, grown by doubling. */
class RefKvCache implements KvCache {
  length = 0;
  k: Float32Array;
  v: Float32Array;
  constructor(readonly batch: number, readonly kvHeads: number, readonly headDim: number, public capacity: number, readonly maxTokens: number) {
    this.k = new Float32Array(batch * kvHeads * capacity * headDim);
    this.v = new Float32Array(this.k.length);
  }

  /** Room for `needed` tokens: a new block of the grown capacity, the held rows copied once. */
  reserve(needed: number): void {
    if (needed <= this.capacity) return;
    const cap = grownCapacity(this.capacity, needed, this.maxTokens);
    const { batch: B, kvHeads: G, headDim: Dh } = this;
    for (const which of ['k', 'v'] as const) {
      const old = this[which];
      const next = new Float32Array(B * G * cap * Dh);
      for (let bg = 0; bg < B * G; bg++) next.set(old.subarray(bg * this.capacity * Dh, (bg * this.capacity + this.length) * Dh), bg * cap * Dh);
      this[which] = next;
    }
    this.capacity = cap;
  }
}

class RefTensor implements Tensor {
  constructor(
    readonly shape: readonly number[],
    readonly dtype: WeightDType,
    /** f32 values, or raw 16-bit patterns for f16 / bf16 storage. */
    readonly data: Float32Array | Uint16Array,
  ) {}
}

/** Widen element `i` of any stored tensor to a number. */
function valueAt(t: RefTensor, i: number): number {
  switch (t.dtype) {
    case 'f32': return (t.data as Float32Array)[i];
    case 'f16': return f16ToF32((t.data as Uint16Array)[i]);
    case 'bf16': return bf16ToF32((t.data as Uint16Array)[i]);
    default: throw fail('E_DTYPE', `reference backend cannot read ${t.dtype} tensors`);
  }
}

/** Row `r` of a 2-D weight as f32 (a view when stored in f32). */
function weightRow(t: RefTensor, r: number, cols: number, scratch: Float32Array): Float32Array {
  if (t.dtype === 'f32') return (t.data as Float32Array).subarray(r * cols, (r + 1) * cols);
  for (let k = 0; k < cols; k++) scratch[k] = valueAt(t, r * cols + k);
  return scratch;
}

function f32(t: Tensor): Float32Array {
  const rt = t as RefTensor;
  if (rt.dtype !== 'f32') throw fail('E_DTYPE', `expected an f32 tensor, got ${rt.dtype}`);
  return rt.data as Float32Array;
}

/** torch.nn.functional.softplus with its default threshold 20 (linear above it). */
export function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * erfc to ~1e-14 relative, without cancellation in either tail: the Maclaurin series of erf
 * below 3, erfc's continued fraction above, erfc(−x) = 2 − erfc(x).
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) {
    let term = x, sum = x;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * sum; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (x > 27) return 0;
  // erfc(x) = exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** torch.nn.GELU() (approximate='none'): x·Φ(x) = x/2 · erfc(−x/√2). */
export function gelu(x: number): number {
  return 0.5 * x * erfc(-x / Math.SQRT2);
}

const SUPPORTED: ReadonlySet<OpName> = new Set(OP_NAMES);

export class ReferenceBackend implements Backend {
  readonly name = 'reference' as const;
  readonly info: BackendInfo = { name: 'reference', threads: 1 };

  supportsOp(op: OpName): boolean {
    return SUPPORTED.has(op);
  }

  supportsDType(dtype: WeightDType): boolean {
    return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
  }

  // ---- buffers -------------------------------------------------------------

  bytesFor(shape: readonly number[], dtype: WeightDType): number {
    const n = numel(shape);
    if (dtype === 'f32') return n * 4;
    if (dtype === 'f16' || dtype === 'bf16') return n * 2;
    throw fail('E_DTYPE', `reference backend does not store ${dtype}`);
  }

  upload(data: Float32Array, shape: readonly number[], dtype: WeightDType = 'f32'): Tensor {
    if (data.length !== numel(shape)) throw fail('E_SHAPE', `upload: ${data.length} values for shape [${shape}]`);
    if (dtype === 'f32') return new RefTensor([...shape], 'f32', Float32Array.from(data));
    if (dtype === 'f16' || dtype === 'bf16') {
      const encode = dtype === 'f16' ? f32ToF16 : f32ToBf16;
      const bits = new Uint16Array(data.length);
      for (let i = 0; i < data.length; i++) bits[i] = encode(data[i]);
      return new RefTensor([...shape], dtype, bits);
    }
    throw fail('E_DTYPE', `reference backend does not store ${dtype}`);
  }

  zeros(shape: readonly number[]): Tensor {
    return new RefTensor([...shape], 'f32', new Float32Array(numel(shape)));
  }

  write(t: Tensor, data: Float32Array): void {
    const dst = f32(t);
    if (data.length !== dst.length) throw fail('E_SHAPE', `write: ${data.length} values into [${t.shape}]`);
    dst.set(data);
  }

  async read(t: Tensor): Promise<Float32Array> {
    const rt = t as RefTensor;
    if (rt.dtype === 'f32') return Float32Array.from(rt.data as Float32Array);
    const out = new Float32Array(rt.data.length);
    for (let i = 0; i < out.length; i++) out[i] = valueAt(rt, i);
    return out;
  }

  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const rt = t as RefTensor;
    if (numel(shape) !== numel(rt.shape)) throw fail('E_SHAPE', `reshape [${rt.shape}] → [${shape}] changes the element count`);
    return new RefTensor([...shape], rt.dtype, rt.data);
  }

  sliceRows(t: Tensor, start: number, count: number): Tensor {
    const rt = t as RefTensor;
    const rows = rt.shape[0];
    if (start < 0 || count < 0 || start + count > rows) throw fail('E_SHAPE', `sliceRows ${start}+${count} of ${rows}`);
    const inner = numel(rt.shape.slice(1));
    const data = rt.data.slice(start * inner, (start + count) * inner);
    return new RefTensor([count, ...rt.shape.slice(1)], rt.dtype, data);
  }

  free(): void {
    // Garbage collected; nothing to release.
  }

  async dispose(): Promise<void> {}

  // ---- ops -----------------------------------------------------------------

  embedding(table: Tensor, ids: Int32Array): Tensor {
    const t = table as RefTensor;
    const [vocab, dim] = t.shape;
    const out = new Float32Array(ids.length * dim);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id < 0 || id >= vocab) throw fail('E_TOKEN', `token id ${id} is outside the vocabulary [0, ${vocab})`);
      for (let d = 0; d < dim; d++) out[i * dim + d] = valueAt(t, id * dim + d);
    }
    return new RefTensor([ids.length, dim], 'f32', out);
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const dim = checkRowWeight('rmsNorm', x, weight);
    const xs = f32(x);
    const w = f32(weight);
    const out = new Float32Array(xs.length);
    for (let r = 0; r < xs.length / dim; r++) {
      let sumSq = 0;
      for (let d = 0; d < dim; d++) sumSq += xs[r * dim + d] ** 2;
      const inv = 1 / Math.sqrt(sumSq / dim + eps);
      for (let d = 0; d < dim; d++) out[r * dim + d] = w[d] * (xs[r * dim + d] * inv);
    }
    return new RefTensor(x.shape, 'f32', out);
  }

  gatedRmsNorm(x: Tensor, gate: Tensor, weight: Tensor, eps: number, groupSize: number): Tensor {
    const dim = checkRowWeight('gatedRmsNorm', x, weight);
    checkSameShape('gatedRmsNorm', x, gate);
    if (groupSize <= 0 || dim % groupSize !== 0) throw fail('E_SHAPE', `gatedRmsNorm: group size ${groupSize} does not divide ${dim}`);
    const xs = f32(x);
    const zs = f32(gate);
    const w = f32(weight);
    const out = new Float32Array(xs.length);
    const gated = new Float64Array(groupSize);
    for (let g0 = 0; g0 < xs.length; g0 += groupSize) {
      let sumSq = 0;
      for (let k = 0; k < groupSize; k++) {
        gated[k] = xs[g0 + k] * silu(zs[g0 + k]);
        sumSq += gated[k] ** 2;
      }
      const inv = 1 / Math.sqrt(sumSq / groupSize + eps);
      for (let k = 0; k < groupSize; k++) out[g0 + k] = w[(g0 + k) % dim] * (gated[k] * inv);
    }
    return new RefTensor(x.shape, 'f32', out);
  }

  matmul(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
    const { rows, inner, outCols } = checkMatmul(x, w, bias);
    const xs = f32(x);
    const wt = w as RefTensor;
    const b = bias ? f32(bias) : null;
    const out = new Float32Array(rows * outCols);
    const scratch = new Float32Array(inner);
    for (let m = 0; m < outCols; m++) {
      const wRow = weightRow(wt, m, inner, scratch);
      for (let r = 0; r < rows; r++) {
        let acc = b ? b[m] : 0;
        const xOff = r * inner;
        for (let k = 0; k < inner; k++) acc += xs[xOff + k] * wRow[k];
        out[r * outCols + m] = acc;
      }
    }
    return new RefTensor([...x.shape.slice(0, -1), outCols], 'f32', out);
  }

  add(a: Tensor, b: Tensor): Tensor {
    checkSameShape('add', a, b);
    const as = f32(a);
    const bs = f32(b);
    const out = new Float32Array(as.length);
    for (let i = 0; i < out.length; i++) out[i] = as[i] + bs[i];
    return new RefTensor(a.shape, 'f32', out);
  }

  /**
   * Causal depthwise conv: y[t] = bias + Σ_k w[k]·s[t+k] over s = state ++ x
   * (HF: nn.Conv1d(groups=C, padding=K−1)(x)[..., :T]); the new state is the last K−1 of s.
   */
  conv1dCausal(args: Conv1dArgs): Tensor {
    const { batch, seq, channels, kernel } = checkConv1d(args);
    const xs = f32(args.x);
    const w = f32(args.weight);
    const bias = args.bias ? f32(args.bias) : null;
    const state = f32(args.state);
    const hist = kernel - 1;
    const out = new Float32Array(xs.length);
    const window = new Float64Array(hist + seq);
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < channels; c++) {
        const sOff = (b * channels + c) * hist;
        for (let k = 0; k < hist; k++) window[k] = state[sOff + k];
        for (let t = 0; t < seq; t++) window[hist + t] = xs[(b * seq + t) * channels + c];
        for (let t = 0; t < seq; t++) {
          let acc = bias ? bias[c] : 0;
          for (let k = 0; k < kernel; k++) acc += w[c * kernel + k] * window[t + k];
          out[(b * seq + t) * channels + c] = args.silu ? silu(acc) : acc;
        }
        for (let k = 0; k < hist; k++) state[sOff + k] = window[seq + k];
      }
    }
    return new RefTensor(args.x.shape, 'f32', out);
  }

  conv1dCausalStep(args: Conv1dArgs): Tensor {
    checkOneToken('conv1dCausalStep', args.x.shape[1]);
    return this.conv1dCausal(args);
  }

  /**
   * Mamba-1 selective scan (Gu & Dao 2023, Alg. 2; HF MambaMixer.slow_forward):
   *   Δ = softplus(dt + dt_bias);  h ← exp(Δ·A) ⊙ h + Δ·B·x;  y = C·h + D·x;  y ← y · silu(z)
   */
  selectiveScan(args: SelectiveScanArgs): Tensor {
    const { batch, seq, inner, stateSize } = checkSelectiveScan(args);
    const x = f32(args.x), dt = f32(args.dt), dtBias = f32(args.dtBias), A = f32(args.A);
    const Bm = f32(args.B), Cm = f32(args.C), D = f32(args.D), z = f32(args.z), h = f32(args.state);
    const y = new Float32Array(batch * seq * inner);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < inner; i++) {
        const hOff = (b * inner + i) * stateSize;
        for (let t = 0; t < seq; t++) {
          const row = b * seq + t;
          const xv = x[row * inner + i];
          const delta = softplus(dt[row * inner + i] + dtBias[i]);
          let acc = 0;
          for (let n = 0; n < stateSize; n++) {
            const hn = Math.exp(delta * A[i * stateSize + n]) * h[hOff + n] + delta * Bm[row * stateSize + n] * xv;
            h[hOff + n] = hn;
            acc += hn * Cm[row * stateSize + n];
          }
          y[row * inner + i] = (acc + D[i] * xv) * silu(z[row * inner + i]);
        }
      }
    }
    return new RefTensor([batch, seq, inner], 'f32', y);
  }

  selectiveScanStep(args: SelectiveScanArgs): Tensor {
    checkOneToken('selectiveScanStep', args.x.shape[1]);
    return this.selectiveScan(args);
  }

  /**
   * Mamba-2 SSD in its chunked matrix form (Dao & Gu 2024, §6 / "ssd_minimal"; HF Mamba2Mixer.torch_forward):
   * within a chunk of L tokens, with a_t = cumsum(Δ·A) and Δ = clamp(softplus(dt + dt_bias)),
   *   y_t = Σ_{s≤t} (C_t·B_s) · exp(a_t − a_s) · Δ_s · x_s      (intra-chunk, quadratic in L)
   *       + exp(a_t) · C_t · h_prev                             (carried state)
   *       + D · x_t
   *   h_next = exp(a_L) · h_prev + Σ_s exp(a_L − a_s) · Δ_s · x_s ⊗ B_s
   */
  ssdChunkScan(args: SsdScanArgs): Tensor {
    const dims = checkSsdScan(args);
    const { batch, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G } = dims;
    const x = f32(args.x), dtRaw = f32(args.dt), dtBias = f32(args.dtBias), A = f32(args.A);
    const Bm = f32(args.B), Cm = f32(args.C), D = f32(args.D), h = f32(args.state);
    const L = Math.max(1, args.chunkSize);
    const headsPerGroup = H / G;
    const y = new Float32Array(batch * seq * H * P);
    const delta = new Float64Array(L);
    const acum = new Float64Array(L);
    const weight = new Float64Array(L);
    const CB = new Float64Array(L * L);
    for (let b = 0; b < batch; b++) {
      for (let hd = 0; hd < H; hd++) {
        const g = Math.floor(hd / headsPerGroup);
        const hOff = (b * H + hd) * P * N;
        for (let c0 = 0; c0 < seq; c0 += L) {
          const len = Math.min(L, seq - c0);
          const bOff = (t: number) => ((b * seq + c0 + t) * G + g) * N; // B_t / C_t of this head's group
          const xOff = (t: number) => ((b * seq + c0 + t) * H + hd) * P;
          let a = 0;
          for (let t = 0; t < len; t++) {
            const raw = dtRaw[(b * seq + c0 + t) * H + hd] + dtBias[hd];
            delta[t] = Math.min(Math.max(softplus(raw), args.dtMin), args.dtMax);
            a += delta[t] * A[hd];
            acum[t] = a;
          }
          for (let t = 0; t < len; t++) {
            for (let s = 0; s <= t; s++) {
              let dot = 0;
              for (let n = 0; n < N; n++) dot += Cm[bOff(t) + n] * Bm[bOff(s) + n];
              CB[t * L + s] = dot * Math.exp(acum[t] - acum[s]) * delta[s];
            }
          }
          for (let t = 0; t < len; t++) {
            const decay = Math.exp(acum[t]);
            for (let p = 0; p < P; p++) {
              let acc = 0;
              for (let s = 0; s <= t; s++) acc += CB[t * L + s] * x[xOff(s) + p];
              let carried = 0;
              for (let n = 0; n < N; n++) carried += Cm[bOff(t) + n] * h[hOff + p * N + n];
              y[xOff(t) + p] = acc + decay * carried + D[hd] * x[xOff(t) + p];
            }
          }
          const total = acum[len - 1];
          // weight[s] = exp(a_L − a_s)·Δ_s: how much token s still contributes at the chunk's end
          for (let s = 0; s < len; s++) weight[s] = Math.exp(total - acum[s]) * delta[s];
          const carry = Math.exp(total);
          for (let p = 0; p < P; p++) {
            for (let n = 0; n < N; n++) {
              let acc = carry * h[hOff + p * N + n];
              for (let s = 0; s < len; s++) acc += weight[s] * x[xOff(s) + p] * Bm[bOff(s) + n];
              h[hOff + p * N + n] = acc;
            }
          }
        }
      }
    }
    return new RefTensor([batch, seq, H * P], 'f32', y);
  }

  /** Mamba-2 recurrent step: h ← exp(Δ·A)·h + Δ·x ⊗ B;  y = h·C + D·x (HF Mamba2Mixer cached branch). */
  ssdStep(args: SsdScanArgs): Tensor {
    const { batch, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G } = checkSsdScan(args);
    checkOneToken('ssdStep', seq);
    const x = f32(args.x), dtRaw = f32(args.dt), dtBias = f32(args.dtBias), A = f32(args.A);
    const Bm = f32(args.B), Cm = f32(args.C), D = f32(args.D), h = f32(args.state);
    const headsPerGroup = H / G;
    const y = new Float32Array(batch * H * P);
    for (let b = 0; b < batch; b++) {
      for (let hd = 0; hd < H; hd++) {
        const g = Math.floor(hd / headsPerGroup);
        const delta = Math.min(Math.max(softplus(dtRaw[b * H + hd] + dtBias[hd]), args.dtMin), args.dtMax);
        const decay = Math.exp(delta * A[hd]);
        const hOff = (b * H + hd) * P * N;
        const gOff = (b * G + g) * N;
        for (let p = 0; p < P; p++) {
          const xv = x[(b * H + hd) * P + p];
          let acc = 0;
          for (let n = 0; n < N; n++) {
            const hn = decay * h[hOff + p * N + n] + delta * xv * Bm[gOff + n];
            h[hOff + p * N + n] = hn;
            acc += hn * Cm[gOff + n];
          }
          y[(b * H + hd) * P + p] = acc + D[hd] * xv;
        }
      }
    }
    return new RefTensor([batch, 1, H * P], 'f32', y);
  }

  /**
   * torch.nn.RNN / LSTM / GRU, one layer over T tokens (PyTorch's documented equations; gate
   * blocks in weight order: LSTM i,f,g,o; GRU r,z,n). xg already holds x·W_ihᵀ + b_ih.
   */
  recurrentScan(args: RecurrentScanArgs): Tensor {
    const { batch, seq, hidden: H, out: R, gates: G } = checkRecurrentScan(args);
    const xg = f32(args.xg), bHH = args.bHH ? f32(args.bHH) : null;
    const W = args.wHH as RefTensor, WR = args.wHR as RefTensor | null; // weights may be f16 / bf16
    const h = f32(args.h), c = args.c ? f32(args.c) : null;
    const y = new Float32Array(batch * seq * R);
    const hh = new Float64Array(G * H); //   W_hh·h + b_hh
    const hNew = new Float64Array(H); //     h (or h̃ before the projection)
    const scratch = new Float32Array(Math.max(R, H));
    for (let b = 0; b < batch; b++) {
      const hb = h.subarray(b * R, (b + 1) * R);
      for (let t = 0; t < seq; t++) {
        const row = (b * seq + t) * G * H;
        for (let r = 0; r < G * H; r++) {
          const w = weightRow(W, r, R, scratch);
          let acc = bHH ? bHH[r] : 0;
          for (let k = 0; k < R; k++) acc += w[k] * hb[k];
          hh[r] = acc;
        }
        const x = (gate: number, j: number) => xg[row + gate * H + j];
        for (let j = 0; j < H; j++) {
          switch (args.cell) {
            case 'rnn_tanh': hNew[j] = Math.tanh(x(0, j) + hh[j]); break;
            case 'rnn_relu': hNew[j] = Math.max(0, x(0, j) + hh[j]); break;
            case 'lstm': {
              const i = sigmoid(x(0, j) + hh[j]);
              const f = sigmoid(x(1, j) + hh[H + j]);
              const g = Math.tanh(x(2, j) + hh[2 * H + j]);
              const o = sigmoid(x(3, j) + hh[3 * H + j]);
              const cj = f * c![b * H + j] + i * g;
              c![b * H + j] = cj;
              hNew[j] = o * Math.tanh(cj);
              break;
            }
            case 'gru': {
              const r = sigmoid(x(0, j) + hh[j]);
              const z = sigmoid(x(1, j) + hh[H + j]);
              const n = Math.tanh(x(2, j) + r * hh[2 * H + j]);
              hNew[j] = (1 - z) * n + z * hb[j];
              break;
            }
          }
        }
        const yOff = (b * seq + t) * R;
        for (let k = 0; k < R; k++) {
          if (!WR) { y[yOff + k] = hNew[k]; continue; }
          const w = weightRow(WR, k, H, scratch);
          let acc = 0;
          for (let j = 0; j < H; j++) acc += w[j] * hNew[j];
          y[yOff + k] = acc;
        }
        hb.set(y.subarray(yOff, yOff + R));
      }
    }
    return new RefTensor([batch, seq, R], 'f32', y);
  }

  recurrentScanStep(args: RecurrentScanArgs): Tensor {
    checkOneToken('recurrentScanStep', args.xg.shape[1]);
    return this.recurrentScan(args);
  }

  /**
   * S4D's diagonal LTI SSM in recurrent form (complex s per channel and mode, planar [re | im]):
   *   s ← dA·s + x;   y = Re(Σ Cbar·s) + D·x;   y ← gelu(y)
   */
  ltiScan(args: LtiScanArgs): Tensor {
    const { batch, seq, channels: H, modes: M } = checkLtiScan(args);
    const x = f32(args.x), dA = f32(args.dA), C = f32(args.C), D = f32(args.D), s = f32(args.state);
    const y = new Float32Array(batch * seq * H);
    for (let b = 0; b < batch; b++) {
      for (let ch = 0; ch < H; ch++) {
        const p = ch * 2 * M; //             dA, C row
        const q = (b * H + ch) * 2 * M; //   state row
        for (let t = 0; t < seq; t++) {
          const i = (b * seq + t) * H + ch;
          const u = x[i];
          let acc = D[ch] * u;
          for (let m = 0; m < M; m++) {
            const ar = dA[p + m], ai = dA[p + M + m];
            const sr = s[q + m], si = s[q + M + m];
            const nr = ar * sr - ai * si + u;
            const ni = ar * si + ai * sr;
            s[q + m] = nr;
            s[q + M + m] = ni;
            acc += C[p + m] * nr - C[p + M + m] * ni;
          }
          y[i] = args.gelu ? gelu(acc) : acc;
        }
      }
    }
    return new RefTensor([batch, seq, H], 'f32', y);
  }

  ltiScanStep(args: LtiScanArgs): Tensor {
    checkOneToken('ltiScanStep', args.x.shape[1]);
    return this.ltiScan(args);
  }

  glu(a: Tensor, gate: Tensor): Tensor {
    checkSameShape('glu', a, gate);
    const as = f32(a), gs = f32(gate);
    const out = new Float32Array(as.length);
    for (let i = 0; i < out.length; i++) out[i] = as[i] * sigmoid(gs[i]);
    return new RefTensor(a.shape, 'f32', out);
  }

  // ---- attention family ----------------------------------------------------------

  createKvCache(batch: number, kvHeads: number, headDim: number, opts: { maxTokens?: number; capacity?: number } = {}): KvCache {
    const maxTokens = opts.maxTokens ?? Infinity;
    return new RefKvCache(batch, kvHeads, headDim, Math.min(opts.capacity ?? 0, maxTokens), maxTokens);
  }

  async readKvCache(cache: KvCache): Promise<{ k: Float32Array; v: Float32Array }> {
    const c = cache as RefKvCache;
    const { batch: B, kvHeads: G, headDim: Dh, length: L, capacity: cap } = c;
    const k = new Float32Array(B * G * L * Dh), v = new Float32Array(k.length);
    for (let bg = 0; bg < B * G; bg++) {
      k.set(c.k.subarray(bg * cap * Dh, (bg * cap + L) * Dh), bg * L * Dh);
      v.set(c.v.subarray(bg * cap * Dh, (bg * cap + L) * Dh), bg * L * Dh);
    }
    return { k, v };
  }

  writeKvCache(cache: KvCache, k: Float32Array, v: Float32Array, length: number): void {
    const c = cache as RefKvCache;
    checkKvData(c, k, v, length);
    c.length = 0;
    c.reserve(length);
    const { batch: B, kvHeads: G, headDim: Dh, capacity: cap } = c;
    for (let bg = 0; bg < B * G; bg++) {
      c.k.set(k.subarray(bg * length * Dh, (bg + 1) * length * Dh), bg * cap * Dh);
      c.v.set(v.subarray(bg * length * Dh, (bg + 1) * length * Dh), bg * cap * Dh);
    }
    c.length = length;
  }

  truncateKvCache(cache: KvCache, length: number): void {
    const c = cache as RefKvCache;
    if (!Number.isInteger(length) || length < 0 || length > c.length) throw fail('E_ARGUMENT', `truncateKvCache: ${length} is not in [0, ${c.length}]`);
    c.length = length;
  }

  freeKvCache(): void {
    // Garbage collected.
  }

  kvCacheBytes(batch: number, kvHeads: number, headDim: number, capacity: number): number {
    return 2 * 4 * batch * kvHeads * capacity * headDim;
  }

  rope(args: RopeArgs): Tensor {
    const { rows, pairs: R } = checkRope(args);
    const [, seq] = args.x.shape;
    const { numHeads: H, headDim: Dh } = args;
    const { cos, sin } = ropeTables(args.invFreq, args.position, seq);
    const x = f32(args.x);
    const out = Float32Array.from(x);
    for (let row = 0; row < rows; row++) {
      const t = Math.floor(row / H) % seq;
      const o = row * Dh;
      for (let i = 0; i < R; i++) {
        const c = cos[t * R + i], s = sin[t * R + i];
        const a = x[o + i], b = x[o + R + i];
        out[o + i] = a * c - b * s; //     x·cos + rotate_half(x)·sin, first half: −x₂
        out[o + R + i] = b * c + a * s; // second half: +x₁
      }
    }
    return new RefTensor(args.x.shape, 'f32', out);
  }

  attention(args: AttentionArgs): Tensor {
    const { batch: B, seq: T, past: P } = checkAttention(args);
    const { numHeads: H, numKvHeads: G, headDim: Dh, scale } = args;
    const c = args.cache as RefKvCache;
    c.reserve(P + T);
    const cap = c.capacity;
    const q = f32(args.q), k = f32(args.k), v = f32(args.v);
    for (let b = 0; b < B; b++) {
      for (let g = 0; g < G; g++) {
        for (let t = 0; t < T; t++) {
          const src = ((b * T + t) * G + g) * Dh, dst = ((b * G + g) * cap + P + t) * Dh;
          c.k.set(k.subarray(src, src + Dh), dst);
          c.v.set(v.subarray(src, src + Dh), dst);
        }
      }
    }
    c.length = P + T;
    const y = new Float32Array(B * T * H * Dh);
    const scores = new Float64Array(P + T);
    const perKv = H / G;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const base = (b * G + Math.floor(h / perKv)) * cap * Dh;
        for (let t = 0; t < T; t++) {
          const qo = ((b * T + t) * H + h) * Dh;
          const n = P + t + 1; // causal: keys 0 .. P+t
          let max = -Infinity;
          for (let s = 0; s < n; s++) {
            let dot = 0;
            for (let d = 0; d < Dh; d++) dot += q[qo + d] * c.k[base + s * Dh + d];
            scores[s] = dot * scale;
            max = Math.max(max, scores[s]);
          }
          let sum = 0;
          for (let s = 0; s < n; s++) { scores[s] = Math.exp(scores[s] - max); sum += scores[s]; }
          for (let d = 0; d < Dh; d++) {
            let acc = 0;
            for (let s = 0; s < n; s++) acc += scores[s] * c.v[base + s * Dh + d];
            y[qo + d] = acc / sum;
          }
        }
      }
    }
    return new RefTensor([B, T, H * Dh], 'f32', y);
  }

  attentionStep(args: AttentionArgs): Tensor {
    if (args.q.shape[1] !== 1) throw fail('E_SHAPE', `attentionStep takes one token, got T=${args.q.shape[1]}`);
    return this.attention(args);
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    checkSameShape('swiglu', gate, up);
    const g = f32(gate), u = f32(up);
    const out = new Float32Array(g.length);
    for (let i = 0; i < out.length; i++) out[i] = silu(g[i]) * u[i];
    return new RefTensor(gate.shape, 'f32', out);
  }

  relu2(x: Tensor): Tensor {
    const xs = f32(x);
    const out = new Float32Array(xs.length);
    for (let i = 0; i < out.length; i++) out[i] = xs[i] > 0 ? xs[i] * xs[i] : 0;
    return new RefTensor(x.shape, 'f32', out);
  }

  mixtureOfExperts(args: MoeArgs): Tensor {
    const { rows, dim: D, experts: E } = checkMoe(args);
    const x2 = this.reshape(args.x, [rows, D]);
    const logits = f32(this.matmul(x2, args.router)); // [rows, E]
    const out = new Float32Array(rows * D);
    for (let r = 0; r < rows; r++) {
      const { index, weight } = routeTopK(logits, r * E, E, args.topK, args.normalize);
      const xr = this.sliceRows(x2, r, 1);
      index.forEach((e, j) => {
        const h = this.swiglu(this.matmul(xr, args.gate[e]), this.matmul(xr, args.up[e]));
        const y = f32(this.matmul(h, args.down[e]));
        for (let d = 0; d < D; d++) out[r * D + d] += weight[j] * y[d];
      });
    }
    return new RefTensor(args.x.shape, 'f32', out);
  }
  /** Mamba-3 prefill: the chunked form of mamba3_siso_fwd_ref / mamba3_MIMO_chunk_ref (./mamba3.ts). */
  mamba3Scan(args: Mamba3ScanArgs): Tensor {
    const d = checkMamba3Scan(args);
    const y = mamba3Chunked(args, d, mamba3Arrays(args));
    return new RefTensor([d.batch, d.seq, d.numHeads * d.headDim], 'f32', y);
  }

  /** Mamba-3 decode: the step form of mamba3_siso_step_ref / mamba3_MIMO_step_ref (./mamba3.ts). */
  mamba3Step(args: Mamba3ScanArgs): Tensor {
    const d = checkMamba3Scan(args);
    checkOneToken('mamba3Step', d.seq);
    const y = mamba3Recurrent(args, d, mamba3Arrays(args));
    return new RefTensor([d.batch, 1, d.numHeads * d.headDim], 'f32', y);
  }
}

function mamba3Arrays(a: Mamba3ScanArgs): Mamba3Arrays {
  return {
    x: f32(a.x), z: f32(a.z), B: f32(a.B), C: f32(a.C), ddDt: f32(a.ddDt), ddA: f32(a.ddA), trap: f32(a.trap), angles: f32(a.angles),
    dtBias: f32(a.dtBias), BBias: f32(a.BBias), CBias: f32(a.CBias), D: f32(a.D),
    mimo: a.mimo ? { x: f32(a.mimo.x), z: f32(a.mimo.z), o: f32(a.mimo.o) } : null,
    normWeight: a.normWeight ? f32(a.normWeight) : null,
    angleState: f32(a.angleState), ssmState: f32(a.ssmState), kState: f32(a.kState), vState: f32(a.vState),
  };
}
