/**
 * S4D (Gu et al. 2022, "On the Parameterization and Initialization of Diagonal State Space
 * Models"; state-spaces/s4 `models/s4/s4d.py`) and its gated variant, as a language model —
 * model_type "s4d" (`"gated": true` for the gated one). The block is ours (docs/lineage.md):
 *
 *   h = embedding(ids)                                                       [B, T, H]
 *   for each layer:  h = h + S4D(rmsnorm(h))
 *   logits = head(rmsnorm_f(h))
 *
 *   S4D(u):  y = K ∗ u + D·u          causal conv with the S4D kernel, per channel
 *            y = gelu(y)               exact (erf) GELU, torch nn.GELU()
 *            y = y ⊙ σ(W_g·u + b_g)    gated variant only: an input-dependent output gate
 *            y = GLU(W_o·y + b_o)      output_linear = Conv1d(H, 2H, 1) then GLU over channels
 *
 * The kernel (S4DKernel): Δ = exp(log_dt), A = −exp(log_A_real) + i·A_imag (M = N/2 modes per
 * channel), zero-order hold dA = exp(Δ·A), C' = C·(dA − 1)/A, K[k] = 2·Re(Σ_m C'_m · dA_m^k).
 * PyTorch convolves with K by FFT; this runtime runs the same LTI system as its recurrence
 * s ← dA·s + u, y = Re(Σ 2C'·s) + D·u (the backend's `ltiScan`), in prefill and step alike:
 * the complex s [H, M] per layer is the session state. `s4dConvKernel` gives K itself, so the
 * tests can check that the recurrence equals the convolution.
 */
import { fail, throwIfAborted } from '../errors.js';
import type { ModelConfig } from '../api/types.js';
import type { Tensor } from '../backends/backend.js';
import { rowBlock } from './mamba.js';
import type { ModelGraph, TensorSpec } from './graph.js';
import { checkFields, checkTie, headSpecs } from './lineage.js';

export interface S4dConfig extends ModelConfig {
  architecture: 's4d';
  /** The gated variant: y ← y ⊙ σ(W_g·u + b_g) before the output GLU. */
  gated: boolean;
  /** M = state_size / 2 complex modes per channel. */
  modes: number;
  normEps: number;
  headBias: boolean;
  tieWordEmbeddings: boolean;
}

interface S4dLayer {
  norm: Tensor;
  /** exp(Δ·A), planar [H, 2, M]. */
  dA: Tensor;
  /** 2·C·(exp(Δ·A) − 1)/A, planar [H, 2, M]. */
  C: Tensor;
  D: Tensor;
  gate: { weight: Tensor; bias: Tensor } | null;
  /** output_linear.0 split into the GLU's value half and gate half: [H, H] each. */
  outValue: Tensor; outValueBias: Tensor;
  outGate: Tensor; outGateBias: Tensor;
}

export interface S4dWeights {
  embedding: Tensor;
  layers: S4dLayer[];
  normF: Tensor;
  head: Tensor;
  headBias: Tensor | null;
}

const layer = (i: number) => `layers.${i}.`;
const mixer = (i: number) => `layers.${i}.mixer.`;

function tensors(c: S4dConfig): TensorSpec[] {
  const { vocabSize: V, hiddenSize: H, modes: M } = c;
  const specs: TensorSpec[] = [{ name: 'embedding.weight', shape: [V, H], matrix: true }];
  for (let i = 0; i < c.numLayers; i++) {
    const m = mixer(i);
    specs.push(
      { name: `${layer(i)}norm.weight`, shape: [H], matrix: false },
      { name: `${m}D`, shape: [H], matrix: false },
      { name: `${m}kernel.log_dt`, shape: [H], matrix: false },
      { name: `${m}kernel.C`, shape: [H, M, 2], matrix: false },
      { name: `${m}kernel.log_A_real`, shape: [H, M], matrix: false },
      { name: `${m}kernel.A_imag`, shape: [H, M], matrix: false },
    );
    if (c.gated) specs.push({ name: `${m}gate.weight`, shape: [H, H], matrix: true }, { name: `${m}gate.bias`, shape: [H], matrix: false });
    specs.push(
      { name: `${m}output_linear.0.weight`, shape: [2 * H, H, 1], matrix: true },
      { name: `${m}output_linear.0.bias`, shape: [2 * H], matrix: false },
    );
  }
  specs.push({ name: 'norm_f.weight', shape: [H], matrix: false });
  return [...specs, ...headSpecs(V, H, c.tieWordEmbeddings, c.headBias)];
}

/** The kernel's parameters for one layer, as stored (C as real pairs [H, M, 2]). */
export interface S4dKernelParams {
  logDt: Float32Array; C: Float32Array; logAReal: Float32Array; AImag: Float32Array;
}

/**
 * Zero-order-hold discretization, in f64: dA = exp(Δ·A) and the output weights 2·C·(dA − 1)/A,
 * both planar [H, 2, M] (the factor 2 and the "Re" of the kernel move into the weights).
 */
export function s4dDiscretize(p: S4dKernelParams, H: number, M: number): { dA: Float64Array; C: Float64Array } {
  const dA = new Float64Array(H * 2 * M);
  const Cb = new Float64Array(H * 2 * M);
  for (let h = 0; h < H; h++) {
    const dt = Math.exp(p.logDt[h]);
    for (let m = 0; m < M; m++) {
      const i = h * M + m;
      const ar = -Math.exp(p.logAReal[i]), ai = p.AImag[i]; //   A
      const mag = Math.exp(dt * ar);
      const er = mag * Math.cos(dt * ai), ei = mag * Math.sin(dt * ai); // exp(Δ·A)
      // C·(exp(ΔA) − 1)/A, times 2
      const cr = p.C[2 * i], ci = p.C[2 * i + 1];
      const nr = cr * (er - 1) - ci * ei, ni = cr * ei + ci * (er - 1);
      const den = ar * ar + ai * ai;
      const o = h * 2 * M + m;
      dA[o] = er;
      dA[o + M] = ei;
      Cb[o] = (2 * (nr * ar + ni * ai)) / den;
      Cb[o + M] = (2 * (ni * ar - nr * ai)) / den;
    }
  }
  return { dA, C: Cb };
}

/** S4DKernel.forward(L): K [H, L] with K[h, k] = Re(Σ_m Cbar · dA^k), in f64 (the convolution form). */
export function s4dConvKernel(p: S4dKernelParams, H: number, M: number, L: number): Float64Array {
  const { dA, C } = s4dDiscretize(p, H, M);
  const K = new Float64Array(H * L);
  for (let h = 0; h < H; h++) {
    for (let m = 0; m < M; m++) {
      const o = h * 2 * M + m;
      let pr = 1, pi = 0; // dA^k
      for (let k = 0; k < L; k++) {
        K[h * L + k] += C[o] * pr - C[o + M] * pi;
        const nr = pr * dA[o] - pi * dA[o + M];
        pi = pr * dA[o + M] + pi * dA[o];
        pr = nr;
      }
    }
  }
  return K;
}

export const s4dGraph: ModelGraph<S4dConfig, S4dWeights> = {
  modelType: 's4d',
  requiredOps: ['embedding', 'rmsNorm', 'matmul', 'add', 'glu', 'ltiScan', 'ltiScanStep'],

  parseConfig(r) {
    checkFields(r, ['hidden_size', 'num_layers', 'state_size', 'gated', 'norm_eps', 'tie_word_embeddings', 'head_bias'], {
      nonlinearity: 'S4D has no nonlinearity choice: its activation is GELU',
      proj_size: 'proj_size exists only for "lstm"',
      bias: 'S4D layers always have their output bias; the head bias is "head_bias"',
    });
    const vocabSize = r.int('vocab_size');
    const hiddenSize = r.int('hidden_size', { max: 1 << 16 });
    const stateSize = r.int('state_size', { default: 64, min: 2, max: 4096 });
    if (stateSize % 2 !== 0) {
      throw fail('E_CONFIG', `${r.file}: field "state_size" must be even (N/2 complex modes, as in S4DKernel), got ${stateSize}`, { file: r.file, field: 'state_size' });
    }
    const tieWordEmbeddings = r.bool('tie_word_embeddings', false);
    checkTie(r, tieWordEmbeddings, hiddenSize, hiddenSize, 'hidden_size');
    return {
      architecture: 's4d',
      vocabSize,
      hiddenSize,
      numLayers: r.int('num_layers', { max: 4096 }),
      stateSize,
      convKernel: 0,
      intermediateSize: 2 * hiddenSize, // the output GLU's input width
      eosTokenId: r.tokenId('eos_token_id', vocabSize),
      raw: r.raw,
      gated: r.bool('gated', false),
      modes: stateSize / 2,
      normEps: r.num('norm_eps', { default: 1e-5, min: 0 }),
      headBias: r.bool('head_bias', true),
      tieWordEmbeddings,
    };
  },

  tensors,
  ignorable: (c) => (c.tieWordEmbeddings ? ['head.weight'] : []),

  prepare(c, b, get, dtype) {
    const { vocabSize: V, hiddenSize: H, modes: M } = c;
    const embedding = b.upload(get('embedding.weight'), [V, H], dtype);
    const layers: S4dLayer[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const m = mixer(i);
      const { dA, C } = s4dDiscretize({
        logDt: get(`${m}kernel.log_dt`), C: get(`${m}kernel.C`), logAReal: get(`${m}kernel.log_A_real`), AImag: get(`${m}kernel.A_imag`),
      }, H, M);
      const out = get(`${m}output_linear.0.weight`); // [2H, H, 1]: rows [0, H) the GLU's value, [H, 2H) its gate
      const outBias = get(`${m}output_linear.0.bias`);
      layers.push({
        norm: b.upload(get(`${layer(i)}norm.weight`), [H]),
        dA: b.upload(Float32Array.from(dA), [H, 2, M]),
        C: b.upload(Float32Array.from(C), [H, 2, M]),
        D: b.upload(get(`${m}D`), [H]),
        gate: c.gated ? { weight: b.upload(get(`${m}gate.weight`), [H, H], dtype), bias: b.upload(get(`${m}gate.bias`), [H]) } : null,
        outValue: b.upload(rowBlock(out, H, 0, H), [H, H], dtype),
        outValueBias: b.upload(outBias.subarray(0, H), [H]),
        outGate: b.upload(rowBlock(out, H, H, H), [H, H], dtype),
        outGateBias: b.upload(outBias.subarray(H), [H]),
      });
    }
    const normF = b.upload(get('norm_f.weight'), [H]);
    const head = c.tieWordEmbeddings ? embedding : b.upload(get('head.weight'), [V, H], dtype);
    const headBias = c.headBias ? b.upload(get('head.bias'), [V]) : null;
    return { embedding, layers, normF, head, headBias };
  },

  stateShapes(c, batch) {
    return Array.from({ length: c.numLayers }, () => [batch, c.hiddenSize, 2, c.modes]); // complex s, planar
  },

  prefillChunk: () => 256,

  forward({ backend: b, cfg: c, weights: w, state, batch, seq, signal }, ids) {
    let h = b.reshape(b.embedding(w.embedding, ids), [batch, seq, c.hiddenSize]); // [B, T, H]
    for (let i = 0; i < c.numLayers; i++) {
      throwIfAborted(signal, 'forward');
      const L = w.layers[i];
      const u = b.rmsNorm(h, L.norm, c.normEps); //                                    [B, T, H]
      const args = { x: u, dA: L.dA, C: L.C, D: L.D, state: state[i], gelu: true };
      let y = seq === 1 ? b.ltiScanStep(args) : b.ltiScan(args); //                     gelu(K ∗ u + D·u)
      if (L.gate) {
        const g = b.matmul(u, L.gate.weight, L.gate.bias); //                          W_g·u + b_g
        const gated = b.glu(y, g); //                                                  y ⊙ σ(·)
        b.free(g, y);
        y = gated;
      }
      const value = b.matmul(y, L.outValue, L.outValueBias); //                        [B, T, H]
      const gate = b.matmul(y, L.outGate, L.outGateBias); //                           [B, T, H]
      const mixed = b.glu(value, gate); //                                             GLU(dim = channels)
      const next = b.add(h, mixed);
      b.free(u, y, value, gate, mixed, h);
      h = next;
    }
    const out = b.rmsNorm(h, w.normF, c.normEps);
    b.free(h);
    return out;
  },

  head: (w) => ({ weight: w.head, bias: w.headBias }),
};
