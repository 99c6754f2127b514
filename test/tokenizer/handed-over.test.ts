/**
 * createTokenizer given the tokenizer.json as an object (how a GGUF's vocabulary arrives, built
 * without JSON text) tokenizes exactly as from the text, and releases the object's vocabulary
 * and merges once the library has built its own tables (memory: the GGUF loader keeps nothing
 * else of them). The oracle is the same tokenizer.json loaded from its text.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createTokenizer } from '../../src/tokenizer/index.js';
import { MambaEdgeError } from '../../src/errors.js';

const tinyJson = readFileSync(new URL('../fixtures/tokenizer-tiny/tokenizer.json', import.meta.url), 'utf8');
const VOCAB = 272; // ids 0..255 bytes, 256..270 merges, 271 <|endoftext|>

const TEXTS = [
  'hello world', 'the inner hello, the world!  Two  spaces\tand\nnewlines', 'café é ü ß — “quotes”',
  '日本語のテキスト 中文 한국어', 'emoji 😀👍🏽 and 👨‍👩‍👧 family', 'hello<|endoftext|>world', '',
];

describe('createTokenizer with a handed-over tokenizer.json object', () => {
  const fromText = createTokenizer({ vocabSize: VOCAB, tokenizerJson: tinyJson, tokenizerConfigJson: '{"eos_token":"<|endoftext|>"}' });

  for (const merges of ['pairs', 'strings'] as const) {
    it(`encodes and decodes as from the text (merges as ${merges}), and empties model.vocab and model.merges`, () => {
      const json = JSON.parse(tinyJson) as { model: { vocab: Record<string, number>; merges: unknown[] } };
      if (merges === 'strings') json.model.merges = (json.model.merges as string[][]).map((p) => p.join(' '));
      const pairs = json.model.merges;
      expect(Object.keys(json.model.vocab).length).toBeGreaterThan(256);
      const tok = createTokenizer({ vocabSize: VOCAB, tokenizerJson: json, tokenizerConfigJson: { eos_token: '<|endoftext|>' } });
      expect(json.model.vocab).toEqual({});
      expect(json.model.merges).toEqual([]);
      if (merges === 'pairs') expect(pairs).toEqual([]); // the library's own merge list: emptied in place
      expect(tok.eosTokenId).toBe(fromText.eosTokenId);
      for (const t of TEXTS) {
        const ids = tok.encode(t);
        expect(ids).toEqual(fromText.encode(t));
        expect(tok.decode(ids)).toBe(fromText.decode(ids));
      }
      // Merges still apply after the release: "hello" is fewer ids than its 5 bytes.
      expect(tok.encode('hello').length).toBeLessThan(5);
      // Every id decodes as from the text (the id -> token table is the library's own).
      const all = Array.from({ length: VOCAB }, (_, i) => i);
      expect(tok.decode(all)).toBe(fromText.decode(all));
    });
  }

  it('checks the ids of an object vocabulary as of a parsed one', () => {
    const json = JSON.parse(tinyJson) as { model: { vocab: Record<string, number> } };
    json.model.vocab.he = 1e9;
    let err: unknown;
    try { createTokenizer({ vocabSize: VOCAB, tokenizerJson: json, file: 'x.gguf (tokenizer.ggml.*)' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(MambaEdgeError);
    expect((err as MambaEdgeError).code).toBe('E_FORMAT');
    expect((err as MambaEdgeError).message).toContain('model.vocab["he"] is 1000000000');
  });

  it('still refuses a nested-quantifier pattern outside the vocabulary', () => {
    const json = JSON.parse(tinyJson) as Record<string, unknown>;
    json.pre_tokenizer = { type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false };
    let err: unknown;
    try { createTokenizer({ vocabSize: VOCAB, tokenizerJson: json }); } catch (e) { err = e; }
    expect((err as MambaEdgeError).code).toBe('E_FORMAT');
  });
});
