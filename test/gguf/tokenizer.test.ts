/**
 * The tokenizer stored in a GGUF (tokenizer.ggml.*) encodes and decodes as the tokenizer.json
 * it was converted from. The oracle is that tokenizer.json loaded directly.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/node.js';
import { createTokenizer } from '../../src/tokenizer/index.js';
import { ggufTokenizerFiles } from '../../src/formats/gguf-tokenizer.js';
import { goldenCases } from '../helpers/goldens.js';
import { writeGguf } from '../../tools/gguf-writer.js';
import { goldenGguf, goldenGgufParts, vocabFromTokenizerJson } from './helpers.js';

const TINY = readFileSync(new URL('../fixtures/tokenizer-tiny/tokenizer.json', import.meta.url), 'utf8');
const VOCAB = 300; // m1-untied-bias's embedding rows; the tokenizer has 272 tokens, the rest are padding
const texts = [
  'hello world', 'Hello, World! 123', '  leading spaces and\ttabs\n\nnewlines  ', 'héllo wörld — ünïcödé ✓ 😀 中文',
  "it's they're we've I'm you'll he'd", 'hello<|endoftext|>world', '', ' ', 'x'.repeat(300),
];

describe('tokenizer from tokenizer.ggml.*', () => {
  const c = goldenCases().find((x) => x.name === 'm1-untied-bias')!;
  const bytes = goldenGguf(c.dir, 'f32', vocabFromTokenizerJson(TINY, VOCAB, 'gpt-2', 271));
  const oracle = createTokenizer({ vocabSize: VOCAB, tokenizerJson: TINY });

  it('encode and decode equal the original tokenizer.json on varied text; specials and padding ids behave alike', async () => {
    const m = await loadModel(bytes, { backend: 'reference' });
    expect(m.tokenizer.kind).toBe('tokenizer.json');
    expect(m.config.eosTokenId).toBe(271);
    for (const t of texts) {
      const ids = m.tokenizer.encode(t);
      expect(ids, JSON.stringify(t)).toEqual(oracle.encode(t));
      expect(m.tokenizer.decode(ids)).toBe(oracle.decode(ids));
    }
    expect(m.tokenizer.encode('hello<|endoftext|>')).toContain(271); // the control token splits as an added token
    expect(m.tokenizer.decode([271])).toBe(''); // and decodes as a special (skipped)
    expect(m.tokenizer.decode([290, 299])).toBe(''); // "[PAD290]" rows: no token
    // The merges were applied: "hello" is fewer ids than its bytes.
    expect(m.tokenizer.encode('hello').length).toBeLessThan(5);
    await m.dispose();
  });

  it('tokenizer.ggml.pre "olmo" (GPT-NeoX, as Mamba checkpoints convert) adds NFC normalisation, "gpt-2" does not', () => {
    const decomposed = 'e\u0301'; // e + combining acute = é after NFC
    const olmo = ggufTokenizerFiles(goldenGguf(c.dir, 'f32', vocabFromTokenizerJson(TINY, VOCAB, 'olmo', 271)), 'olmo.gguf')!;
    const gpt2 = ggufTokenizerFiles(bytes, 'gpt2.gguf')!;
    const tOlmo = createTokenizer({ vocabSize: VOCAB, tokenizerJson: olmo.json, tokenizerConfigJson: olmo.config });
    const tGpt2 = createTokenizer({ vocabSize: VOCAB, tokenizerJson: gpt2.json, tokenizerConfigJson: gpt2.config });
    expect(tOlmo.encode(decomposed)).toEqual(tOlmo.encode('é'));
    expect(tGpt2.encode(decomposed)).not.toEqual(tGpt2.encode('é'));
  });

  it('a GGUF without tokenizer metadata gets the byte-level tokenizer, as an HF folder without tokenizer.json does', async () => {
    const p = goldenGgufParts(c.dir, 'f32');
    const m = await loadModel(writeGguf(p.kv.filter(([k]) => !k.startsWith('tokenizer.')), p.tensors), { backend: 'reference' });
    expect(m.tokenizer.kind).toBe('byte');
    expect(m.tokenizer.encode('hi')).toEqual([104, 105]);
    await m.dispose();
  });

  it('a token list that does not match the embedding rows is refused (llama.cpp requires them equal)', async () => {
    const stripped = goldenGguf(c.dir, 'f32', { tokens: ['a', 'b'], types: [1, 1] });
    await expect(loadModel(stripped, { backend: 'reference' })).rejects.toMatchObject({ code: 'E_SHAPE', field: 'tokenizer.ggml.tokens', message: expect.stringMatching(/2 tokens, but token_embd\.weight has 300 rows/) });
  });
});
