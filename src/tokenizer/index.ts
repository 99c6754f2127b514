/**
 * Tokenizers: Hugging Face `tokenizer.json` (through @huggingface/tokenizers, zero
 * dependencies and browser-safe) or, when a model ships none, plain UTF-8 bytes.
 *
 * Choices made here, and why:
 * - `encode` never lets the tokenizer.json post-processor add special tokens
 *   (a TemplateProcessing `<s> $A </s>` would put an EOS at the end of every
 *   prompt, which ends generation before it starts). The one exception is
 *   `add_bos_token: true` in tokenizer_config.json: then the BOS id is prepended,
 *   as transformers does for Llama-style models. `add_eos_token` is ignored.
 * - `decode` skips special tokens (an EOS should not print as `<|endoftext|>`)
 *   and never applies `clean_up_tokenization_spaces`: that clean-up rewrites
 *   " ." to "." across token boundaries, so streamed text would differ from the
 *   whole decode, and it alters what the model actually produced.
 * - `vocabSize` is the model's vocab (its embedding rows), not the tokenizer's:
 *   the sampler can pick any id below it, so `decode` accepts every such id. Ids
 *   the tokenizer has no token for (embedding padding rows) decode to ''.
 *   Ids outside [0, vocabSize) are E_TOKEN.
 */
import { Tokenizer as HfTokenizerClass } from '@huggingface/tokenizers';
import type { Tokenizer } from '../api/types.js';
import { fail } from '../errors.js';
import { checkNesting } from '../formats/pyjson.js';

/**
 * Largest tokenizer.json accepted, like the safetensors format's own 100 MB header cap: real ones
 * reach ~35 MB (Gemma's 256k vocabulary); the parsed object takes several times the text.
 */
export const MAX_TOKENIZER_JSON_BYTES = 100_000_000;

/**
 * The part of @huggingface/tokenizers we use. Its own .d.ts files import each
 * other without file extensions, which NodeNext resolution rejects, so under our
 * tsconfig the class arrives as `any`; this interface puts the types back.
 */
interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: (number | undefined)[] };
  decode(ids: number[], options: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
  /** Token string by id, including added tokens, after construction. */
  model: { vocab: (string | undefined)[] };
}
const HfTokenizerCtor = HfTokenizerClass as unknown as new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;

/** A Tokenizer plus the special ids the tokenizer files name (when they do). */
export interface TokenizerEx extends Tokenizer {
  /** End-of-sequence id from tokenizer_config.json `eos_token`, else a well-known special token in tokenizer.json. */
  readonly eosTokenId?: number;
  /** Beginning-of-sequence id from tokenizer_config.json `bos_token`, when it resolves. */
  readonly bosTokenId?: number;
}

export interface CreateTokenizerOptions {
  /** The model's vocab size (embedding rows). */
  vocabSize: number;
  /**
   * Contents of tokenizer.json; without it the tokenizer is byte-level. Or the object it parses to
   * (a GGUF's vocabulary is built as one): handed over, not copied — its `model.vocab` and
   * `model.merges` are emptied once the tokenizer is built (see releaseBuiltTables).
   */
  tokenizerJson?: string | Record<string, unknown>;
  /** Contents of tokenizer_config.json (optional), or the object it parses to. */
  tokenizerConfigJson?: string | Record<string, unknown>;
  /** Name of tokenizer.json, for messages. Default 'tokenizer.json'. */
  file?: string;
  /** Name of tokenizer_config.json, for messages. Default: next to `file`. */
  configFile?: string;
}

/** Special tokens that mean end-of-sequence in common vocabularies, used when tokenizer_config.json is absent. */
const WELL_KNOWN_EOS = ['<|endoftext|>', '</s>', '<eos>', '<|end_of_text|>', '<|im_end|>'];

export function createTokenizer(opts: CreateTokenizerOptions): TokenizerEx {
  checkVocabSize(opts.vocabSize);
  if (opts.tokenizerJson === undefined) return byteTokenizer(opts.vocabSize);

  const file = opts.file ?? 'tokenizer.json';
  const configFile = opts.configFile ?? file.replace(/tokenizer\.json$/, 'tokenizer_config.json');
  const json = typeof opts.tokenizerJson === 'string' ? parseObject(opts.tokenizerJson, file) : opts.tokenizerJson;
  const config = opts.tokenizerConfigJson === undefined ? {} : typeof opts.tokenizerConfigJson === 'string' ? parseObject(opts.tokenizerConfigJson, configFile) : opts.tokenizerConfigJson;
  checkModel(json, file, opts.vocabSize);
  checkRegexes(json, file);

  // The library requires these keys to exist (null is fine) and iterates added_tokens;
  // older or hand-written files omit them, so fill in the neutral values.
  const normalized: Record<string, unknown> = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json, added_tokens: json.added_tokens ?? [] };
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizerCtor(normalized, config);
  } catch (e) {
    throw fail('E_FORMAT', `${file}: cannot build the tokenizer: ${(e as Error).message}`, { file, cause: e });
  }
  releaseBuiltTables(json);
  // After construction model.vocab is indexed by id and includes the added tokens.
  const tokens = hf.model.vocab;
  if (tokens.length > opts.vocabSize) {
    throw fail('E_FORMAT', `${file}: the tokenizer has ids up to ${tokens.length - 1}, but the model's vocab_size is ${opts.vocabSize}`, { file, field: 'model.vocab' });
  }

  const idOf = (field: 'eos_token' | 'bos_token'): number | undefined => {
    const content = tokenString(config[field]);
    return content === undefined ? undefined : hf.token_to_id(content);
  };
  let eosTokenId = idOf('eos_token');
  if (eosTokenId === undefined) {
    const specials = new Set(((json.added_tokens ?? []) as { content: string; special?: boolean }[]).filter((t) => t.special).map((t) => t.content));
    const name = WELL_KNOWN_EOS.find((t) => specials.has(t));
    if (name !== undefined) eosTokenId = hf.token_to_id(name);
  }
  const bosTokenId = idOf('bos_token');
  const addBos = config.add_bos_token === true;
  if (addBos && bosTokenId === undefined) {
    throw fail('E_FORMAT', `${configFile}: add_bos_token is true but bos_token is missing or not in the vocabulary`, { file: configFile, field: 'bos_token' });
  }

  const vocabSize = opts.vocabSize;
  const chatTemplate = chatTemplateOf(config.chat_template, configFile);
  const eosToken = eosTokenId !== undefined ? tokens[eosTokenId] : undefined;
  const bosToken = tokenString(config.bos_token);
  return {
    kind: 'tokenizer.json',
    vocabSize,
    ...(eosTokenId !== undefined ? { eosTokenId } : {}),
    ...(bosTokenId !== undefined ? { bosTokenId } : {}),
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
    ...(eosToken !== undefined ? { eosToken } : {}),
    ...(bosToken !== undefined && bosTokenId !== undefined ? { bosToken } : {}),
    encode(text: string): number[] {
      const ids = hf.encode(text, { add_special_tokens: false }).ids;
      // The library yields undefined for a piece with no token and no unk token.
      if (ids.some((id) => id === undefined)) throw fail('E_TOKEN', `${file}: the text holds characters this tokenizer cannot encode (no unk_token)`, { file });
      return addBos ? [bosTokenId!, ...(ids as number[])] : (ids as number[]);
    },
    decode(ids: number[]): string {
      for (const id of ids) checkId(id, vocabSize);
      // Drop ids with no token (padding rows); the library throws on an empty list.
      const known = ids.filter((id) => tokens[id] !== undefined);
      if (known.length === 0) return '';
      return hf.decode(known, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    },
  };
}

/**
 * The library keeps the tokenizer.json object it was built from (its Tokenizer.tokenizer and the
 * model's config), but reads `model.vocab` and `model.merges` only while constructing
 * (@huggingface/tokenizers 0.2.0, dist/tokenizers.mjs: BPE, WordPiece and Unigram constructors;
 * afterwards it uses its own tokens_to_ids / vocab / bpe_ranks). Emptying them in the object frees
 * the parsed vocabulary — a 50k-entry dictionary and one array per merge — for the tokenizer's
 * lifetime. An array of merge pairs is the BPE model's own `merges` (the library keeps pairs as
 * given), so it is emptied in place; the library reads it again nowhere. The test suites
 * (test/tokenizer, test/gguf) encode and decode after this.
 */
function releaseBuiltTables(json: Record<string, unknown>): void {
  const model = json.model as { vocab?: unknown; merges?: unknown } | undefined;
  if (!model) return;
  if (Array.isArray(model.merges) && Array.isArray(model.merges[0])) model.merges.length = 0;
  model.merges = [];
  model.vocab = Array.isArray(model.vocab) ? [] : {};
}

/**
 * A tokenizer.json carries regular expressions (Split pre-tokenizers, Replace normalizers) that the
 * library compiles and runs on every prompt. JavaScript regexes backtrack: a pattern such as `(a+)+$`
 * takes seconds on 25 characters and forever on 40, so a hostile file could hang `encode`. We refuse
 * the classic cause, a quantified group whose body is itself quantified (star height > 1); the
 * pretokenizer patterns of GPT-2, Llama 3, Qwen and Mistral have none. It is a heuristic: an
 * overlapping alternation under a quantifier (`(a|a)*`) is not caught.
 */
function checkRegexes(json: Record<string, unknown>, file: string): void {
  // The model's vocab and merges are data (ids, token strings), never patterns: not walked, which
  // would copy a 50k-entry vocabulary into entry arrays during the load.
  const { vocab: _vocab, merges: _merges, ...model } = (json.model ?? {}) as Record<string, unknown>;
  const stack: unknown[] = [{ ...json, model }];
  while (stack.length) {
    const v = stack.pop();
    if (Array.isArray(v)) for (const x of v) stack.push(x); // not push(...v): a 200,000-entry list overflows the argument stack
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'Regex' && typeof x === 'string' && hasNestedQuantifier(x)) {
          throw fail('E_FORMAT', `${file}: the pattern ${JSON.stringify(x.slice(0, 80))} repeats a group that itself repeats (like (a+)+), which can make tokenizing take exponential time; refused`, { file, field: 'Regex' });
        }
        stack.push(x);
      }
    }
  }
}

/** Whether a quantifier (*, +, {n,m}) follows a group whose body holds one. Escapes and [...] classes are skipped. */
export function hasNestedQuantifier(re: string): boolean {
  const quantified: boolean[] = []; // per open group: does its body hold a quantifier?
  const isQuantifier = (i: number) => re[i] === '*' || re[i] === '+' || (re[i] === '{' && /^\{\d*,?\d*\}/.test(re.slice(i, i + 12)) && !/^\{,?\}/.test(re.slice(i, i + 3)) && !/^\{(0|1)?(,(0|1))?\}/.test(re.slice(i, i + 6)));
  for (let i = 0; i < re.length; i++) {
    const c = re[i];
    if (c === '\\') { i++; continue; }
    if (c === '[') {
      for (i++; i < re.length && re[i] !== ']'; i++) if (re[i] === '\\') i++;
      continue;
    }
    if (c === '(') quantified.push(false);
    else if (c === ')') {
      const inner = quantified.pop() ?? false;
      if (inner && isQuantifier(i + 1)) return true;
      // The group as a whole counts as quantified content for the group around it.
      if (quantified.length && (inner || isQuantifier(i + 1))) quantified[quantified.length - 1] = true;
    } else if (isQuantifier(i) && quantified.length) quantified[quantified.length - 1] = true;
  }
  return false;
}

/** Byte-level tokenizer: id = byte of the UTF-8 encoding. Ids 256..vocabSize-1 are specials and decode to ''. */
export function byteTokenizer(vocabSize: number): TokenizerEx {
  checkVocabSize(vocabSize);
  if (vocabSize < 256) throw fail('E_CONFIG', `a byte-level tokenizer needs vocab_size ≥ 256, got ${vocabSize}`, { field: 'vocab_size' });
  const encoder = new TextEncoder();
  return {
    kind: 'byte',
    vocabSize,
    encode: (text: string): number[] => Array.from(encoder.encode(text)),
    decode(ids: number[]): string {
      for (const id of ids) checkId(id, vocabSize);
      return decodeUtf8(Uint8Array.from(ids.filter((id) => id < 256)));
    },
  };
}

/**
 * UTF-8 → string, invalid sequences → U+FFFD. `ignoreBOM` keeps a leading EF BB BF
 * as U+FEFF (the default would drop it, and streamed text would then differ).
 */
export function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
}

/** E_TOKEN unless `id` is an integer in [0, vocabSize). */
export function checkId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw fail('E_TOKEN', `token id ${id} is outside the vocabulary [0, ${vocabSize})`);
  }
}

function checkVocabSize(vocabSize: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
    throw fail('E_CONFIG', `vocab_size must be a positive integer, got ${vocabSize}`, { field: 'vocab_size' });
  }
}

/** A special token in tokenizer_config.json: "text" or an AddedToken object { content: "text", ... }. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/**
 * tokenizer_config.json `chat_template`: a Jinja string, or (transformers ≥ 4.43) a list of
 * { name, template } of which "default" is the one used for chat.
 */
function chatTemplateOf(v: unknown, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v.filter((t): t is { name: string; template: string } => !!t && typeof t === 'object' && typeof t.name === 'string' && typeof t.template === 'string');
    if (named.length === v.length) return named.find((t) => t.name === 'default')?.template ?? named[0]?.template;
  }
  throw fail('E_FORMAT', `${file}: chat_template must be a string or a list of { name, template }`, { file, field: 'chat_template' });
}

function parseObject(text: string, file: string): Record<string, unknown> {
  if (typeof text !== 'string') throw fail('E_ARGUMENT', `${file}: expected the file's text, got ${typeof text}`, { file });
  // text.length counts UTF-16 units: at most the UTF-8 size, so this never refuses a file under the limit.
  if (text.length > MAX_TOKENIZER_JSON_BYTES) {
    throw fail('E_FORMAT', `${file} is ${text.length} characters, more than the ${MAX_TOKENIZER_JSON_BYTES}-byte limit`, { file });
  }
  checkNesting(text, file);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw fail('E_FORMAT', `${file}: not valid JSON: ${(e as Error).message}`, { file, cause: e });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw fail('E_FORMAT', `${file}: expected a JSON object`, { file });
  return v as Record<string, unknown>;
}

/**
 * The model type must be one the library implements, and every id in tokenizer.json must be a non-negative integer: the library stores
 * tokens in an array indexed by id, so a stray 1e9 or 1.5 would silently make a
 * huge sparse array or a lost token. Unigram vocabs are lists (id = position).
 */
function checkModel(json: Record<string, unknown>, file: string, vocabSize: number): void {
  const model = json.model as { type?: unknown; vocab?: unknown } | undefined;
  if (model === null || typeof model !== 'object') throw fail('E_FORMAT', `${file}: missing the "model" object`, { file, field: 'model' });
  // The library silently treats an unknown model type as a plain vocab lookup; say so instead.
  if (model.type !== undefined && !['BPE', 'WordPiece', 'Unigram'].includes(model.type as string)) {
    throw fail('E_FORMAT', `${file}: model.type ${JSON.stringify(model.type)} is not supported (BPE, WordPiece, Unigram)`, { file, field: 'model.type' });
  }
  // Ids are checked against the model's vocab before the library sees them: it sizes its id -> token
  // array by the largest id, so one id of 2^31 in a 1 kB file would make it allocate for 2^31 entries.
  const bad = (id: unknown) => !Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocabSize;
  const expected = `a non-negative integer id below the model's vocab_size ${vocabSize}`;
  if (model.vocab !== null && typeof model.vocab === 'object' && !Array.isArray(model.vocab)) {
    const vocab = model.vocab as Record<string, unknown>;
    // for..in, not Object.entries: no array per entry (a 50k vocabulary's would be megabytes of garbage)
    for (const token in vocab) {
      if (!Object.hasOwn(vocab, token)) continue;
      const id = vocab[token];
      if (bad(id)) throw fail('E_FORMAT', `${file}: model.vocab["${token.slice(0, 80)}"] is ${JSON.stringify(id)?.slice(0, 80)}, expected ${expected}`, { file, field: 'model.vocab' });
    }
  } else if (!Array.isArray(model.vocab)) {
    throw fail('E_FORMAT', `${file}: model.vocab is missing`, { file, field: 'model.vocab' });
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw fail('E_FORMAT', `${file}: added_tokens must be a list`, { file, field: 'added_tokens' });
  for (const t of added as { id?: unknown; content?: unknown }[]) {
    if (t === null || typeof t !== 'object' || bad(t.id) || typeof t.content !== 'string') {
      throw fail('E_FORMAT', `${file}: added_tokens entry ${JSON.stringify(t)?.slice(0, 200)} needs ${expected} and a string content`, { file, field: 'added_tokens' });
    }
  }
}
