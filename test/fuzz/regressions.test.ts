/**
 * One test per defect the fuzzer found (RELIABILITY.md lists them), on the smallest input
 * that showed it, so each stays fixed whatever the fuzzer's seeds explore next.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHandler, loadModel, MambaEdgeError } from '../../src/node.js';
import { parsePythonJson, MAX_JSON_DEPTH } from '../../src/formats/pyjson.js';
import { createTokenizer, hasNestedQuantifier } from '../../src/tokenizer/index.js';
import { crc32 } from '../../src/api/state-blob.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { rawSafetensors } from '../helpers/safetensors-writer.js';

const small = () => randomModelFiles({ modelType: 'mamba', vocabSize: 300, hiddenSize: 8, numLayers: 1, stateSize: 4, seed: 1 });
const utf8 = (s: string) => new TextEncoder().encode(s);
const deep = (n: number) => '['.repeat(n) + '1' + ']'.repeat(n);

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<MambaEdgeError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(MambaEdgeError);
    return e as MambaEdgeError;
  }
  throw new Error('expected a refusal');
}

describe('fuzz regressions', () => {
  it('a 200,000-deep array in a safetensors header is E_FORMAT, not a stack overflow in an error message', async () => {
    const header = `{"w":{"dtype":"F32","shape":${deep(200_000)},"data_offsets":[0,4]}}`;
    const e = await refusal(loadModel({ ...small(), 'model.safetensors': rawSafetensors(null, new Uint8Array(4), header) }, { backend: 'reference' }));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toMatch(/more than 128 levels deep/);
  });

  it('a deep value in config.json is E_FORMAT (was: RangeError from JSON.stringify in the E_CONFIG message)', async () => {
    const config = JSON.parse(new TextDecoder().decode(small()['config.json']).replace(/Infinity/g, '1e999'));
    const text = JSON.stringify({ ...config, hidden_act: '__DEEP__' }).replace('"__DEEP__"', deep(100_000));
    const e = await refusal(loadModel({ ...small(), 'config.json': utf8(text) }, { backend: 'reference' }));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toMatch(/config\.json.*levels deep.*line 1, column \d+/);
  });

  it('nesting up to the limit still parses; one more level is refused', () => {
    expect(parsePythonJson(deep(MAX_JSON_DEPTH), 'x.json')).toBeDefined();
    expect(() => parsePythonJson(deep(MAX_JSON_DEPTH + 1), 'x.json')).toThrow(/levels deep/);
    // Brackets inside strings do not count.
    expect(parsePythonJson(JSON.stringify({ s: '['.repeat(1000) }), 'x.json')).toEqual({ s: '['.repeat(1000) });
  });

  it('a deep value in tokenizer.json is E_FORMAT (was: RangeError from JSON.stringify in checkModel)', async () => {
    const tok = `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"added_tokens":[${deep(50_000)}]}`;
    const e = await refusal(() => createTokenizer({ vocabSize: 300, tokenizerJson: tok }));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toMatch(/levels deep/);
  });

  it('a tokenizer id of 2^31 is refused before the tokenizer library sizes its tables by it', () => {
    const tok = JSON.stringify({ model: { type: 'BPE', vocab: { a: 0, b: 2 ** 31 - 1 }, merges: [] }, added_tokens: [] });
    expect(() => createTokenizer({ vocabSize: 300, tokenizerJson: tok })).toThrow(/model\.vocab\["b"\] is 2147483647, expected a non-negative integer id below the model's vocab_size 300/);
    const added = JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, added_tokens: [{ id: 1e9, content: '<x>', special: true }] });
    expect(() => createTokenizer({ vocabSize: 300, tokenizerJson: added })).toThrow(/added_tokens entry .* below the model's vocab_size 300/);
  });

  it('config.json and tokenizer.json over their limits are refused from their size, before they are read', async () => {
    // Sparse 10 GB files: reading one would need 10 GB of memory; asking its size costs nothing.
    const dir = mkdtempSync(join(tmpdir(), 'me-limits-'));
    try {
      for (const [name, bytes] of Object.entries(small())) writeFileSync(join(dir, name), bytes);
      writeFileSync(join(dir, 'tokenizer.json'), '');
      truncateSync(join(dir, 'tokenizer.json'), 10 * 2 ** 30);
      const tok = await refusal(loadModel(dir, { backend: 'reference' }));
      expect(tok.code).toBe('E_FORMAT');
      expect(tok.message).toMatch(/tokenizer\.json is 10737418240 bytes, more than the 100000000-byte limit/);
      writeFileSync(join(dir, 'config.json'), '');
      truncateSync(join(dir, 'config.json'), 10 * 2 ** 30);
      const cfg = await refusal(loadModel(dir, { backend: 'reference' }));
      expect(cfg.code).toBe('E_FORMAT');
      expect(cfg.message).toMatch(/config\.json is 10737418240 bytes, more than the 16777216-byte limit/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a saved state holding NaN (checksum recomputed) is E_STATE at resume, not an E_ARGUMENT when sampling', async () => {
    const m = await loadModel(small(), { backend: 'reference' });
    const s = m.createSession();
    await s.prefill([1, 2, 3]);
    const blob = await s.saveState();
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const h = view.getUint32(12, true);
    const payload = (16 + h + 3) & ~3;
    view.setFloat32(payload + 8, NaN, true);
    view.setUint32(blob.length - 4, crc32(blob.subarray(0, blob.length - 4)), true);
    const e = await refusal(() => m.createSession({ state: blob }));
    expect(e.code).toBe('E_STATE');
    expect(e.message).toMatch(/NaN or infinite/);
    await m.dispose();
  });

  it('a state header whose fingerprint is a deep array is E_STATE', async () => {
    const m = await loadModel(small(), { backend: 'reference' });
    const blob = await m.createSession().saveState();
    const h = new DataView(blob.buffer).getUint32(12, true);
    const header = JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + h)));
    const json = utf8(JSON.stringify({ ...header, fingerprint: '__D__' }).replace('"__D__"', deep(10_000)));
    const payload = blob.subarray((16 + h + 3) & ~3, blob.length - 4);
    const start = (16 + json.length + 3) & ~3;
    const out = new Uint8Array(start + payload.length + 4);
    out.set(blob.subarray(0, 12));
    new DataView(out.buffer).setUint32(12, json.length, true);
    out.set(json, 16);
    out.set(payload, start);
    new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
    const e = await refusal(() => m.createSession({ state: out }));
    expect(e.code).toBe('E_STATE');
    await m.dispose();
  });
});

describe('fuzz regressions: names that are Object.prototype members', () => {
  it('model_type "toString" / "constructor" / "__proto__" is E_ARCH (was: TypeError graph.parseConfig is not a function)', async () => {
    const config = JSON.parse(new TextDecoder().decode(small()['config.json']).replace(/Infinity/g, '1e999'));
    for (const t of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const e = await refusal(loadModel({ ...small(), 'config.json': utf8(JSON.stringify({ ...config, model_type: t })) }, { backend: 'reference' }));
      expect(e.code).toBe('E_ARCH');
      expect(e.message).toContain(`model_type "${t}" is not supported`);
    }
  });
});

describe('fault regressions', () => {
  it('a corrupt safetensors file while the worker pool starts is a rejection of loadModel, not an unhandled rejection', async () => {
    // Found by abort-child.mts: the weights' read failed (abort, E_FORMAT, E_FILE) while the backend
    // was still starting, before anything awaited it, and Node ended the process.
    const seen: unknown[] = [];
    const onUnhandled = (r: unknown) => { seen.push(r); };
    process.on('unhandledRejection', onUnhandled);
    try {
      const bad = { ...small(), 'model.safetensors': rawSafetensors(null, new Uint8Array(0), '{not json') };
      const e = await refusal(loadModel(bad, { backend: 'wasm', threads: 2 }));
      expect(e.code).toBe('E_FORMAT');
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  }, 30_000);
});

describe('tokenizer regexes', () => {
  it('a pattern with nested quantifiers ((a+)+$) is refused at load instead of hanging encode', async () => {
    const json = JSON.parse(readFileSync(join(import.meta.dirname, '../../models/default/tokenizer.json'), 'utf8'));
    for (const [where, edit] of [
      ['pre_tokenizer', (j: any) => { j.pre_tokenizer = { type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false }; }],
      ['nested in a Sequence', (j: any) => { j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(\\w+\\s?)*$' }, behavior: 'Isolated', invert: false }] }; }],
      ['normalizer', (j: any) => { j.normalizer = { type: 'Replace', pattern: { Regex: '(a*)*b' }, content: '' }; }],
    ] as const) {
      const j = structuredClone(json);
      edit(j);
      const t0 = performance.now();
      const e = await refusal(() => createTokenizer({ vocabSize: 300, tokenizerJson: JSON.stringify(j) }));
      expect(e.code, where).toBe('E_FORMAT');
      expect(e.message).toMatch(/repeats a group that itself repeats/);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });

  it('the pretokenizer patterns of real tokenizers pass', () => {
    for (const re of [
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", // GPT-2
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", // Llama 3
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?", // o200k
    ]) expect(hasNestedQuantifier(re), re).toBe(false);
    for (const re of ['(a+)+$', '((ab)+c)*', '(x+x+)+y', '(a{2,})+']) expect(hasNestedQuantifier(re), re).toBe(true);
  });
});

describe('tokenizer regexes: large files', () => {
  it('a 200,000-entry list in tokenizer.json is walked without overflowing the stack (found by the fuzzer in the regex check itself)', () => {
    const tok = JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] }, added_tokens: [], extra: new Array(200_000).fill(0) });
    expect(createTokenizer({ vocabSize: 300, tokenizerJson: tok }).encode('a')).toEqual([0]);
  });
});

describe('HTTP handler', () => {
  it('a request body nested 100,000 deep is a 400, not a 500 from a stack overflow (found by the handler target)', async () => {
    const m = await loadModel(small(), { backend: 'reference' });
    const handler = createHandler(m);
    const body = `{"prompt":"hi","stop":${deep(100_000)}}`;
    const res = await handler(new Request('http://localhost/v1/completions', { method: 'POST', body, headers: { 'content-type': 'application/json' } }));
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/more than 128 levels deep/);
    await m.dispose();
  });
});

describe('saved state header encoding', () => {
  it('a header that is not valid UTF-8 (checksum recomputed) is E_STATE, not Node\'s TypeError (found by the 100,000-case state run)', async () => {
    const m = await loadModel(small(), { backend: 'reference' });
    const blob = await m.createSession().saveState();
    blob[17] = 0xff; // inside the header JSON
    new DataView(blob.buffer, blob.byteOffset).setUint32(blob.length - 4, crc32(blob.subarray(0, blob.length - 4)), true);
    const e = await refusal(() => m.createSession({ state: blob }));
    expect(e.code).toBe('E_STATE');
    expect(e.message).toMatch(/not valid UTF-8 JSON/);
    await m.dispose();
  });
});
