/**
 * The recurrent lineage as language models: torch.nn.RNN (tanh / relu), nn.LSTM (with or
 * without proj_size) and nn.GRU, multi-layer, with or without bias — model_type "rnn",
 * "lstm", "gru". The checkpoint is the state dict of
 *
 *   embedding = nn.Embedding(vocab_size, embedding_size)
 *   rnn       = nn.RNN | nn.LSTM | nn.GRU(embedding_size, hidden_size, num_layers, bias=…, batch_first=True, …)
 *   head      = nn.Linear(proj_size or hidden_size, vocab_size, bias=head_bias)   (weight tied to embedding if asked)
 *
 * saved as safetensors (docs/lineage.md). Per layer, the input projection of all T tokens is one
 * matmul (xg = x·W_ihᵀ + b_ih); the recurrence is the backend's `recurrentScan`, which carries
 * h (and the LSTM's c) in place — that pair per layer is the whole session state.
 */
import { fail, throwIfAborted } from '../errors.js';
import type { ModelConfig } from '../api/types.js';
import { gatesOf, type RecurrentCell, type Tensor } from '../backends/backend.js';
import type { ConfigReader } from '../formats/hf-config.js';
import type { ModelGraph, TensorSpec } from './graph.js';
import { checkFields, checkTie, headSpecs } from './lineage.js';

export type RecurrentType = 'rnn' | 'lstm' | 'gru';

export interface RecurrentConfig extends ModelConfig {
  architecture: RecurrentType;
  cell: RecurrentCell;
  /** E: embedding width, the first layer's input_size. */
  embeddingSize: number;
  /** H: torch's hidden_size, the width of each cell (`intermediateSize` is G·H, the gate width). */
  cellSize: number;
  /** P: the LSTM's proj_size, 0 for none. The output width `hiddenSize` is P or H. */
  projSize: number;
  bias: boolean;
  headBias: boolean;
  tieWordEmbeddings: boolean;
}

interface RecurrentLayer {
  wIH: Tensor; bIH: Tensor | null;
  wHH: Tensor; bHH: Tensor | null;
  wHR: Tensor | null;
}

export interface RecurrentWeights {
  embedding: Tensor;
  layers: RecurrentLayer[];
  head: Tensor;
  headBias: Tensor | null;
}

const FIELDS = ['embedding_size', 'hidden_size', 'num_layers', 'bias', 'tie_word_embeddings', 'head_bias', 'dropout', 'bidirectional'];

/** The state dict names of layer k's parameters (torch's `weight_ih_l{k}` …, under the `rnn.` module). */
export const rnnParam = (kind: 'weight_ih' | 'weight_hh' | 'bias_ih' | 'bias_hh' | 'weight_hr', k: number) => `rnn.${kind}_l${k}`;

function parseRecurrentConfig(r: ConfigReader, modelType: RecurrentType): RecurrentConfig {
  const own = modelType === 'rnn' ? ['nonlinearity'] : modelType === 'lstm' ? ['proj_size'] : [];
  checkFields(r, [...FIELDS, ...own], {
    nonlinearity: `only "rnn" has a nonlinearity choice; ${modelType === 'lstm' ? 'LSTM' : 'GRU'} gates are fixed`,
    proj_size: 'proj_size exists only for "lstm"',
    state_size: 'recurrent cells have no state_size: the state is h (and c) of width hidden_size',
  });
  if (r.bool('bidirectional', false)) {
    throw fail('E_CONFIG', `${r.file}: field "bidirectional" must be false: a bidirectional layer reads the future and cannot stream`, { file: r.file, field: 'bidirectional' });
  }
  r.num('dropout', { default: 0, min: 0, max: 1 }); // training only: inference ignores it, as torch's eval() does
  let cell: RecurrentCell = modelType === 'rnn' ? 'rnn_tanh' : modelType;
  if (modelType === 'rnn') {
    const act = r.str('nonlinearity', 'tanh');
    if (act !== 'tanh' && act !== 'relu') throw fail('E_CONFIG', `${r.file}: field "nonlinearity" must be "tanh" or "relu", got ${JSON.stringify(act)}`, { file: r.file, field: 'nonlinearity' });
    cell = act === 'tanh' ? 'rnn_tanh' : 'rnn_relu';
  }
  const vocabSize = r.int('vocab_size');
  const cellSize = r.int('hidden_size', { max: 1 << 16 });
  const embeddingSize = r.int('embedding_size', { default: cellSize, max: 1 << 16 });
  const projSize = modelType === 'lstm' ? r.int('proj_size', { default: 0, min: 0, max: 1 << 16 }) : 0;
  if (projSize >= cellSize) {
    throw fail('E_CONFIG', `${r.file}: field "proj_size" (${projSize}) must be smaller than hidden_size (${cellSize}), as torch.nn.LSTM requires`, { file: r.file, field: 'proj_size' });
  }
  const out = projSize || cellSize;
  const tieWordEmbeddings = r.bool('tie_word_embeddings', false);
  checkTie(r, tieWordEmbeddings, embeddingSize, out, projSize ? 'proj_size' : 'hidden_size');
  return {
    architecture: modelType,
    cell,
    vocabSize,
    hiddenSize: out,
    numLayers: r.int('num_layers', { max: 4096 }),
    stateSize: modelType === 'lstm' ? 2 : 1, // state vectors per layer: h (and c)
    convKernel: 0,
    intermediateSize: gatesOf(cell) * cellSize, // G·H: the gate pre-activations, the widest activation per token
    eosTokenId: r.tokenId('eos_token_id', vocabSize),
    raw: r.raw,
    embeddingSize,
    cellSize,
    projSize,
    bias: r.bool('bias', true),
    headBias: r.bool('head_bias', true),
    tieWordEmbeddings,
  };
}

function tensors(c: RecurrentConfig): TensorSpec[] {
  const G = gatesOf(c.cell), H = c.cellSize, out = c.hiddenSize;
  const specs: TensorSpec[] = [{ name: 'embedding.weight', shape: [c.vocabSize, c.embeddingSize], matrix: true }];
  for (let k = 0; k < c.numLayers; k++) {
    const inputSize = k === 0 ? c.embeddingSize : out;
    specs.push({ name: rnnParam('weight_ih', k), shape: [G * H, inputSize], matrix: true });
    specs.push({ name: rnnParam('weight_hh', k), shape: [G * H, out], matrix: true });
    if (c.bias) {
      specs.push({ name: rnnParam('bias_ih', k), shape: [G * H], matrix: false });
      specs.push({ name: rnnParam('bias_hh', k), shape: [G * H], matrix: false });
    }
    if (c.projSize) specs.push({ name: rnnParam('weight_hr', k), shape: [c.projSize, H], matrix: true });
  }
  return [...specs, ...headSpecs(c.vocabSize, out, c.tieWordEmbeddings, c.headBias)];
}

export function recurrentGraph(modelType: RecurrentType): ModelGraph<RecurrentConfig, RecurrentWeights> {
  return {
    modelType,
    requiredOps: ['embedding', 'matmul', 'recurrentScan', 'recurrentScanStep'],
    parseConfig: (r) => parseRecurrentConfig(r, modelType),
    tensors,
    // torch's state_dict holds the tied head under its own name too.
    ignorable: (c) => (c.tieWordEmbeddings ? ['head.weight'] : []),

    prepare(c, b, get, dtype) {
      const G = gatesOf(c.cell), H = c.cellSize, out = c.hiddenSize;
      const embedding = b.upload(get('embedding.weight'), [c.vocabSize, c.embeddingSize], dtype);
      const layers: RecurrentLayer[] = [];
      for (let k = 0; k < c.numLayers; k++) {
        const inputSize = k === 0 ? c.embeddingSize : out;
        layers.push({
          wIH: b.upload(get(rnnParam('weight_ih', k)), [G * H, inputSize], dtype),
          bIH: c.bias ? b.upload(get(rnnParam('bias_ih', k)), [G * H]) : null,
          wHH: b.upload(get(rnnParam('weight_hh', k)), [G * H, out], dtype),
          bHH: c.bias ? b.upload(get(rnnParam('bias_hh', k)), [G * H]) : null,
          wHR: c.projSize ? b.upload(get(rnnParam('weight_hr', k)), [c.projSize, H], dtype) : null,
        });
      }
      const head = c.tieWordEmbeddings ? embedding : b.upload(get('head.weight'), [c.vocabSize, out], dtype);
      const headBias = c.headBias ? b.upload(get('head.bias'), [c.vocabSize]) : null;
      return { embedding, layers, head, headBias };
    },

    stateShapes(c, batch) {
      const shapes: number[][] = [];
      for (let k = 0; k < c.numLayers; k++) {
        shapes.push([batch, c.hiddenSize]); //                  h (the projected h for proj_size)
        if (c.cell === 'lstm') shapes.push([batch, c.cellSize]); // c
      }
      return shapes;
    },

    prefillChunk: () => 256,

    forward({ backend: b, cfg: c, weights: w, state, batch, seq, signal }, ids) {
      const perLayer = c.cell === 'lstm' ? 2 : 1;
      let x = b.reshape(b.embedding(w.embedding, ids), [batch, seq, c.embeddingSize]); // [B, T, E]
      for (let k = 0; k < c.numLayers; k++) {
        throwIfAborted(signal, 'forward');
        const layer = w.layers[k];
        const xg = b.matmul(x, layer.wIH, layer.bIH); //                               [B, T, G·H]
        const args = {
          cell: c.cell, xg, wHH: layer.wHH, bHH: layer.bHH, wHR: layer.wHR,
          h: state[k * perLayer], c: perLayer === 2 ? state[k * perLayer + 1] : null,
        };
        const y = seq === 1 ? b.recurrentScanStep(args) : b.recurrentScan(args); //    [B, T, P or H]
        b.free(x, xg);
        x = y;
      }
      return x;
    },

    head: (w) => ({ weight: w.head, bias: w.headBias }),
  };
}
