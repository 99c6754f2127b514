import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { byteTokenizer, createTokenizer } from '../../src/tokenizer/index.js';
import { MambaEdgeError } from '../../src/errors.js';

const FIXTURE = new URL('../fixtures/tokenizer-tiny/tokenizer.json', import.meta.url);
const tinyJson = readFileSync(FIXTURE, 'utf8');
// The fixture: ids 0..255 are the byte symbols, 256..270 merges, 271 is <|endoftext|> (special).
const EOT = 271;

/** Runs fn and returns the MambaEdgeError it throws. */
function errorOf(fn: () => unknown): MambaEdgeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MambaEdgeError);
    return e as MambaEdgeError;
  }
  throw new Error('expected a MambaEdgeError');
}

const TEXTS = [
  'hello world',
  'the inner hello, the world!  Two  spaces\tand\nnewlines',
  'café é ü ß — “quotes”',
  '日本語のテキスト 中文 한국어',
  'emoji 😀👍🏽 and 👨‍👩‍👧 family',
  '\uFEFFleading BOM',
  '',
];

describe('byteTokenizer', () => {
  const tok = byteTokenizer(300);

  it('encodes to UTF-8 bytes and round-trips', () => {
    expect(tok.kind).toBe('byte');
    expect(tok.vocabSize).toBe(300);
    expect(tok.encode('hé😀')).toEqual([0x68, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]);
    for (const t of TEXTS) expect(tok.decode(tok.encode(t))).toBe(t);
  });

  it('decodes specials (ids ≥ 256) to nothing and invalid UTF-8 to U+FFFD', () => {
    expect(tok.decode([0x61, 256, 299, 0x62])).toBe('ab');
    expect(tok.decode([0x61, 0xff, 0x62])).toBe('a\uFFFDb');
    expect(tok.decode([0xf0, 0x9f])).toBe('\uFFFD');
    expect(tok.decode([])).toBe('');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(errorOf(() => tok.decode([300])).code).toBe('E_TOKEN');
    expect(errorOf(() => tok.decode([-1])).code).toBe('E_TOKEN');
    expect(errorOf(() => tok.decode([1.5])).code).toBe('E_TOKEN');
  });

  it('needs vocabSize ≥ 256', () => {
    const e = errorOf(() => byteTokenizer(255));
    expect(e.code).toBe('E_CONFIG');
    expect(e.field).toBe('vocab_size');
    expect(errorOf(() => byteTokenizer(0)).code).toBe('E_CONFIG');
    expect(byteTokenizer(256).vocabSize).toBe(256);
  });

  it('is what createTokenizer gives without tokenizer.json', () => {
    const t = createTokenizer({ vocabSize: 260 });
    expect(t.kind).toBe('byte');
    expect(t.encode('A')).toEqual([65]);
  });
});

describe('createTokenizer (tokenizer.json)', () => {
  const tok = createTokenizer({ vocabSize: 280, tokenizerJson: tinyJson });

  it('encodes with the merges and round-trips ASCII and non-ASCII text', () => {
    expect(tok.kind).toBe('tokenizer.json');
    expect(tok.vocabSize).toBe(280);
    expect(tok.encode('hello world')).toEqual([259, 264]);
    expect(tok.encode('é')).toEqual([269]);
    expect(tok.encode('😀')).toEqual([270, 0x98, 0x80]); // F0 9F merged, then two raw bytes
    for (const t of TEXTS) {
      const ids = tok.encode(t);
      expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 280)).toBe(true);
      expect(tok.decode(ids)).toBe(t);
    }
  });

  it('adds no special tokens by default', () => {
    expect(tok.encode('hi')).toEqual([0x68, 0x69]);
    expect(tok.encode('')).toEqual([]);
  });

  it('does not clean up tokenization spaces', () => {
    expect(tok.decode(tok.encode('a . b , c !'))).toBe('a . b , c !');
  });

  it('skips special tokens and padding ids when decoding', () => {
    expect(tok.decode([0x61, EOT, 0x62])).toBe('ab');
    expect(tok.decode([0x61, 275, 279])).toBe('a'); // 272..279: model ids without a token
    expect(tok.decode([])).toBe('');
    expect(errorOf(() => tok.decode([280])).code).toBe('E_TOKEN');
  });

  it('finds the eos token from tokenizer_config.json or a well-known special token', () => {
    expect(tok.eosTokenId).toBe(EOT); // <|endoftext|> in added_tokens
    const cfg = JSON.stringify({ eos_token: { content: 'e', lstrip: false }, bos_token: '<|endoftext|>' });
    const t2 = createTokenizer({ vocabSize: 280, tokenizerJson: tinyJson, tokenizerConfigJson: cfg });
    expect(t2.eosTokenId).toBe(0x65);
    expect(t2.bosTokenId).toBe(EOT);
    expect(t2.encode('hi')).toEqual([0x68, 0x69]); // no add_bos_token: no BOS
  });

  it('prepends BOS when tokenizer_config.json says add_bos_token', () => {
    const cfg = JSON.stringify({ add_bos_token: true, bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' });
    const t = createTokenizer({ vocabSize: 280, tokenizerJson: tinyJson, tokenizerConfigJson: cfg });
    expect(t.encode('hi')).toEqual([EOT, 0x68, 0x69]);
    expect(t.decode(t.encode('hi'))).toBe('hi');
    const bad = JSON.stringify({ add_bos_token: true, bos_token: '<s>' });
    const e = errorOf(() => createTokenizer({ vocabSize: 280, tokenizerJson: tinyJson, tokenizerConfigJson: bad, file: 'm/tokenizer.json' }));
    expect(e.code).toBe('E_FORMAT');
    expect(e.file).toBe('m/tokenizer_config.json');
    expect(e.field).toBe('bos_token');
  });

  it('rejects a tokenizer larger than the model vocab', () => {
    const e = errorOf(() => createTokenizer({ vocabSize: 271, tokenizerJson: tinyJson, file: 'tok/tokenizer.json' }));
    expect(e.code).toBe('E_FORMAT');
    expect(e.file).toBe('tok/tokenizer.json');
    expect(e.message).toMatch(/271/);
    expect(createTokenizer({ vocabSize: 272, tokenizerJson: tinyJson }).vocabSize).toBe(272);
  });

  it('rejects malformed files with E_FORMAT naming the file', () => {
    const cases: [string, string | undefined][] = [
      ['{ "model": ', undefined],
      ['[1, 2]', undefined],
      ['{}', 'model'],
      [JSON.stringify({ model: { type: 'BPE' } }), 'model.vocab'],
      [JSON.stringify({ model: { type: 'BPE', vocab: { a: -1 }, merges: [] } }), 'model.vocab'],
      [JSON.stringify({ model: { type: 'BPE', vocab: { a: 0.5 }, merges: [] } }), 'model.vocab'],
      [JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, added_tokens: [{ content: 'x' }] }), 'added_tokens'],
      [JSON.stringify({ model: { type: 'Nope', vocab: { a: 0 } } }), 'model.type'],
      [JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 } } }), undefined], // no merges
      [JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, decoder: { type: 'Nope' } }), undefined],
    ];
    for (const [json, field] of cases) {
      const e = errorOf(() => createTokenizer({ vocabSize: 300, tokenizerJson: json, file: 'x/tokenizer.json' }));
      expect(e.code, json).toBe('E_FORMAT');
      expect(e.file, json).toBe('x/tokenizer.json');
      expect(e.message, json).toContain('x/tokenizer.json');
      if (field !== undefined) expect(e.field, json).toBe(field);
    }
    const e = errorOf(() => createTokenizer({ vocabSize: 300, tokenizerJson: tinyJson, tokenizerConfigJson: 'nope' }));
    expect(e.code).toBe('E_FORMAT');
    expect(e.file).toBe('tokenizer_config.json');
  });

  it('loads a minimal file that omits the optional sections', () => {
    const json = JSON.stringify({ model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] } });
    const t = createTokenizer({ vocabSize: 3, tokenizerJson: json });
    expect(t.encode('ab')).toEqual([2]);
    expect(t.eosTokenId).toBeUndefined();
  });

  it('validates vocabSize', () => {
    expect(errorOf(() => createTokenizer({ vocabSize: -5, tokenizerJson: tinyJson })).code).toBe('E_CONFIG');
    expect(errorOf(() => createTokenizer({ vocabSize: 2.5 })).code).toBe('E_CONFIG');
  });
});
