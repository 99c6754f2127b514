/**
 * GGUF files on disk are read by tensor (parseGgufFromRanges through the directory source's
 * readRangeSync), as Hugging Face folders are: the header first, each tensor when the graph asks
 * for it. Oracle: the same file's bytes handed over whole (parseGguf, memory source), which must
 * give the same parse, the same fingerprint and the same logits, bit for bit.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultModelDir, loadModel } from '../../src/node.js';
import { parseGguf, parseGgufFromRanges } from '../../src/formats/gguf.js';
import { goldenCases } from '../helpers/goldens.js';
import { goldenGguf, vocabFromTokenizerJson } from './helpers.js';

const cases = goldenCases();
const byName = (n: string) => cases.find((c) => c.name === n)!;
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** A golden's GGUF (the default model's: with its byte-level tokenizer in the header), written to a temp file. */
function ggufFile(name: string, dtype: 'f32' | 'f16' | 'q8_0'): { path: string; bytes: Uint8Array } {
  const dir = name === 'default' ? defaultModelDir() : byName(name).dir;
  const vocab = name === 'default' ? vocabFromTokenizerJson(readFileSync(join(dir, 'tokenizer.json'), 'utf8'), 256, 'gpt-2', 0) : undefined;
  const bytes = goldenGguf(dir, dtype, vocab);
  const path = join(mkdtempSync(join(tmpdir(), 'mamba-edge-gguf-ranges-')), `${name}-${dtype}.gguf`);
  writeFileSync(path, bytes);
  return { path, bytes };
}

describe('parseGgufFromRanges', () => {
  const { bytes } = ggufFile('default', 'q8_0'); // ~3 KiB of vocabulary in the header
  const reads: [number, number][] = [];
  const readRange = (offset: number, length: number) => {
    reads.push([offset, length]);
    if (offset + length > bytes.length) throw new Error('read past the end');
    return bytes.slice(offset, offset + length);
  };

  it.each([64, 1000, 4 << 20])('equals parseGguf on the whole file (first read %i bytes, more as the header needs)', (first) => {
    reads.length = 0;
    const whole = parseGguf(bytes, 'x.gguf');
    const ranged = parseGgufFromRanges(readRange, bytes.length, 'x.gguf', first);
    expect(ranged.kv).toEqual(whole.kv);
    expect([...ranged.tensors.keys()]).toEqual([...whole.tensors.keys()]);
    const headerReads = reads.length;
    // Nothing but the header is read until a tensor's data is asked for.
    expect(reads.every(([offset]) => offset === 0)).toBe(true);
    for (const [name, t] of whole.tensors) {
      const r = ranged.tensors.get(name)!;
      expect([r.name, r.type, r.shape, r.fileOffset, r.size]).toEqual([t.name, t.type, t.shape, t.fileOffset, t.data.byteLength]);
      expect(Buffer.compare(r.data, t.data)).toBe(0); // read now: exactly its span
      expect(reads.at(-1)).toEqual([t.fileOffset, t.data.byteLength]);
    }
    expect(reads.length).toBe(headerReads + whole.tensors.size);
  });

  it('a truncated file fails the same way either way', () => {
    const cut = bytes.slice(0, bytes.length - 100);
    const whole = (() => { try { parseGguf(cut, 'x.gguf'); } catch (e) { return e; } })() as Error & { code: string };
    const ranged = (() => { try { parseGgufFromRanges((o, n) => cut.slice(o, o + n), cut.length, 'x.gguf', 64); } catch (e) { return e; } })() as Error & { code: string };
    expect(whole.code).toBe('E_FORMAT');
    expect(ranged.code).toBe(whole.code);
    expect(ranged.message).toBe(whole.message);
  });
});

describe('a GGUF path loads by tensor, equal to the same bytes loaded whole', { timeout: 60_000 }, () => {
  for (const [name, dtype] of [['m1-untied-bias', 'f32'], ['m1-tied', 'q8_0'], ['m2-g5-untied-bias', 'q8_0'], ['m2-g1-tied', 'f16'], ['default', 'q8_0']] as const) {
    it(`${name} ${dtype}: fingerprint, tensor types, tokenizer and logits (wasm)`, async () => {
      const ids = name === 'default' ? [[84, 104, 101, 32, 113], [98, 114, 111, 119, 110]] : byName(name).inputIds;
      const { path, bytes } = ggufFile(name, dtype);
      const progress: number[] = [];
      const fromPath = await loadModel(path, { backend: 'wasm', threads: 1, onProgress: (p) => progress.push(p.loaded) });
      const fromBytes = await loadModel(bytes, { backend: 'wasm', threads: 1 });
      try {
        expect(fromPath.fingerprint).toBe(fromBytes.fingerprint);
        expect(fromPath.info.fileTensorTypes).toEqual(fromBytes.info.fileTensorTypes);
        expect(fromPath.info.dtype).toBe(fromBytes.info.dtype);
        expect(fromPath.tokenizer.encode('hello world')).toEqual(fromBytes.tokenizer.encode('hello world'));
        expect(progress.at(-1)).toBe(bytes.length);
        expect(progress).toEqual([...progress].sort((a, b) => a - b));
        const [a, b] = [(await fromPath.forward(ids)).logits, (await fromBytes.forward(ids)).logits];
        expect(bits(a)).toEqual(bits(b));
      } finally {
        await fromPath.dispose();
        await fromBytes.dispose();
      }
    });
  }
});
