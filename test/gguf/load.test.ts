/**
 * GGUF files written from the golden checkpoints (tools/gguf-writer.ts: llama.cpp's names,
 * shapes and type rules) load to the model the HF folder is.
 *
 * Oracles:
 * - The HF folder loaded the ordinary way (config.json + safetensors), for Mamba-1, where a GGUF
 *   file means exactly the same computation: logits must be bitwise equal in f32, and in f16 /
 *   q8_0 when both are stored that way on the same backend (the same values reach the same kernels).
 * - For Mamba-2 a GGUF file means llama.cpp's computation, which differs from transformers 5.x
 *   in two documented ways (per-group gated RMSNorm as in mamba_ssm; no Δ clamp, since GGUF has
 *   no time_step_limit) and stores no SSD chunk size. `oracleModel` runs the HF weights through
 *   our graph with exactly those settings, no GGUF code involved: bitwise equal again.
 * - Quantized files: the oracle's matrices are the writer's quantization of the HF weights
 *   dequantized by a separate transcription of ggml-quants.c, so a GGUF loaded to f32 must
 *   again equal it bitwise. Against transformers' f32 goldens, q8_0 / q4_0 logits move by the
 *   quantization itself; the bounds below are measured (2026-12, this machine) and stated.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { defaultModelDir, loadModel } from '../../src/node.js';
import { WasmBackend } from '../../src/backends/wasm/index.js';
import { parseGguf } from '../../src/formats/gguf.js';
import { goldenCases, maxAbsDiff } from '../helpers/goldens.js';
import { goldenGguf, oracleModel, vocabFromTokenizerJson } from './helpers.js';
import { startHubServer } from '../remote/hub-server.js';

const cases = goldenCases();
const byName = (n: string) => cases.find((c) => c.name === n)!;
const m1 = cases.filter((c) => c.meta.arch === 'mamba');
const m2 = cases.filter((c) => c.meta.arch === 'mamba2');

async function logits(m: Awaited<ReturnType<typeof loadModel>>, ids: number[][]): Promise<Float32Array> {
  try {
    return (await m.forward(ids)).logits;
  } finally {
    await m.dispose();
  }
}

async function greedy(m: Awaited<ReturnType<typeof loadModel>>, prompt: number[], n: number): Promise<number[]> {
  const r = m.createSession().generate(prompt, { temperature: 0, maxTokens: n, ignoreEos: true });
  const ids: number[] = [];
  for await (const t of r) ids.push(t.id);
  return ids;
}

describe('GGUF f32 / f16 files equal the HF folder', () => {
  it('fixtures: both architectures present', () => {
    expect(m1.length).toBeGreaterThanOrEqual(3);
    expect(m2.length).toBeGreaterThanOrEqual(3);
  });

  for (const c of m1) {
    it(`${c.name}: f32 bitwise equal to the folder (reference backend), and to transformers within the golden tolerance`, async () => {
      const g = await loadModel(goldenGguf(c.dir, 'f32'), { backend: 'reference' });
      expect(g.info.dtype).toBe('f32');
      expect(g.config.vocabSize).toBe(c.logits.length / (c.inputIds.length * c.inputIds[0].length));
      const a = await logits(g, c.inputIds);
      const b = await logits(await loadModel(c.dir, { backend: 'reference' }), c.inputIds);
      expect(maxAbsDiff(a, b).diff).toBe(0);
      const { diff, scale } = maxAbsDiff(a, c.logits);
      expect(diff).toBeLessThanOrEqual(2e-5 * Math.max(1, scale)); // test/helpers/golden-suite.ts's tolerance
    });

    it(`${c.name}: f16 file loads as f16 and equals the folder loaded with dtype f16 (wasm)`, async () => {
      const g = await loadModel(goldenGguf(c.dir, 'f16'), { backend: 'wasm', threads: 1 });
      expect(g.info.dtype).toBe('f16');
      expect(g.info.fileTensorTypes).toMatchObject({ F16: expect.any(Number), F32: expect.any(Number) });
      const a = await logits(g, c.inputIds);
      const b = await logits(await loadModel(c.dir, { backend: 'wasm', threads: 1, dtype: 'f16' }), c.inputIds);
      expect(maxAbsDiff(a, b).diff).toBe(0);
    });
  }

  for (const c of m2) {
    it(`${c.name}: f32 bitwise equal to the HF weights run with llama.cpp's Mamba-2 semantics`, async () => {
      const a = await logits(await loadModel(goldenGguf(c.dir, 'f32'), { backend: 'reference' }), c.inputIds);
      const b = await logits(await oracleModel(c.dir, 'f32', 'reference', 'f32'), c.inputIds);
      expect(maxAbsDiff(a, b).diff).toBe(0);
    });
  }

  it('Mamba-2 with one group and no Δ clamp is what transformers computes: within the golden tolerance, greedy tokens identical', async () => {
    for (const c of m2.filter((x) => x.name === 'm2-g1-tied' || x.name === 'm2-long')) {
      const g = await loadModel(goldenGguf(c.dir, 'f32'), { backend: 'wasm', threads: 1 });
      expect(await greedy(g, c.greedyPrompt, c.greedyTokens.length)).toEqual(c.greedyTokens);
      const { diff, scale } = maxAbsDiff(await logits(g, c.inputIds), c.logits);
      expect(diff).toBeLessThanOrEqual(2e-5 * Math.max(1, scale));
    }
  });

  it('with several groups the per-group norm really differs from the full-width one (so the oracle above is not vacuous)', async () => {
    const c = byName('m2-g2-noconvbias');
    const a = await logits(await loadModel(goldenGguf(c.dir, 'f32'), { backend: 'reference' }), c.inputIds);
    expect(maxAbsDiff(a, c.logits).diff).toBeGreaterThan(0.1);
  });

  it('a GGUF path on disk, { "x.gguf": bytes } and bytes alone all load; info shows the file tensor types; the CLI source forms agree', async () => {
    const c = byName('m1-tied');
    const bytes = goldenGguf(c.dir, 'f16');
    const dir = mkdtempSync(join(tmpdir(), 'mamba-edge-gguf-'));
    writeFileSync(join(dir, 'm.gguf'), bytes);
    const fromPath = await loadModel(join(dir, 'm.gguf'), { backend: 'reference' });
    const fromDir = await loadModel(dir, { backend: 'reference' }); // the folder's one .gguf, no config.json
    expect(fromDir.fingerprint).toBe(fromPath.fingerprint);
    await fromDir.dispose();
    const fromRecord = await loadModel({ 'weights.gguf': bytes }, { backend: 'reference' });
    const fromBuffer = await loadModel(bytes.slice().buffer as ArrayBuffer, { backend: 'reference' });
    expect(fromPath.info.fileTensorTypes).toEqual({ F32: 19, F16: 13 });
    expect(fromPath.fingerprint).toBe(fromRecord.fingerprint);
    expect(fromBuffer.fingerprint).toBe(fromRecord.fingerprint);
    expect(fromPath.info.dtype).toBe('f16');
    expect(fromPath.config.eosTokenId).toBe(0);
    const [a, b] = [await logits(fromPath, c.inputIds), await logits(fromBuffer, c.inputIds)];
    expect(maxAbsDiff(a, b).diff).toBe(0);
    await fromRecord.dispose();
  });
});

describe('a GGUF file by URL', () => {
  it('https://…/x.gguf loads that one file through the remote layer (local stand-in server, no cache)', async () => {
    const c = byName('m2-g1-tied');
    const bytes = goldenGguf(c.dir, 'q8_0');
    const hub = await startHubServer();
    try {
      hub.put('owner/name', 'mamba-q8.gguf', bytes);
      const url = `${hub.endpoint}/owner/name/resolve/main/mamba-q8.gguf`;
      const progress: number[] = [];
      const remote = await loadModel(url, { backend: 'wasm', threads: 1, cache: false, onProgress: (p) => progress.push(p.loaded) });
      const local = await loadModel(bytes, { backend: 'wasm', threads: 1 });
      expect(remote.fingerprint).toBe(local.fingerprint);
      expect(remote.info.fileTensorTypes).toEqual(local.info.fileTensorTypes);
      expect(progress.at(-1)).toBe(bytes.length);
      expect(maxAbsDiff(await logits(remote, c.inputIds), await logits(local, c.inputIds)).diff).toBe(0);
    } finally {
      await hub.close();
    }
  });
});

describe('GGUF q8_0 / q4_0 / bf16 files', () => {
  it('q8_0 blocks go to the wasm backend as they are (no dequantize → requantize), and equal the folder quantized at load', async () => {
    const spy = vi.spyOn(WasmBackend.prototype, 'uploadEncoded');
    try {
      for (const c of [byName('m2-g1-tied'), byName('m2-g2-noconvbias')]) {
        spy.mockClear();
        const g = await loadModel(goldenGguf(c.dir, 'q8_0'), { backend: 'wasm', threads: 1 });
        expect(g.info.dtype).toBe('q8_0');
        // Every matrix whose rows are whole q8_0 blocks was copied in; the others (f16 in the file) were not.
        const q8 = g.info.fileTensorTypes!.Q8_0 ?? 0;
        expect(spy.mock.results.filter((r) => r.value !== null).length).toBeGreaterThanOrEqual(q8);
        const a = await logits(g, c.inputIds);
        const b = await logits(await oracleModel(c.dir, 'f32', 'wasm', 'q8_0'), c.inputIds);
        // The folder's f32 values quantized by the wasm kernel give the same blocks as the writer (ggml's reference rounding).
        expect(maxAbsDiff(a, b).diff).toBe(0);
      }
    } finally {
      spy.mockRestore();
    }
  });

  it('q8_0 blocks another quantizer made (largest |q| below 127) stay as they are; a requantization would change them', async () => {
    const c = byName('m2-g2-noconvbias');
    const bytes = goldenGguf(c.dir, 'q8_0');
    const t = [...parseGguf(bytes, 'x').tensors.values()].find((x) => x.type === 'Q8_0')!;
    for (let b = 0; b < t.data.length / 34; b++) {
      for (let j = 0; j < 32; j++) {
        const at = t.fileOffset + b * 34 + 2 + j;
        bytes[at] = Math.round(((bytes[at] << 24) >> 24) * 100 / 127) & 0xff; // same scale, ints shrunk: max |q| = 100
      }
    }
    const kept = await logits(await loadModel(bytes, { backend: 'wasm', threads: 1 }), c.inputIds);
    const spy = vi.spyOn(WasmBackend.prototype, 'uploadEncoded').mockReturnValue(null); // force dequantize → requantize
    try {
      const requantized = await logits(await loadModel(bytes, { backend: 'wasm', threads: 1 }), c.inputIds);
      expect(maxAbsDiff(kept, requantized).diff).toBeGreaterThan(0);
    } finally {
      spy.mockRestore();
    }
  });

  for (const fileType of ['q8_0', 'q4_0', 'bf16'] as const) {
    for (const c of cases) {
      it(`${c.name}: ${fileType} loaded as f32 equals the oracle on dequantized weights bitwise`, async () => {
        // bf16 files load as f32 by default (no backend here stores bf16 matrices); the others are asked for f32.
        const a = await logits(await loadModel(goldenGguf(c.dir, fileType), { backend: 'reference', ...(fileType === 'bf16' ? {} : { dtype: 'f32' }) }), c.inputIds);
        const b = await logits(await oracleModel(c.dir, fileType, 'reference', 'f32'), c.inputIds);
        expect(maxAbsDiff(a, b).diff).toBe(0);
      });
    }
  }

  it('the trained default model as q8_0 and q4_0 GGUF: q8_0 scores exactly as the folder quantized at load, q4_0 within 0.05 bits per byte of f32', async () => {
    // A byte-level Mamba-2 whose matrices are all whole q8_0 blocks (D = 320, I = 640), so every
    // matrix is quantized; its own tokenizer.json stored as llama.cpp's converter would.
    // Measured on 4,000 held-out bytes (2026-12): f32 1.7104 bits/byte, folder at q8_0 1.7107,
    // q8_0 GGUF 1.7107 (identical), q4_0 GGUF (held as q8_0) 1.7298. Greedy continuations of
    // "The quick brown fox": f32 and q8_0 agree on 29 bytes, q4_0 on 9 ("␠the f…" then parts).
    const dir = defaultModelDir();
    const vocab = vocabFromTokenizerJson(readFileSync(join(dir, 'tokenizer.json'), 'utf8'), 256, 'gpt-2', 0);
    const text = readFileSync(join(dir, 'heldout-sample.txt'), 'utf8').slice(0, 2000);
    const opts = { maxTokens: 12, temperature: 0, ignoreEos: true };
    const score = async (m: Awaited<ReturnType<typeof loadModel>>) => {
      try {
        return { bpb: (await m.evaluate(text)).bitsPerByte, text: (await m.createSession().generate('The quick brown fox', opts).finished).text };
      } finally {
        await m.dispose();
      }
    };
    const f32 = await score(await loadModel(dir, { backend: 'wasm', threads: 1 }));
    const folderQ8 = await score(await loadModel(dir, { backend: 'wasm', threads: 1, dtype: 'q8_0' }));
    const q8model = await loadModel(goldenGguf(dir, 'q8_0', vocab), { backend: 'wasm', threads: 1 });
    expect(q8model.info).toMatchObject({ dtype: 'q8_0', fileTensorTypes: { Q8_0: 17, F32: 57 } });
    expect(q8model.tokenizer.kind).toBe('tokenizer.json');
    const q8 = await score(q8model);
    expect(q8.bpb).toBe(folderQ8.bpb);
    expect(Math.abs(q8.bpb - f32.bpb)).toBeLessThan(0.03); // test/model/q8.test.ts's bound for q8_0
    expect(q8.text.slice(0, 8)).toBe(f32.text.slice(0, 8));
    const q4 = await score(await loadModel(goldenGguf(dir, 'q4_0', vocab), { backend: 'wasm', threads: 1 }));
    expect(Math.abs(q4.bpb - f32.bpb)).toBeLessThan(0.05);
    expect(q4.text.slice(0, 5)).toBe(f32.text.slice(0, 5));
  }, 60_000);

  it('the reference backend (no q8_0 storage) holds a q8_0 file in f32 when no dtype is named, and refuses dtype q8_0', async () => {
    const c = byName('m2-g2-noconvbias');
    const g = await loadModel(goldenGguf(c.dir, 'q8_0'), { backend: 'reference' });
    expect(g.info.dtype).toBe('f32');
    await g.dispose();
    await expect(loadModel(goldenGguf(c.dir, 'q8_0'), { backend: 'reference', dtype: 'q8_0' })).rejects.toMatchObject({ code: 'E_BACKEND' });
  });
});
