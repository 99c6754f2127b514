import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { byteTokenizer, createTokenizer } from '../../src/tokenizer/index.js';
import { createStreamDecoder, incompleteTailStart } from '../../src/tokenizer/stream-decoder.js';
import { Rng } from '../../src/api/sampler.js';
import type { Tokenizer } from '../../src/api/types.js';

const tinyJson = readFileSync(new URL('../fixtures/tokenizer-tiny/tokenizer.json', import.meta.url), 'utf8');
const bytes = byteTokenizer(260);
const bpe = createTokenizer({ vocabSize: 280, tokenizerJson: tinyJson });

/** Feeds ids one by one; returns every push() output and the flush(). */
function stream(tok: Tokenizer, ids: number[]): { pieces: string[]; tail: string } {
  const d = createStreamDecoder(tok);
  const pieces = ids.map((id) => d.push(id));
  return { pieces, tail: d.flush() };
}

function randomIds(rng: Rng, n: number, vocab: number, bias: (u: number) => number = (u) => Math.floor(u * vocab)): number[] {
  return Array.from({ length: n }, () => bias(rng.nextFloat()));
}

describe('byte-level stream decoding', () => {
  it('holds a 4-byte emoji until its last byte', () => {
    expect(stream(bytes, [0xf0, 0x9f, 0x98, 0x80])).toEqual({ pieces: ['', '', '', '😀'], tail: '' });
    expect(stream(bytes, [0x61, 0xc3, 0xa9, 0x62])).toEqual({ pieces: ['a', '', 'é', 'b'], tail: '' });
  });

  it('emits invalid bytes at once as U+FFFD and flushes a dangling sequence', () => {
    expect(stream(bytes, [0xff, 0x61])).toEqual({ pieces: ['\uFFFD', 'a'], tail: '' });
    expect(stream(bytes, [0x61, 0xe2, 0x82])).toEqual({ pieces: ['a', '', ''], tail: '\uFFFD' });
    expect(stream(bytes, [0xf0, 0x9f, 0x41])).toEqual({ pieces: ['', '', '\uFFFDA'], tail: '' });
  });

  it('ignores specials, also in the middle of a character', () => {
    expect(stream(bytes, [0xf0, 0x9f, 256, 0x98, 0x80, 259])).toEqual({ pieces: ['', '', '', '', '😀', ''], tail: '' });
  });

  it('holds back only valid incomplete prefixes', () => {
    expect(incompleteTailStart([0x61, 0xf0, 0x9f, 0x98])).toBe(1);
    expect(incompleteTailStart([0xe2])).toBe(0);
    expect(incompleteTailStart([0xf0, 0x9f, 0x98, 0x80])).toBe(4);
    expect(incompleteTailStart([0xe0, 0x80])).toBe(2); // overlong: invalid whatever follows
    expect(incompleteTailStart([0xed, 0xa0])).toBe(2); // surrogate
    expect(incompleteTailStart([0xf4, 0x90])).toBe(2); // beyond U+10FFFF
    expect(incompleteTailStart([0xc0])).toBe(1); // never a lead byte
    expect(incompleteTailStart([0x80, 0x80, 0x80])).toBe(3);
  });

  it('concatenates to decode(all ids) for random byte sequences', () => {
    const rng = new Rng(2024);
    // Bias towards high bytes so that valid and broken multi-byte sequences are both common.
    const pick = (u: number) => (u < 0.05 ? 256 + Math.floor(u * 80) : u < 0.3 ? Math.floor(u * 400) % 128 : 0x80 + Math.floor(u * 1000) % 0x78);
    for (let trial = 0; trial < 300; trial++) {
      const ids = randomIds(rng, 1 + (trial % 40), 260, pick);
      const { pieces, tail } = stream(bytes, ids);
      expect(pieces.join('') + tail).toBe(bytes.decode(ids));
    }
    // Real text, byte by byte.
    const ids = bytes.encode('naïve 日本 😀👍🏽 ok');
    const { pieces, tail } = stream(bytes, ids);
    expect(pieces.join('') + tail).toBe('naïve 日本 😀👍🏽 ok');
    expect(pieces.every((p) => !p.includes('\uFFFD'))).toBe(true);
  });

  it('resumes mid-character from pending()', () => {
    const d = createStreamDecoder(bytes);
    expect(d.push(0x61)).toBe('a');
    expect(d.push(0xf0)).toBe('');
    expect(d.push(0x9f)).toBe('');
    expect(d.pending()).toEqual([0xf0, 0x9f]);
    const resumed = createStreamDecoder(bytes, d.pending());
    expect(resumed.push(0x98)).toBe('');
    expect(resumed.push(0x80)).toBe('😀');
    expect(resumed.pending()).toEqual([]);
    expect(resumed.flush()).toBe('');
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => createStreamDecoder(bytes).push(260)).toThrow(/outside the vocabulary/);
    expect(() => createStreamDecoder(bytes, [-1])).toThrow(/outside the vocabulary/);
  });
});

describe('tokenizer.json stream decoding', () => {
  it('holds an emoji split over tokens until it is complete', () => {
    const ids = bpe.encode('a😀b'); // a, [F0 9F], 98, 80, b
    expect(ids).toEqual([0x61, 270, 0x98, 0x80, 0x62]);
    expect(stream(bpe, ids)).toEqual({ pieces: ['a', '', '', '😀', 'b'], tail: '' });
  });

  it('streams whole texts exactly', () => {
    for (const t of ['hello world, the inner é', 'café 日本語 😀👍🏽 family 👨‍👩‍👧', ' leading and trailing  ']) {
      const ids = bpe.encode(t);
      const { pieces, tail } = stream(bpe, ids);
      expect(pieces.join('') + tail).toBe(t);
      expect(pieces.every((p) => !p.includes('\uFFFD'))).toBe(true);
    }
  });

  it('concatenates to decode(all ids) for random ids', () => {
    const rng = new Rng(99);
    for (let trial = 0; trial < 300; trial++) {
      const ids = randomIds(rng, 1 + (trial % 30), 280);
      const { pieces, tail } = stream(bpe, ids);
      expect(pieces.join('') + tail).toBe(bpe.decode(ids));
    }
  });

  it('resumes mid-character from pending()', () => {
    const d = createStreamDecoder(bpe);
    expect(d.push(259)).toBe('hello');
    expect(d.push(270)).toBe('');
    expect(d.push(0x98)).toBe('');
    expect(d.pending()).toEqual([270, 0x98]);
    const resumed = createStreamDecoder(bpe, d.pending());
    expect(resumed.push(0x80)).toBe('😀');
    expect(resumed.push(264)).toBe(' world');
    expect(resumed.flush()).toBe('');
    // A dangling sequence comes out on flush.
    const e = createStreamDecoder(bpe, [270]);
    expect(e.flush()).toBe('\uFFFD');
    expect(e.pending()).toEqual([]);
  });

  it('keeps the leading space that a Metaspace decoder drops from a first piece', () => {
    const json = JSON.stringify({
      model: { type: 'BPE', vocab: { '<unk>': 0, '▁hello': 1, '▁world': 2, '!': 3 }, merges: [], unk_token: '<unk>' },
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    });
    const sp = createTokenizer({ vocabSize: 4, tokenizerJson: json });
    expect(sp.decode([2])).toBe('world');
    expect(sp.decode([1, 2, 3])).toBe('hello world!');
    expect(stream(sp, [1, 2, 3])).toEqual({ pieces: ['hello', ' world', '!'], tail: '' });
  });
});
