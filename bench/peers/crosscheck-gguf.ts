/**
 * Cross-check of mamba-edge's GGUF loading against llama.cpp itself (node-llama-cpp's prebuilt
 * CPU binary): GGUF files written by tools/gguf-writer.ts from the golden checkpoints and the
 * default model, loaded by both; the logits of every prompt position are compared. Not part of
 * CI (node-llama-cpp is a peer installed only for benchmarks):
 *
 *   npm --prefix bench/peers install && node --import tsx bench/peers/crosscheck-gguf.ts
 *
 * llama.cpp refuses what it does not implement (expand ≠ 2, a missing ssm_conv1d.bias, in/out
 * projection biases), so those goldens are skipped or given a zero conv bias (the same model).
 * Results of one run are in the README's GGUF section.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { loadModel, defaultModelDir } from '../../src/node.js';
import { goldenCases } from '../../test/helpers/goldens.js';
import { goldenGgufParts, vocabFromTokenizerJson } from '../../test/gguf/helpers.js';
import { writeGguf, type GgufDType } from '../../tools/gguf-writer.js';

const tmp = mkdtempSync(join(tmpdir(), 'mamba-edge-xcheck-'));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });

async function theirs(path: string, ids: number[]): Promise<Float32Array[]> {
  const model = await llama.loadModel({ modelPath: path, useMmap: false, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 256, batchSize: 128, threads: 1, sequences: 1 });
  const seq = ctx.getSequence();
  const out = await seq.controlledEvaluate(ids.map((t) => [t as any, { generateNext: { logits: true } }]) as any);
  const rows = out.map((o: any) => {
    const m: Map<number, number> = o.next.logits;
    const row = new Float32Array(m.size);
    for (const [k, v] of m) row[k] = v;
    return row;
  });
  await ctx.dispose(); await model.dispose();
  return rows;
}

async function ours(bytes: Uint8Array, ids: number[]): Promise<Float32Array[]> {
  const m = await loadModel(bytes, { backend: 'wasm', threads: 1 });
  const { logits, shape } = await m.forward([ids]);
  await m.dispose();
  const V = shape[2];
  return ids.map((_, t) => logits.subarray(t * V, (t + 1) * V));
}

function compare(name: string, a: Float32Array[], b: Float32Array[]) {
  let diff = 0, scale = 0, argmaxAgree = 0;
  for (let t = 0; t < a.length; t++) {
    for (let i = 0; i < a[t].length; i++) { diff = Math.max(diff, Math.abs(a[t][i] - b[t][i])); scale = Math.max(scale, Math.abs(b[t][i])); }
    const am = (x: Float32Array) => x.indexOf(Math.max(...x));
    if (am(a[t]) === am(b[t])) argmaxAgree++;
  }
  console.log(`${name}: max |Δlogit| ${diff.toExponential(2)} at scale ${scale.toFixed(2)} (${(diff / scale).toExponential(2)} relative); argmax agrees at ${argmaxAgree}/${a.length} positions`);
}

const cases = goldenCases();
for (const [name, dtype, fix] of [
  ['m1-tied', 'f32'], ['m1-tied', 'q8_0'], ['m2-g1-tied', 'f32'], ['m2-g1-tied', 'q8_0'], ['m2-long', 'f32'], ['m2-g2-noconvbias', 'f32', 'zero conv bias'],
] as [string, GgufDType, string?][]) {
  const c = cases.find((x) => x.name === name)!;
  const p = goldenGgufParts(c.dir, dtype);
  if (fix) {
    // llama.cpp requires ssm_conv1d.bias: add zeros (same model)
    const convs = p.tensors.filter((t) => t.name.endsWith('ssm_conv1d.weight'));
    for (const t of convs) p.tensors.push({ name: t.name.replace('.weight', '.bias'), shape: [t.shape[0]], type: 'F32', data: new Float32Array(t.shape[0]) });
  }
  const bytes = writeGguf(p.kv, p.tensors);
  const path = join(tmp, `${name}-${dtype}.gguf`);
  writeFileSync(path, bytes);
  const ids = c.inputIds[0];
  compare(`${name} ${dtype}${fix ? ` (${fix})` : ''}`, await ours(bytes, ids), await theirs(path, ids));
}
const dir = defaultModelDir();
const vocab = vocabFromTokenizerJson(readFileSync(dir + '/tokenizer.json', 'utf8'), 256, 'gpt-2', 0);
const text = Array.from(new TextEncoder().encode(readFileSync(dir + '/heldout-sample.txt', 'utf8').slice(0, 64)));
for (const dtype of ['f32', 'q8_0', 'q4_0'] as GgufDType[]) {
  const p = goldenGgufParts(dir, dtype, vocab);
  const bytes = writeGguf(p.kv, p.tensors);
  const path = join(tmp, `default-${dtype}.gguf`);
  writeFileSync(path, bytes);
  compare(`default model ${dtype}`, await ours(bytes, text), await theirs(path, text));
}
process.exit(0);
