/**
 * What the lineage graphs (rnn.ts: Elman RNN / LSTM / GRU; s4d.ts: S4D and gated S4D) share:
 * their config.json is a small format of our own (docs/lineage.md), so it is read strictly —
 * a field the format does not have, or one that does not apply to this model_type, is an
 * E_CONFIG error naming it, never silently ignored.
 */
import { fail } from '../errors.js';
import type { ConfigReader } from '../formats/hf-config.js';
import type { TensorSpec } from './graph.js';

/** Fields every lineage config may hold besides its own. */
const COMMON_FIELDS = ['model_type', 'vocab_size', 'eos_token_id', 'bos_token_id', 'pad_token_id'];

/** Names people carry over from other formats, with the field this format spells them as. */
const RENAMED: Record<string, string> = {
  num_hidden_layers: 'num_layers',
  n_layer: 'num_layers',
  d_model: 'hidden_size',
  d_state: 'state_size',
  input_size: 'embedding_size',
  layer_norm_epsilon: 'norm_eps',
  tie_weights: 'tie_word_embeddings',
};

/**
 * Refuses any field outside `fields` (keys starting with "_" are comments and pass).
 * `notFor` maps a field of a sibling model_type to why it does not apply here.
 */
export function checkFields(r: ConfigReader, fields: readonly string[], notFor: Record<string, string> = {}): void {
  const known = new Set([...COMMON_FIELDS, ...fields]);
  for (const key of Object.keys(r.raw)) {
    if (known.has(key) || key.startsWith('_')) continue;
    const modelType = String(r.raw.model_type);
    // hasOwn: a key such as "toString" must not find Object.prototype's members.
    const why = (Object.hasOwn(notFor, key) ? notFor[key] : undefined)
      ?? (Object.hasOwn(RENAMED, key) && known.has(RENAMED[key]) ? `this format calls it "${RENAMED[key]}"` : `known fields: ${[...known].join(', ')}`);
    throw fail('E_CONFIG', `${r.file}: field "${key}" is not part of a "${modelType}" config (${why}); see docs/lineage.md`, { file: r.file, field: key });
  }
}

/** The language-model head: head.weight [V, D] unless tied to the embedding, head.bias [V] when present. */
export function headSpecs(vocab: number, width: number, tied: boolean, bias: boolean): TensorSpec[] {
  const specs: TensorSpec[] = [];
  if (!tied) specs.push({ name: 'head.weight', shape: [vocab, width], matrix: true });
  if (bias) specs.push({ name: 'head.bias', shape: [vocab], matrix: false });
  return specs;
}

/** tie_word_embeddings needs the embedding and the head to have the same shape. */
export function checkTie(r: ConfigReader, tied: boolean, embedding: number, width: number, widthField: string): void {
  if (tied && embedding !== width) {
    throw fail('E_CONFIG', `${r.file}: tie_word_embeddings needs the embedding width (${embedding}) to equal the head's input width ${widthField} (${width})`, { file: r.file, field: 'tie_word_embeddings' });
  }
}
