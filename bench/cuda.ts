/**
 * The cuda backend's first benchmark (issue 9, item 4 in part): on random-weight models shaped like
 * state-spaces/mamba-130m and mamba2-130m (tools/bench-shapes.ts, one seed), written as Hugging Face
 * folders so PyTorch + transformers load the very same weights (tools/bench_cuda_transformers.py, run
 * in the same job):
 *   prefill tokens/s   a fresh session's `prefill` of T random tokens (chunked 256 at a time, as every
 *                      prompt is), to the last token's logits on the host
 *   decode tokens/s    `step` after a 2k-token prefill, batch 1, logits read back every token
 *   scan bandwidth     the Mamba-1 selective scan on [1, 16384, 1536] × N 16 (bytes of x, dt, z, B, C read
 *                      and y written ÷ time), next to a device-to-device copy of 256 MiB (read + written)
 * Runs where the addon is built and a GPU is present; it is bundled for such machines by
 * tools/cuda-check.mjs (cuda-bench.mjs).
 *
 *   node cuda-bench.mjs --dir /tmp/cuda-bench [--prefill 2048,16384,131072] [--decode 128] [--json out.json] [--write-only]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/node.js';
import { BENCH_MODELS, type BenchModelName } from '../tools/bench-shapes.js';
import { randomModelFiles } from '../tools/random-model.js';
import { createCudaBackend } from '../src/backends/cuda/factory.js';
import type { CudaBackend } from '../src/backends/cuda/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const dir = arg('dir', '/tmp/cuda-bench');
const prefillLengths = arg('prefill', '2048,16384,131072').split(',').map(Number);
const decodeTokens = Number(arg('decode', '128'));
const models = arg('models', 'mamba-130m,mamba2-130m').split(',') as BenchModelName[];
/** Only write the model folders (for the transformers side to load first); reused if already there. */
const writeOnly = process.argv.includes('--write-only');

function ids(n: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % vocab));
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

const results: Record<string, unknown>[] = [];
for (const name of models) {
  const shape = BENCH_MODELS[name];
  const hf = join(dir, name);
  if (!existsSync(join(hf, 'model.safetensors'))) {
    mkdirSync(hf, { recursive: true });
    const t0 = performance.now();
    for (const [file, bytes] of Object.entries(randomModelFiles(shape))) writeFileSync(join(hf, file), bytes);
    console.error(`${name}: random weights written to ${hf} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (writeOnly) continue;

  const model = await loadModel(hf, { backend: 'cuda' });
  const V = model.config.vocabSize;
  { // warm-up: every kernel and cuBLAS once, pool filled
    const s = model.createSession();
    await s.prefill(ids(300, V, 9));
    for (let i = 0; i < 4; i++) await s.step(i);
    await s.dispose();
  }
  for (const T of prefillLengths) {
    const prompt = ids(T, V, T);
    const s = model.createSession();
    const a = performance.now();
    await s.prefill(prompt);
    const sec = (performance.now() - a) / 1000;
    results.push({ model: name, engine: 'mamba-edge cuda', what: 'prefill', tokens: T, seconds: sec, tokensPerSec: T / sec });
    console.error(`${name}: prefill ${T} tokens: ${(T / sec).toFixed(0)} tok/s`);
    if (T === prefillLengths[0]) {
      let tok = 1;
      const b = performance.now();
      for (let i = 0; i < decodeTokens; i++) {
        const logits = await s.step(tok);
        tok = argmax(logits);
      }
      const dsec = (performance.now() - b) / 1000;
      results.push({ model: name, engine: 'mamba-edge cuda', what: 'decode', tokens: decodeTokens, afterPrompt: T, seconds: dsec, tokensPerSec: decodeTokens / dsec });
      console.error(`${name}: decode ${decodeTokens} tokens after ${T}: ${(decodeTokens / dsec).toFixed(0)} tok/s`);
    }
    await s.dispose();
  }
  results.push({ model: name, engine: 'mamba-edge cuda', what: 'info', device: model.backendInfo.device, weightBytes: model.info.weightBytes });
  await model.dispose();
}

if (!writeOnly) { // scan kernel bandwidth vs a device copy
  const b = (await createCudaBackend()) as CudaBackend;
  if ('unavailable' in b) throw new Error(String((b as { unavailable: string }).unavailable));
  const sync = async () => b.read(b.sliceRows(b.zeros([1]), 0, 1));
  const time = async (fn: () => void, reps: number) => {
    fn(); await sync();
    const a = performance.now();
    for (let i = 0; i < reps; i++) fn();
    await sync();
    return (performance.now() - a) / 1000 / reps;
  };
  const n = 64 * 2 ** 20;
  const big = b.zeros([n]);
  const copySec = await time(() => b.free(b.sliceRows(big, 0, n)), 10);
  const copyGBs = (2 * 4 * n) / copySec / 1e9;
  const T = 16384, I = 1536, N = 16;
  const act = () => b.zeros([1, T, I]);
  const args = { x: act(), dt: act(), z: act(), B: b.zeros([1, T, N]), C: b.zeros([1, T, N]), dtBias: b.zeros([I]), A: b.zeros([I, N]), D: b.zeros([I]), state: b.zeros([1, I, N]) };
  const scanSec = await time(() => b.free(b.selectiveScan(args)), 10);
  const scanBytes = 4 * (4 * T * I + 2 * T * N);
  results.push({ what: 'bandwidth', copyGBs, scanGBs: scanBytes / scanSec / 1e9, scanChunks: b.lastScanChunks, scanShape: [1, T, I, N] });
  console.error(`copy ${copyGBs.toFixed(0)} GB/s (read + write); selective scan ${(scanBytes / scanSec / 1e9).toFixed(0)} GB/s in ${b.lastScanChunks} chunks`);
  await b.dispose();
}

const json = arg('json', '');
if (json) writeFileSync(json, JSON.stringify(results, null, 2));
console.log(JSON.stringify(results));
