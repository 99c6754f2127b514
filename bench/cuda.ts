/**
 * The cuda backend's benchmark (issue 9, item 4): on random-weight models shaped like
 * state-spaces/mamba-130m and mamba2-130m (tools/bench-shapes.ts, one seed), written as Hugging Face
 * folders so PyTorch + transformers load the very same weights (tools/bench_cuda_transformers.py, run
 * in the same job), and so the webgpu backend runs them too (--backend webgpu):
 *   prefill tokens/s   a fresh session's `prefill` of T random tokens, to the last token's logits on the host
 *   decode tokens/s    after a prefill of the first --prefill length, batch 1: `step` (every token's
 *                      logits read back, as the first version of this bench measured) and greedy
 *                      `generate` (the real path: only the top candidate read back), twice on the session: the
 *                      first call includes recording its step graph, the second is the steady state
 *   scan bandwidth     (cuda) the Mamba-1 selective scan on [1, 16384, 1536] × N 16 and the Mamba-2 SSD
 *                      scan on [1, 16384, 24 heads × 64] × N 128 (--ssd-heads 24,64: mamba2-130m's and
 *                      mamba2-1.3b's 24 / 64 heads of 64), next to a device-to-device copy of 256 MiB, as two
 *                      shares (bench/scan-bytes.ts): bytes read ÷ the copy's bytes read (issue 9's "read
 *                      bandwidth of a large buffer copy") and bytes read + written ÷ the copy's
 *   roofline           (cuda) a 256 MiB device-to-device copy first, best of 5 rounds (read + written ÷ time; its read half is
 *                      the read bandwidth), then per model: greedy `generate` tok/s ÷ (read bandwidth ÷
 *                      f32 weight bytes), issue 9's decode target (≥ 60 %), all from this one run
 *   soak               (--soak N, cuda) one session generating N tokens (temperature 0.8, top-k 40): device
 *                      memory (cudaMemGetInfo, the backend's own bytes) and RSS every --soak-every tokens
 * Runs where the addon is built and a GPU is present; it is bundled for such machines by
 * tools/cuda-check.mjs (cuda-bench.mjs).
 *
 *   node cuda-bench.mjs --dir /tmp/cuda-bench [--backend cuda|webgpu] [--prefill 2048,16384,131072] [--decode 128]
 *                       [--models mamba-130m,mamba2-130m] [--no-bandwidth] [--only-bandwidth] [--soak 20000 --soak-every 1000]
 *                       [--json out.json] [--write-only] [--scan-reps 30] [--scan-widths 1536,4096] [--scan-tokens 16384,2048] [--no-ssd] [--no-copy] [--depth N]
 *                       [--ssd-heads 24,64] [--no-selective (no Mamba-1 scan rows)]
 * The scan rows record the kernel forced by MAMBA_EDGE_CUDA_SCAN (e.g. =tiled3, scan_tiled.cu) and
 * MAMBA_EDGE_CUDA_SCAN_CHUNK (its chunk length) as scanKernel / scanChunk, and MAMBA_EDGE_CUDA_SSD (=tiled|tiled128:
 * ssd_tiled.cu's four passes for the SSD instead of ssd.cu's ssdMma) as ssdKernel.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/node.js';
import { BENCH_MODELS, type BenchModelName } from '../tools/bench-shapes.js';
import { randomModelFiles } from '../tools/random-model.js';
import { createCudaBackend } from '../src/backends/cuda/factory.js';
import type { CudaBackend } from '../src/backends/cuda/index.js';
import type { ModelGraph } from '../src/models/graph.js';
import type { ModelConfig } from '../src/api/types.js';
import { SessionImpl } from '../src/api/session.js';
import { describeShare, mamba1ScanBytes, scanRates, shareOfRates, ssdScanBytes, type ScanBytes } from './scan-bytes.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
const dir = arg('dir', '/tmp/cuda-bench');
const backend = arg('backend', 'cuda') as 'cuda' | 'webgpu';
const prefillLengths = arg('prefill', '2048,16384,131072').split(',').map(Number);
const decodeTokens = Number(arg('decode', '128'));
const models = arg('models', 'mamba-130m,mamba2-130m').split(',').filter(Boolean) as BenchModelName[];
const soakTokens = Number(arg('soak', '0'));
const soakEvery = Number(arg('soak-every', '1000'));
/** Only write the model folders (for the transformers side to load first); reused if already there. */
const writeOnly = flag('write-only');
const onlyBandwidth = flag('only-bandwidth');
/** --scan-widths: the Mamba-1 scan's channel counts I (1536 = mamba-130m's d_inner, 4096 = mamba-1.4b's). */
const scanWidths = arg('scan-widths', '1536').split(',').map(Number);
/** --scan-tokens: the Mamba-1 scan's lengths T (16384; 2048 = one prefill forward's). */
const scanTokens = arg('scan-tokens', '16384').split(',').map(Number);
/** --ssd-heads: the SSD bandwidth row's head counts (P = 64, N = 128, one group): 24 = mamba2-130m, 64 = mamba2-1.3b. */
const ssdHeads = arg('ssd-heads', '24').split(',').map(Number);
/** Timed repetitions of each scan kernel (after one warm-up): 1 under a profiler. */
const scanReps = Number(arg('scan-reps', '30'));
/** --depth N: decode steps run ahead of the host on a backend with deviceSampling (SessionImpl.runAheadDepth; default 1). */
if (process.argv.includes('--depth')) SessionImpl.runAheadDepth = Number(arg('depth', '1'));
const engine = `mamba-edge ${backend}`;
/** The cuda A/B switches a row ran under (recorded in cuda rows only). */
const env = backend === 'cuda'
  ? {
    scanKernel: process.env.MAMBA_EDGE_CUDA_SCAN || 'default', scanChunk: process.env.MAMBA_EDGE_CUDA_SCAN_CHUNK ?? 'default', graphs: process.env.MAMBA_EDGE_CUDA_GRAPHS ?? 'on', fuse: process.env.MAMBA_EDGE_CUDA_FUSE ?? 'on',
    runAhead: process.env.MAMBA_EDGE_CUDA_RUNAHEAD ?? 'on', pdl: process.env.MAMBA_EDGE_CUDA_PDL ?? 'on', decodeGemv: process.env.MAMBA_EDGE_CUDA_DECODEGEMV ?? 'on',
    normGemv: process.env.MAMBA_EDGE_CUDA_NORMGEMV ?? 'on', scanDt: process.env.MAMBA_EDGE_CUDA_SCANDT ?? 'on',
    convGemv: process.env.MAMBA_EDGE_CUDA_CONVGEMV ?? 'off', ssdStep: process.env.MAMBA_EDGE_CUDA_SSDSTEP ?? 'on', runAheadDepth: SessionImpl.runAheadDepth,
    stepGraph: process.env.MAMBA_EDGE_CUDA_STEPGRAPH ?? 'on', snapFold: process.env.MAMBA_EDGE_CUDA_SNAPFOLD ?? 'on',
    convEpi: process.env.MAMBA_EDGE_CUDA_CONVEPI ?? 'on', argmaxGemv: process.env.MAMBA_EDGE_CUDA_ARGMAXGEMV ?? 'on',
    ssdKernel: process.env.MAMBA_EDGE_CUDA_SSD || 'default',
    pingPong: process.env.MAMBA_EDGE_CUDA_PINGPONG ?? 'on', readKernel: process.env.MAMBA_EDGE_CUDA_READKERNEL ?? 'on', splitK: process.env.MAMBA_EDGE_CUDA_SPLITK ?? 'auto', ssdHold: process.env.MAMBA_EDGE_CUDA_SSDHOLD ?? 'on',
  }
  : {};

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
const json = arg('json', '');
const save = () => { if (json) writeFileSync(json, JSON.stringify(results, null, 2)); };

/** Time per call of `fn` (after one untimed call), waiting for the GPU before and after. */
async function timeOnGpu(b: CudaBackend, fn: () => void, reps: number): Promise<number> {
  const sync = async () => b.read(b.sliceRows(b.zeros([1]), 0, 1));
  fn(); await sync();
  const a = performance.now();
  for (let i = 0; i < reps; i++) fn();
  await sync();
  return (performance.now() - a) / 1000 / reps;
}

/**
 * The device copy that sets the roofline: 256 MiB device to device (GB/s moved = read + written; read = half).
 * The best of COPY_ROUNDS rounds of 20 copies: one round read anywhere from 2,384 to 2,896 GB/s in the processes
 * of one H100 session (BENCHMARKS.md, fifth session), which moved a decode's "% of the roofline" by 12 points;
 * the fastest round is the hardware's rate and gives the lowest, most conservative percentage.
 */
const COPY_ROUNDS = 5;
let copyGBs = 0;
if (backend === 'cuda' && !writeOnly && !flag('no-copy')) {
  const b = (await createCudaBackend()) as CudaBackend;
  if ('unavailable' in b) throw new Error(String((b as { unavailable: string }).unavailable));
  const n = 64 * 2 ** 20;
  const big = b.zeros([n]);
  const rounds: number[] = [];
  for (let r = 0; r < COPY_ROUNDS; r++) rounds.push((2 * 4 * n) / (await timeOnGpu(b, () => b.free(b.sliceRows(big, 0, n)), 20)) / 1e9);
  copyGBs = Math.max(...rounds);
  b.free(big);
  await b.dispose();
  results.push({ what: 'copy', bytes: 4 * n, movedGBs: copyGBs, readGBs: copyGBs / 2, roundsGBs: rounds, ...env });
  console.error(`copy 256 MiB: ${copyGBs.toFixed(0)} GB/s moved (read + written), ${(copyGBs / 2).toFixed(0)} GB/s read (best of ${COPY_ROUNDS} rounds: ${rounds.map((v) => v.toFixed(0)).join(' / ')})`);
}

for (const name of onlyBandwidth ? [] : models) {
  // The 1.4B / 1.3B shapes: a block of random values repeated, in 1 GiB shards, as bench/webgpu.ts does
  // (drawing 1.4e9 normals in JS takes a minute; one JS buffer holds at most 4 GiB; speed does not depend on the values).
  const shape = BENCH_MODELS[name].hiddenSize >= 2048 ? { ...BENCH_MODELS[name], repeatPeriod: 1 << 16, shardBytes: 2 ** 30 } : BENCH_MODELS[name];
  const hf = join(dir, name);
  if (!existsSync(join(hf, 'config.json'))) {
    mkdirSync(hf, { recursive: true });
    const t0 = performance.now();
    for (const [file, bytes] of Object.entries(randomModelFiles(shape))) writeFileSync(join(hf, file), bytes);
    console.error(`${name}: random weights written to ${hf} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (writeOnly) continue;

  const model = await loadModel(hf, { backend });
  const V = model.config.vocabSize;
  { // warm-up: every kernel (and cuBLAS / pipelines) once, pool filled
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
    results.push({ model: name, engine, what: 'prefill', tokens: T, seconds: sec, tokensPerSec: T / sec, ...env });
    console.error(`${name} ${backend}: prefill ${T} tokens: ${(T / sec).toFixed(0)} tok/s`);
    if (T === prefillLengths[0] && decodeTokens > 0) {
      let tok = 1;
      const b = performance.now();
      for (let i = 0; i < decodeTokens; i++) tok = argmax(await s.step(tok));
      const dsec = (performance.now() - b) / 1000;
      results.push({ model: name, engine, what: 'decode', via: 'step (full logits read)', tokens: decodeTokens, afterPrompt: T, seconds: dsec, tokensPerSec: decodeTokens / dsec, ...env });
      console.error(`${name} ${backend}: decode (step) ${decodeTokens} tokens after ${T}: ${(decodeTokens / dsec).toFixed(0)} tok/s`);
      // Issue 9's decode target: ≥ 60 % of (the copy's read bandwidth ÷ f32 weight bytes per token), same run.
      const roofline = copyGBs > 0 ? (copyGBs / 2) * 1e9 / model.info.weightBytes : 0;
      const runAhead = backend === 'cuda' ? (model as unknown as { parts: { backend: CudaBackend } }).parts.backend.deviceSampling !== undefined : undefined;
      // generate twice on the session: the first call's tokens 2..n+1 (the first comes from the prefill's logits)
      // include recording the session's step graph (its first use: two captures and their instantiation, once a
      // session and sampler shape); the second call's are the steady state a chat's later turns see.
      for (const via of ['generate (greedy, top-1 read)', 'generate again, same session (step graph already recorded)']) {
        let first = 0, n = 0;
        for await (const _ of s.generate([], { temperature: 0, maxTokens: decodeTokens + 1, ignoreEos: true })) {
          if (n++ === 0) first = performance.now();
        }
        const gsec = (performance.now() - first) / 1000;
        const tps = decodeTokens / gsec;
        results.push({
          model: name, engine, what: 'decode', via, tokens: decodeTokens, afterPrompt: T, seconds: gsec, tokensPerSec: tps,
          ...(roofline ? { rooflineTokensPerSec: roofline, ofRoofline: tps / roofline, weightBytes: model.info.weightBytes } : {}), runAheadUsed: runAhead, ...env,
        });
        console.error(`${name} ${backend}: decode (${via.startsWith('generate again') ? 'generate again' : 'generate'}) ${decodeTokens} tokens: ${tps.toFixed(0)} tok/s${runAhead ? ' (run-ahead)' : ''}`
          + (roofline ? `; roofline ${roofline.toFixed(0)} tok/s (${(model.info.weightBytes / 1e6).toFixed(1)} MB a token): ${(100 * tps / roofline).toFixed(1)} %` : ''));
      }
    }
    await s.dispose();
    save();
  }
  results.push({ model: name, engine, what: 'info', device: model.backendInfo.device, weightBytes: model.info.weightBytes });

  if (backend === 'cuda' && decodeTokens > 0 && !flag('no-gpu-step')) {
    // The GPU's own time per decode step: the step ModelImpl records (embedding, layers, norm, head
    // logits), replayed back to back with no read-back between, so no host round trip is in it.
    const { graph, cfg, weights, backend: b } = (model as unknown as { parts: { graph: ModelGraph; cfg: ModelConfig; weights: unknown; backend: CudaBackend } }).parts;
    const state = graph.stateShapes(cfg, 1).map((sh) => b.zeros(sh));
    const head = graph.head(weights);
    const step = b.recordStep(Int32Array.of(1), (stepIds) => {
      const hidden = graph.forward({ backend: b, cfg, weights, state, batch: 1, seq: 1 }, stepIds);
      const logits = b.matmul(b.reshape(hidden, [1, cfg.hiddenSize]), head.weight, head.bias);
      b.free(hidden);
      return logits;
    });
    if (step) {
      const reps = 200;
      await b.read(step.run(Int32Array.of(2)));
      const a = performance.now();
      let out = step.run(Int32Array.of(3));
      for (let i = 1; i < reps; i++) out = step.run(Int32Array.of((i * 7) % V));
      await b.read(out);
      const ms = (performance.now() - a) / reps;
      results.push({ model: name, engine, what: 'decode-gpu', kernels: step.ops, msPerStep: ms, tokensPerSec: 1000 / ms, ...env });
      console.error(`${name} cuda: recorded step ${step.ops} kernels, ${ms.toFixed(3)} ms a step back to back (${(1000 / ms).toFixed(0)} steps/s, no read-back)`);
      step.release();
    }
    b.free(...state);
    // The same with the draw: the run-ahead step graph (deviceSampling.recordSampled, greedy), each run fed the
    // previous run's token on the device and its token's words read back, as generate runs it, but no host wait
    // between runs: the GPU's time per token with the tail (sampling, undo point, id, read-back) included.
    const ds = b.deviceSampling;
    const block = b.zerosBlock(graph.stateShapes(cfg, 1));
    const greedy = { temperature: 0, topK: 1, topP: 1 };
    const unit = ds?.recordSampled?.(block, Int32Array.of(0), (stepIds) => {
      const hidden = graph.forward({ backend: b, cfg, weights, state: block, batch: 1, seq: 1 }, stepIds);
      const logits = b.matmul(b.reshape(hidden, [1, cfg.hiddenSize]), head.weight, head.bias);
      b.free(hidden);
      return logits;
    }, greedy);
    if (ds && unit) {
      const reps = 200;
      let prev = unit.run(Int32Array.of(2), greedy, 0).token;
      await ds.read(prev);
      const a = performance.now();
      for (let i = 0; i < reps; i++) {
        const next = unit.run(ds.ids(prev), greedy, 0).token;
        ds.release(prev);
        prev = next;
      }
      await ds.read(prev);
      ds.release(prev);
      const ms = (performance.now() - a) / reps;
      results.push({ model: name, engine, what: 'decode-gpu-sampled', kernels: unit.ops, msPerStep: ms, tokensPerSec: 1000 / ms, ...env });
      console.error(`${name} cuda: step graph with its draw ${unit.ops} nodes, ${ms.toFixed(3)} ms a token back to back (${(1000 / ms).toFixed(0)} tok/s, read-back enqueued, no host wait${b.pingPong ? '; ping-pong state blocks, no undo copy' : ''})`);
      unit.release();
    }
    b.free(...block);
  }

  if (soakTokens > 0 && backend === 'cuda') {
    const cuda = (model as unknown as { parts: { backend: CudaBackend } }).parts.backend;
    const s = model.createSession();
    await s.prefill(ids(64, V, 5));
    const MiB = 2 ** 20;
    const sample = (tokens: number, t0: number) => {
      const mem = cuda.memInfo();
      const row = { model: name, what: 'soak', tokens, seconds: (performance.now() - t0) / 1000, deviceUsedMiB: (mem.total - mem.free) / MiB, backendMiB: cuda.deviceBytes / MiB, rssMiB: process.memoryUsage().rss / MiB };
      results.push(row);
      console.error(`${name} soak: ${tokens} tokens ${row.seconds.toFixed(1)} s: device used ${row.deviceUsedMiB.toFixed(1)} MiB, backend ${row.backendMiB.toFixed(1)} MiB, rss ${row.rssMiB.toFixed(1)} MiB`);
    };
    const t0 = performance.now();
    sample(0, t0);
    let n = 0;
    for await (const _ of s.generate([], { temperature: 0.8, topK: 40, seed: 7, maxTokens: soakTokens, ignoreEos: true })) {
      if (++n % soakEvery === 0) sample(n, t0);
    }
    await s.dispose();
    save();
  }
  await model.dispose();
}

if (backend === 'cuda' && !writeOnly && !flag('no-bandwidth')) { // scan kernel bandwidth vs a device copy
  const b = (await createCudaBackend()) as CudaBackend;
  if ('unavailable' in b) throw new Error(String((b as { unavailable: string }).unavailable));
  const time = (fn: () => void, reps: number) => timeOnGpu(b, fn, reps);
  /** Records one scan row (both shares of the copy when this run measured one) and returns its printed summary. */
  const scanRow = (op: string, bytes: ScanBytes, seconds: number, scanShape: number[], scanChunks: number) => {
    const rates = scanRates(bytes, seconds);
    const share = copyGBs > 0 ? shareOfRates(rates, { movedGBs: copyGBs, readGBs: copyGBs / 2 }) : undefined;
    results.push({ what: 'bandwidth', op, copyGBs, scanGBs: rates.movedGBs, scanReadGBs: rates.readGBs, ...share, scanMs: seconds * 1e3, scanChunks, scanShape, ...env });
    return `${rates.movedGBs.toFixed(0)} GB/s moved, ${rates.readGBs.toFixed(0)} GB/s read = ${share ? describeShare(share) : '? % (no copy measured: --no-copy)'}`;
  };
  const T = 16384;
  // Random inputs, not zeros (zeros can hide unwritten outputs and run at another speed than data):
  // values in [-scale, scale) + shift from one seeded generator; A < 0 as in the models.
  let seed = 7;
  const rnd = (shape: number[], scale = 1, shift = 0) => {
    const v = new Float32Array(shape.reduce((p, d) => p * d, 1));
    for (let i = 0; i < v.length; i++) { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; v[i] = ((seed / 2 ** 32) * 2 - 1) * scale + shift; }
    return b.upload(v, shape);
  };
  if (!flag('no-selective')) for (const Tm of scanTokens) for (const I of scanWidths) { // Mamba-1: x, dt, z, B, C read, y written
    const T = Tm;
    const N = 16;
    const act = () => rnd([1, T, I]);
    const args = { x: act(), dt: act(), z: act(), B: rnd([1, T, N]), C: rnd([1, T, N]), dtBias: rnd([I], 0.5, -2), A: rnd([I, N], 4, -5), D: rnd([I]), state: rnd([1, I, N]) };
    const scanSec = await time(() => b.free(b.selectiveScan(args)), scanReps);
    const line = scanRow('selectiveScan', mamba1ScanBytes(T, I, N), scanSec, [1, T, I, N], b.lastScanChunks);
    console.error(`copy ${copyGBs.toFixed(0)} GB/s (read + write); selective scan [1, ${T}, ${I}] N ${N}: ${line} (${(scanSec * 1e3).toFixed(3)} ms, ${b.lastScanChunks} chunks, ${env.scanKernel})`);
    b.free(...Object.values(args));
  }
  if (!flag('no-ssd')) for (const H of ssdHeads) { // Mamba-2: x, dt, B, C read, y written
    const P = 64, N = 128, G = 1;
    const args = {
      x: rnd([1, T, H * P]), dt: rnd([1, T, H]), B: rnd([1, T, G * N]), C: rnd([1, T, G * N]), dtBias: rnd([H], 0.5, -2), A: rnd([H], 4, -5), D: rnd([H]),
      state: rnd([1, H, P, N]), dtMin: 0, dtMax: Infinity, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: 256,
    };
    const scanSec = await time(() => b.free(b.ssdChunkScan(args)), scanReps);
    const line = scanRow('ssdChunkScan', ssdScanBytes(T, H, P, G, N), scanSec, [1, T, H, P, N], b.lastScanChunks);
    console.error(`ssd scan [1, ${T}, ${H}×${P}] N ${N}: ${line} (${(scanSec * 1e3).toFixed(3)} ms, ${b.lastScanChunks} chunks, ${env.ssdKernel !== 'default' ? `ssd ${env.ssdKernel}` : env.scanKernel})`);
    b.free(...Object.values(args).filter((v): v is ReturnType<typeof b.zeros> => typeof v === 'object'));
  }
  await b.dispose();
}

save();
console.log(JSON.stringify(results));
