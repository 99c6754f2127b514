/**
 * The tokenizer stored in a GGUF file (tokenizer.ggml.*, as llama.cpp's convert_hf_to_gguf.py
 * writes it from a tokenizer.json) turned back into a tokenizer.json that
 * @huggingface/tokenizers loads. Only `gpt2` (byte-level BPE, what Mamba's GPT-NeoX tokenizer
 * is) is supported. Browser-safe and free of the model code, so the page side can build it too.
 */
import { fail } from '../errors.js';
import { parseGguf, GgufMeta } from './gguf.js';

export interface Vocab {
  tokens: string[];
  types: ArrayLike<number>;
  merges: string[];
  model: string;
  pre: string;
  bos?: number;
  eos?: number;
  unk?: number;
}

/** llama_token_type (llama.h / gguf-py TokenType). */
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 };

export function readVocab(meta: GgufMeta, file: string, V: number): Vocab | undefined {
  if (!meta.has('tokenizer.ggml.model')) return undefined;
  const model = meta.str('tokenizer.ggml.model');
  if (model === 'none' || model === 'no_vocab') return undefined;
  if (model !== 'gpt2') {
    throw fail('E_FORMAT', `${file}: tokenizer.ggml.model "${model}" is not supported (supported: "gpt2", the byte-level BPE of GPT-NeoX that Mamba models use)`, { file, field: 'tokenizer.ggml.model' });
  }
  const tokens = meta.array('tokenizer.ggml.tokens', ['string']) as string[] | undefined;
  if (!tokens) throw fail('E_FORMAT', `${file}: tokenizer.ggml.tokens is missing (tokenizer.ggml.model is "gpt2")`, { file, field: 'tokenizer.ggml.tokens' });
  if (tokens.length !== V) {
    throw fail('E_SHAPE', `${file}: tokenizer.ggml.tokens has ${tokens.length} tokens, but token_embd.weight has ${V} rows (llama.cpp requires them equal)`, { file, field: 'tokenizer.ggml.tokens' });
  }
  const types = (meta.array('tokenizer.ggml.token_type', ['i32', 'u32', 'i8', 'u8', 'i16', 'u16']) as ArrayLike<number> | undefined) ?? new Array<number>(V).fill(TOKEN_TYPE.NORMAL);
  if (types.length !== V) throw fail('E_SHAPE', `${file}: tokenizer.ggml.token_type has ${types.length} entries, expected one per token (${V})`, { file, field: 'tokenizer.ggml.token_type' });
  for (let i = 0; i < V; i++) {
    if (!Number.isInteger(types[i]) || types[i] < 0 || types[i] > 6) throw fail('E_FORMAT', `${file}: tokenizer.ggml.token_type[${i}] is ${types[i]}, expected 0..6 (llama_token_type)`, { file, field: 'tokenizer.ggml.token_type' });
  }
  const merges = (meta.array('tokenizer.ggml.merges', ['string']) as string[] | undefined) ?? [];
  const id = (key: string): number | undefined => (meta.has(key) ? meta.int(key, 0, V - 1) : undefined);
  id('tokenizer.ggml.padding_token_id'); // checked for range; nothing else reads it
  return {
    tokens, types, merges, model, pre: meta.str('tokenizer.ggml.pre', 'default'),
    bos: id('tokenizer.ggml.bos_token_id'), eos: id('tokenizer.ggml.eos_token_id'), unk: id('tokenizer.ggml.unknown_token_id'),
  };
}

/**
 * llama.cpp pre-tokenizer names (tokenizer.ggml.pre) whose regex is GPT-2's
 * `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` (llama-vocab.cpp),
 * which is what a tokenizer.json ByteLevel pre-tokenizer with use_regex applies. "olmo" and
 * "mpt" are what convert_hf_to_gguf.py writes for the GPT-NeoX tokenizer Mamba models ship
 * (the three share one hash there); that tokenizer.json also NFC-normalises its input.
 * "default" is what the converter writes for an unrecognised tokenizer (and files without the
 * key); llama.cpp then warns and splits differently; we use the GPT-2 regex.
 */
const PRE_TOKENIZERS: Record<string, { nfc: boolean }> = {
  'gpt-2': { nfc: false }, default: { nfc: false }, olmo: { nfc: true }, mpt: { nfc: true },
};

/** A tokenizer.json and tokenizer_config.json as objects, ready for createTokenizer (no JSON text in between). */
export interface TokenizerSpec { json: Record<string, unknown>; config: Record<string, unknown> }

/**
 * The tokenizer.json and tokenizer_config.json objects of a vocabulary. Built as objects and handed to
 * createTokenizer as they are: serialising them to text and parsing that again would put a second
 * copy of the vocabulary (and a megabytes-long string) on the heap during the load.
 */
export function tokenizerSpec(v: Vocab, meta: GgufMeta, file: string): TokenizerSpec {
  const pre = PRE_TOKENIZERS[v.pre];
  if (!pre) {
    throw fail('E_FORMAT', `${file}: tokenizer.ggml.pre "${v.pre}" is not supported (supported: ${Object.keys(PRE_TOKENIZERS).map((p) => `"${p}"`).join(', ')}: GPT-2's byte-level split)`, { file, field: 'tokenizer.ggml.pre' });
  }
  const vocab: Record<string, number> = Object.create(null);
  const added: object[] = [];
  for (let i = 0; i < v.tokens.length; i++) {
    const tok = v.tokens[i];
    const type = v.types[i];
    if (type === TOKEN_TYPE.UNUSED) continue; // padding rows ("[PAD50277]"): no token, decode to ''
    if (type === TOKEN_TYPE.CONTROL || type === TOKEN_TYPE.USER_DEFINED) {
      added.push({ id: i, content: tok, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === TOKEN_TYPE.CONTROL });
      continue;
    }
    if (tok in vocab) throw fail('E_FORMAT', `${file}: tokenizer.ggml.tokens holds "${tok}" twice (ids ${vocab[tok]} and ${i})`, { file, field: 'tokenizer.ggml.tokens' });
    vocab[tok] = i;
  }
  const merges = v.merges.map((m, i) => {
    const parts = m.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw fail('E_FORMAT', `${file}: tokenizer.ggml.merges[${i}] is ${JSON.stringify(m).slice(0, 60)}, expected two tokens separated by one space`, { file, field: 'tokenizer.ggml.merges' });
    return parts;
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: '1.0', truncation: null, padding: null, added_tokens: added,
    normalizer: pre.nfc ? { type: 'NFC' } : null,
    pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: v.unk === undefined ? null : v.tokens[v.unk], continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  const config = {
    ...(v.eos !== undefined ? { eos_token: v.tokens[v.eos] } : {}),
    ...(v.bos !== undefined ? { bos_token: v.tokens[v.bos] } : {}),
    add_bos_token: meta.bool('tokenizer.ggml.add_bos_token', false),
  };
  return { json, config };
}

/** tokenizerSpec as the text of tokenizer.json and tokenizer_config.json. */
export function tokenizerFiles(v: Vocab, meta: GgufMeta, file: string): { json: string; config: string } {
  const { json, config } = tokenizerSpec(v, meta, file);
  return { json: JSON.stringify(json), config: JSON.stringify(config) };
}

/** tokenizer.json + tokenizer_config.json objects of a GGUF file, or undefined when it stores no vocabulary. */
export function ggufTokenizerSpec(bytes: Uint8Array, file: string): TokenizerSpec | undefined {
  const g = parseGguf(bytes, file);
  const embd = g.tensors.get('token_embd.weight');
  const meta = new GgufMeta(g);
  const vocab = readVocab(meta, file, embd?.shape[0] ?? meta.array('tokenizer.ggml.tokens', ['string'])?.length ?? 0);
  return vocab && tokenizerSpec(vocab, meta, file);
}

/** ggufTokenizerSpec as text: tokenizer.json + tokenizer_config.json of a GGUF file. */
export function ggufTokenizerFiles(bytes: Uint8Array, file: string): { json: string; config: string } | undefined {
  const spec = ggufTokenizerSpec(bytes, file);
  return spec && { json: JSON.stringify(spec.json), config: JSON.stringify(spec.config) };
}
