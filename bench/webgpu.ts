/**
 * WebGPU speed on random-weight models in the shapes of the published checkpoints
 * (tools/bench-shapes.ts: mamba-130m, mamba2-130m, mamba-1.4b, mamba2-1.3b; f32, batch 1 — sessions
 * have no batch dimension in the public API):
 *   prefill tokens/s   one prompt of each --prefill length through `session.prefill` (2,048-token GPU
 *                      forwards, only the last position's logits computed), and the backend's GPU bytes
 *                      held (WebGpuBackend.deviceBytes) after each: a long prompt must not grow them
 *   decode tokens/s    `session.generate` (the real path: with Backend.deviceSampling the token is sampled
 *                      on the GPU and the next step is submitted before it is read back): greedy, top-k
 *                      sampled, greedy at the other run-ahead depth and with run-ahead off (one
 *                      submission and one read-back per token, in series); and where a step's time goes
 *   --plain-prefill N  the same prefill of N tokens with the plain sequential scan (scanMode 'sequential')
 *   --ssd-rows 4,8     --kernels runs the tiled SSD with these rows per thread (WebGpuBackend.ssdRowsPerThread)
 *   --pass-chunks M,S  --kernels also times the tiled scans pass by pass at these chunk lengths (Mamba-1, SSD)
 *   --kernel-shapes    --kernels also in these models' shapes (on the first model's backend, no weights loaded)
 *   --v1-prefill N     the same prefill of N tokens with the first chunked scan kernels (scanMode 'chunked-v1')
 *   --kernels          the prefill scan kernels alone (Mamba-1 chunked scan, Mamba-2 SSD, and the plain
 *                      one-thread-per-channel walks they replace) on one long input, beside a large buffer
 *                      copy through sliceRows' two kernels (one f32 per thread, and 16-byte vec4 loads), as two
 *                      shares of the vec4 copy (bench/scan-bytes.ts): bytes read ÷ the copy's bytes read (issue
 *                      5's measure) and read + written ÷ the copy's. The copy's read bandwidth is the decode roofline's
 *                      numerator (bandwidth ÷ weight bytes read per token). The chunked scans run as the
 *                      first kernels ('chunked-v1') and the tiled ones at each chunk length of
 *                      --scan-chunks (Mamba-1) / --ssd-chunks (Mamba-2), default 64 / 128.
 *
 *   node --import tsx bench/webgpu.ts [--models mamba-130m,mamba2-130m] [--prefill 2048,16384,131072]
 *        [--decode 128] [--plain-prefill 16384] [--kernels] [--scan-tokens 2048,16384] [--budget-s S]
 *        [--scan-chunks 32,64,128] [--ssd-chunks 64,128] [--v1-prefill 16384] [--kernel-shapes mamba-1.4b,mamba2-1.3b]
 *        [--json out.json] [--tiny] [--copy]
 * --copy: the vec4 copy alone (without --kernels' scans; best of 5 rounds), for the decode roofline printed per model.
 * --budget-s: the whole run's time cap; a prefill whose time, projected from the model's previous
 *   prefill rate, would pass it is skipped and recorded as skipped (so a device call ends in time).
 * --tiny: 2 layers of the same widths, for a smoke run on a software adapter.
 * --vocab N: the models' vocabulary replaced by N (counting Dawn calls on lavapipe, whose 128 MiB binding
 *   limit splits a 50,280-row f32 head in two: at N ≤ 43,690 it is one binding, as on a GPU; the calls a
 *   token do not depend on N otherwise).
 * --no-recorded: without the recorded-step A/B and the decode breakdown (counting on a software adapter).
 * --switches: decode (session.generate, greedy, --decode tokens) once per WebGpuBackend switch of the
 *   decode tail — argmaxInHead on (twice: after each default row), stepOutputs 1 (the logits copy), fuseSampling off, both, foldHeadNorm, xProjPartials off — between two default
 *   rows, all in this process, each with its Dawn calls a token and (with --copy) its % of the roofline.
 * $MAMBA_EDGE_DAWN_FLAGS (src/node.ts): Dawn toggles for the whole process, e.g. enable-dawn-features=skip_validation
 *   (an A/B of Dawn's host cost per dispatch: run the same command with and without it; see bench/dawn-dispatch.ts).
 *   Unset, the bench sets disable-dawn-features=timestamp_quantization (whole-ns timestamps); with other flags, add it.
 * Kernel rows' GPU time comes from the device's timestamps where it has 'timestamp-query' (asked for here;
 *   --no-timestamps: the earlier wall-less-host estimate, which a busy host pushes either way); each run says which.
 * Models with d_model ≥ 2048 get repeated random weights (tools/random-model.ts repeatPeriod: speed
 * does not depend on the values) in 1 GiB shards (one JS buffer holds at most 4 GiB).
 */
import { writeFileSync } from 'node:fs';
import { loadModel } from '../src/node.js';
import { requestTimestampQueries } from '../src/backends/webgpu/device.js';
import type { Backend, Tensor } from '../src/backends/backend.js';
import type { ScanMode, WebGpuBackend } from '../src/backends/webgpu/index.js';
import type { GenerateOptions } from '../src/api/types.js';
import { SessionImpl } from '../src/api/session.js';
import { randomModelFiles } from '../tools/random-model.js';
import { ALL_BENCH_MODEL_NAMES, BENCH_MODELS, type BenchModelName } from '../tools/bench-shapes.js';
import { describeShare, mamba1ScanBytes, movedBytes, shareOfRates, ssdScanBytes, type ScanBytes } from './scan-bytes.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const tiny = process.argv.includes('--tiny');
const vocabOverride = Number(arg('vocab', '0'));
const switches = process.argv.includes('--switches');
const started = performance.now();
const budgetS = Number(arg('budget-s', 'Infinity'));
const elapsedS = () => (performance.now() - started) / 1000;
const log = (s: string) => console.error(`[${elapsedS().toFixed(0).padStart(4)} s] ${s}`);
requestTimestampQueries(!process.argv.includes('--no-timestamps'));
process.env.MAMBA_EDGE_DAWN_FLAGS ??= 'disable-dawn-features=timestamp_quantization'; // read when the first device is made
/** Chunk lengths of the tiled scans that --kernels sweeps (Mamba-1, Mamba-2 SSD); default: the backend's defaults. */
const chunkList = (v: string) => v.split(',').map(Number);
const scanChunks = chunkList(arg('scan-chunks', '64'));
const ssdChunks = chunkList(arg('ssd-chunks', '128'));
/** --pass-chunks M1,SSD: the chunk lengths (of those swept) whose tiled scan is also timed pass by pass. */
const [m1Pass, ssdPass] = chunkList(arg('pass-chunks', '-1,-1'));
/** --ssd-rows 4,8: WebGpuBackend.ssdRowsPerThread values the SSD sweep runs each chunk length with. */
const ssdRows = arg('ssd-rows', '8').split(',').map(Number) as (4 | 8)[];
const passChunks = { mamba1: m1Pass, ssd: ssdPass };
const MB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** WebGpuBackend.stats counters reported per decoded token (the Dawn calls of a step: bench --switches). */
const CALL_KINDS = ['dispatches', 'setPipelines', 'setBindGroups', 'passes', 'copies', 'clears', 'writeBuffers', 'submits', 'mapAsyncs', 'createBuffers', 'bindGroups'] as const;
type CallKind = typeof CALL_KINDS[number];
/** Calls a token are counted from the 4th token on (the first steps record the session's step and fill the pools). */
const CALLS_FROM = 4;

interface PrefillPoint { tokens: number; tokPerSec: number | null; seconds: number | null; deviceBytesAfter: number | null; skipped?: string; logits?: Float32Array }
interface Row {
  model: string; device: string; weightBytes: number; stateBytes: number; loadSeconds: number;
  deviceBytes: { afterLoad: number; afterWarmup: number };
  prefill: PrefillPoint[];
  plainPrefill?: PrefillPoint;
  plainPrefillCheck?: string;
  /** --v1-prefill: the same prefill with the first chunked scan kernels (scanMode 'chunked-v1'). */
  v1Prefill?: PrefillPoint;
  v1PrefillCheck?: string;
  decodeTokPerSec: number | null;
  /** Greedy with top-k 40 / top-p 0.95 sampling, with the other run-ahead depth, and with run-ahead off (one read-back per token). */
  decodeSampledTokPerSec?: number; decodeOtherDepthTokPerSec?: number; decodeNoRunAheadTokPerSec?: number;
  decodeBreakdown?: { jsMs: number; encodeMs: number; dispatches: number; pipelinedMs: number; roundTripMs: number; gpuMs?: number };
  /** The recorded decode step (Backend.recordStep) driven directly, with the dispatch folds on and off (see recordedDecode). */
  recorded?: RecordedRow[];
  /** The vec4 copy's read bandwidth (--copy) and the decode roofline it gives: read bandwidth ÷ weight bytes a token. */
  copyReadGBs?: number; rooflineTokPerSec?: number;
  /** Dawn calls a token of the greedy / sampled generate rows (WebGpuBackend.stats). */
  decodeCalls?: Record<CallKind, number>; decodeSampledCalls?: Record<CallKind, number>;
  /** --switches: greedy generate with each decode-tail switch, same process. */
  switches?: { what: string; set: Record<string, unknown>; tokPerSec: number; calls: Record<CallKind, number> }[];
  /**
   * GPU bytes held after the first prompt of one whole forward and the largest after longer ones;
   * `bound`: weights + one session's state + the model's own estimate of one forward's activations
   * (Model.chunkBytes, what maxMemoryBytes checks against), the issue's ceiling.
   */
  memory?: { firstPrefillBytes: number; maxLaterBytes: number; growthBytes: number; poolAfterFirst: number; chunkBytesEstimate: number; bound: number; withinBound: boolean };
  rssBytes: number;
}

interface Internals {
  allocState(batch: number): Tensor[];
  run(state: unknown[], ids: Int32Array, batch: number, seq: number, output: 'none'): Promise<unknown>;
  parts: { backend: Backend; graph: import('../src/models/graph.js').ModelGraph; cfg: import('../src/api/types.js').ModelConfig; weights: unknown };
  chunkBytes(batch: number): number;
}

/** Waits until everything recorded so far has run (a one-element read-back). */
async function sync(b: Backend): Promise<void> {
  const probe = b.zeros([1]);
  await b.read(probe);
  b.free(probe);
}

/** Kernel rows timed by the device's timestamps (WebGpuBackend.gpuMsOf), where it has them: how many, and how many not. */
const timing = { timestamps: 0, wall: 0 };

/**
 * Seconds a call of `fn`: wall, with the host's recording, encoding and submitting; gpu, the device's own time —
 * from timestamps around the `reps` calls in one submission where the device has 'timestamp-query' (min of
 * `rounds`), else wall time less the host's share measured around it (the method of the sections before the
 * eleventh session, which a busy host can push either way).
 */
async function timeGpu(b: Backend, fn: () => Tensor[], reps: number, rounds = 3): Promise<{ gpu: number; wall: number; gpuByWall?: number }> {
  const wallTimed = await timeGpuByWall(b, fn, reps, rounds);
  const gpuMsOf = (b as Partial<WebGpuBackend>).gpuMsOf?.bind(b);
  let gpu = Infinity;
  for (let r = 0; r < rounds && gpuMsOf; r++) {
    const ms = await gpuMsOf(() => { for (let i = 0; i < reps; i++) b.free(...fn()); });
    if (ms === null) break;
    gpu = Math.min(gpu, ms / 1000 / reps);
  }
  if (gpu === Infinity) { timing.wall++; return wallTimed; }
  timing.timestamps++;
  return { gpu, wall: wallTimed.wall, gpuByWall: wallTimed.gpu };
}

/**
 * Seconds of GPU time per call of `fn` (which records GPU work and returns tensors to free), best of
 * `rounds` rounds of `reps` calls in one submission each, after one untimed call (pipelines compiled,
 * pool warm). Each call's outputs are freed at once, so the next call reuses the same buffers (the GPU
 * runs them in order either way). A round's wall time holds, in series, the host recording the calls,
 * Dawn encoding them (both before the GPU starts: one submission at the end), the GPU's work and one
 * read-back round trip; the host's two shares (measured: the recording loop, WebGpuBackend.stats.encodeMs)
 * and the fastest empty read-back round trip are subtracted. `wall` is the same without the host's share.
 */
async function timeGpuByWall(b: Backend, fn: () => Tensor[], reps: number, rounds: number): Promise<{ gpu: number; wall: number }> {
  const stats = (b as unknown as { stats?: { encodeMs: number } }).stats ?? { encodeMs: 0 };
  b.free(...fn());
  await sync(b);
  let trip = Infinity;
  for (let i = 0; i < 5; i++) { const t = performance.now(); await sync(b); trip = Math.min(trip, performance.now() - t); }
  let gpu = Infinity, wall = Infinity;
  for (let r = 0; r < rounds; r++) {
    const enc0 = stats.encodeMs;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) b.free(...fn());
    const recorded = performance.now() - t0;
    await sync(b);
    const total = performance.now() - t0 - trip;
    wall = Math.min(wall, Math.max(total, 1e-3) / 1000 / reps);
    gpu = Math.min(gpu, Math.max(total - recorded - (stats.encodeMs - enc0), 1e-3) / 1000 / reps);
  }
  return { gpu, wall };
}

/** seconds: GPU time (timeGpu); wallSeconds: with the host's recording and encoding (the method of earlier sections). */
interface KernelRow { what: string; shape: string; seconds: number; wallSeconds: number; bytes: number; GBs: number; readGBs?: number; check?: string }

/** A scan row's two shares of the vec4 copy measured before it in `rows` (bench/scan-bytes.ts), or '' for a copy row. */
function shareOfVec4Copy(k: KernelRow, rows: KernelRow[]): string {
  const copy = rows.slice(0, rows.indexOf(k)).reverse().find((c) => c.what.startsWith('copy, vec4'));
  if (!copy?.readGBs || !k.readGBs || k.what.startsWith('copy')) return '';
  return describeShare(shareOfRates({ readGBs: k.readGBs, movedGBs: k.GBs }, { readGBs: copy.readGBs, movedGBs: copy.GBs }));
}

/** Copy bandwidth through sliceRows' two kernels, and the scans alone, chunked and sequential. */
async function kernels(b: WebGpuBackend, shape: typeof BENCH_MODELS[BenchModelName], T: number): Promise<KernelRow[]> {
  const rows: KernelRow[] = [];
  const push = (what: string, shapeText: string, time: { gpu: number; wall: number; gpuByWall?: number }, bytes: number, readBytes?: number) => {
    const seconds = time.gpu;
    const r: KernelRow = { what, shape: shapeText, seconds, wallSeconds: time.wall, bytes, GBs: bytes / seconds / 1e9, ...(readBytes ? { readGBs: readBytes / seconds / 1e9 } : {}) };
    rows.push(r);
    const share = shareOfVec4Copy(r, rows);
    log(`kernel ${what} ${shapeText}: ${(seconds * 1e3).toFixed(3)} ms (${(time.wall * 1e3).toFixed(3)} ms with the host's share${time.gpuByWall !== undefined ? `; ${(time.gpuByWall * 1e3).toFixed(3)} ms by wall less the host` : ''}), ${r.GBs.toPrecision(3)} GB/s read + written${r.readGBs ? ` (${r.readGBs.toPrecision(3)} GB/s read)` : ''}${share ? `: ${share}` : ''}`);
  };
  // 256 MiB copies (larger than any L2): offset 0 takes the vec4 kernel, offset 1 the one-f32 kernel.
  const n = tiny ? 1 << 20 : 64 * 2 ** 20;
  const src = b.zeros([n + 1, 1]);
  push('copy, vec4 loads (sliceRows, aligned)', `${MB(4 * n)}`, await timeGpu(b, () => [b.sliceRows(src, 0, n)], 40), 8 * n, 4 * n);
  push('copy, one f32 per thread (sliceRows, unaligned)', `${MB(4 * n)}`, await timeGpu(b, () => [b.sliceRows(src, 1, n)], 20), 8 * n, 4 * n);
  b.free(src);

  const D = shape.hiddenSize, I = (shape.expand ?? 2) * D;
  // Pseudo-random inputs (a drawn block of 65,521 values repeated: a prime period, so rows differ);
  // both modes start from a zero state on the same input once untimed, and their outputs are
  // compared: a cross-check of the two kernels on the real GPU at a length the tests do not reach.
  const pseudo = (shapeOf: number[], seed: number, lo: number, hi: number) => {
    const n = shapeOf.reduce((x, y) => x * y, 1), period = Math.min(n, 65521);
    const v = new Float32Array(n);
    let s = seed >>> 0;
    for (let i = 0; i < period; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; v[i] = lo + ((hi - lo) * s) / 2 ** 32; }
    for (let len = period; len < n; len *= 2) v.copyWithin(len, 0, Math.min(len, n - len));
    return b.upload(v, shapeOf);
  };
  let what = '', shapeText = '', bytes: ScanBytes = { read: 0, written: 0 }, free: Tensor[] = [];
  let scan: () => Tensor, state: Tensor;
  if (shape.modelType === 'mamba') {
    const N = shape.stateSize;
    const a = {
      x: pseudo([1, T, I], 1, -1, 1), dt: pseudo([1, T, I], 2, -3, 1), z: pseudo([1, T, I], 3, -1, 1), B: pseudo([1, T, N], 4, -1, 1), C: pseudo([1, T, N], 5, -1, 1),
      dtBias: pseudo([I], 6, -0.5, 0.5), A: pseudo([I, N], 7, -1.5, -0.5), D: pseudo([I], 8, 0.5, 1.5), state: b.zeros([1, I, N]),
    };
    scan = () => b.selectiveScan(a); state = a.state; free = Object.values(a);
    what = 'Mamba-1 selective scan'; shapeText = `[1, ${T}, ${I}] × N ${N}`; bytes = mamba1ScanBytes(T, I, N);
  } else {
    const N = shape.stateSize, P = shape.headDim, H = I / P, G = shape.nGroups;
    const a = {
      x: pseudo([1, T, H * P], 1, -1, 1), dt: pseudo([1, T, H], 2, -3, 1), B: pseudo([1, T, G * N], 4, -1, 1), C: pseudo([1, T, G * N], 5, -1, 1),
      dtBias: pseudo([H], 6, -0.5, 0.5), A: pseudo([H], 7, -1.5, -0.5), D: pseudo([H], 8, 0.5, 1.5),
      dtMin: 0, dtMax: Infinity, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: shape.chunkSize, state: b.zeros([1, H, P, N]),
    };
    scan = () => b.ssdChunkScan(a); state = a.state; free = [a.x, a.dt, a.B, a.C, a.dtBias, a.A, a.D, a.state];
    what = 'Mamba-2 SSD scan'; shapeText = `[1, ${T}, ${H}×${P}] × N ${N}`; bytes = ssdScanBytes(T, H, P, G, N);
  }
  // The runs compared: the first chunked kernels ('chunked-v1'), the tiled ones at each chunk length
  // of the sweep, and the plain sequential walk, which every chunked output is checked against.
  const chunks = shape.modelType === 'mamba' ? scanChunks : ssdChunks;
  const rowsList = shape.modelType === 'mamba' ? [4 as const] : ssdRows;
  const runs: { mode: ScanMode; chunk?: number; rows?: 4 | 8 }[] = [
    { mode: 'chunked-v1' }, ...rowsList.flatMap((rows) => chunks.map((chunk) => ({ mode: 'chunked' as const, chunk, rows }))),
    { mode: 'sequential' },
  ];
  const zeroState = new Float32Array(state.shape.reduce((x, y) => x * y, 1));
  const defaults = { ...b.scanChunk, rows: b.ssdRowsPerThread };
  const outputs: { row: KernelRow; y: Float32Array }[] = [];
  const passChunk = shape.modelType === 'mamba' ? passChunks.mamba1 : passChunks.ssd;
  const passRows: KernelRow[] = [];
  for (const run of runs) {
    b.scanMode = run.mode;
    if (run.chunk !== undefined) b.scanChunk = { mamba1: run.chunk, ssd: run.chunk };
    b.ssdRowsPerThread = run.rows ?? defaults.rows;
    b.write(state, zeroState);
    const y = scan();
    const got = await b.read(y);
    b.free(y);
    const rowsText = shape.modelType === 'mamba' ? '' : `, ${run.rows} rows/thread`;
    const label = run.mode === 'chunked' ? `chunked, tiled, chunk ${run.chunk}${rowsText}` : run.mode === 'chunked-v1' ? 'chunked, first kernels (v1, chunk 64)' : 'sequential';
    // enough calls per submission that the GPU's share dwarfs the read-back's jitter
    const reps = run.mode === 'sequential' ? 1 : T <= 4096 ? 40 : 10;
    push(`${what}, ${label}`, shapeText, await timeGpu(b, () => [scan()], reps), movedBytes(bytes), bytes.read);
    outputs.push({ row: rows[rows.length - 1], y: got });
    if (run.mode === 'chunked' && run.chunk === passChunk) {
      // where the time goes: the first k dispatches of the tiled scan, k = 1, 2, ...
      const names = shape.modelType === 'mamba' ? ['pass 1 (chunk states)', '+ carry', '+ output'] : ['pass 1 (chunk states)', '+ carry', '+ C·Bᵀ', '+ output'];
      for (let k = 1; k < names.length; k++) {
        b.scanPasses = k;
        const time = await timeGpu(b, () => [scan()], reps);
        b.scanPasses = Infinity;
        log(`kernel ${what}, chunk ${run.chunk}${rowsText}, ${names.slice(0, k).join(' ')}: ${(time.gpu * 1e3).toFixed(3)} ms`);
        passRows.push({ what: `${what}, chunk ${run.chunk}${rowsText}: ${names.slice(0, k).join(' ')} only`, shape: shapeText, seconds: time.gpu, wallSeconds: time.wall, bytes: 0, GBs: 0 });
      }
    }
    b.scanChunk = { mamba1: defaults.mamba1, ssd: defaults.ssd };
    b.ssdRowsPerThread = defaults.rows;
  }
  // f32 on both sides; the chunked form reorders the recurrence (exp(A·ΣΔ) across chunks): the op
  // suite holds the two to 1e-4 over 1,000 steps, and with A < 0 the state forgets, so the error does
  // not build up with T. 1e-3 of the output's scale separates rounding from a wrong kernel.
  const plain = outputs[outputs.length - 1].y;
  for (const { row, y } of outputs.slice(0, -1)) {
    let maxDiff = 0, maxAbs = 0;
    for (let i = 0; i < y.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(y[i] - plain[i])); maxAbs = Math.max(maxAbs, Math.abs(plain[i])); }
    const agree = maxDiff <= 1e-3 * Math.max(1, maxAbs);
    row.check = `vs sequential y over ${y.length} values: max |Δ| ${maxDiff.toExponential(2)} (max |y| ${maxAbs.toFixed(2)}): ${agree ? 'agree' : 'DIFFER'}`;
    log(`${row.what}: ${row.check}`);
  }
  b.free(...free);
  b.scanMode = 'chunked';
  return [...rows, ...passRows];
}

/**
 * Where a decode step's time goes: the host's share (recording the ops), Dawn's encoding +
 * submitting, the pipelined step time with no read-back between steps, one read-back round trip,
 * and (with device sampling) the GPU's own time for a step's layers.
 */
async function decodeBreakdown(model: Internals): Promise<NonNullable<Row['decodeBreakdown']>> {
  const b = model.parts.backend;
  const stats = (b as unknown as { stats?: { encodeMs: number; dispatches: number } }).stats ?? { encodeMs: 0, dispatches: 0 };
  const state = model.allocState(1);
  const STEPS = 64;
  await model.run(state, Int32Array.of(7), 1, 1, 'none');
  await b.read(state[0]);
  let js = 0;
  const enc0 = stats.encodeMs, disp0 = stats.dispatches;
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    const tj = performance.now();
    await model.run(state, Int32Array.of((i * 31) % 50000), 1, 1, 'none');
    js += performance.now() - tj;
  }
  await b.read(state[0]);
  const pipelinedMs = (performance.now() - t0) / STEPS;
  const encodeMs = (stats.encodeMs - enc0) / STEPS;
  const dispatches = (stats.dispatches - disp0) / STEPS;
  const tiny = b.zeros([1, 1]);
  await b.read(tiny);
  const trips: number[] = [];
  for (let i = 0; i < 21; i++) {
    const tr = performance.now();
    await b.read(tiny);
    trips.push(performance.now() - tr);
  }
  trips.sort((x, y) => x - y);
  const roundTripMs = trips[10];
  // The GPU's own time for a step's layers (embedding → final norm, no head): 16 steps recorded
  // before anything is submitted (the ids come from a device-sampled token, so no host write splits
  // the submission), then one submission: (wall − encoding − one round trip) / 16. Best of 3.
  let gpuMs: number | undefined;
  const ds = b.deviceSampling;
  if (ds) {
    const { graph, cfg, weights } = model.parts;
    const logits = b.zeros([1, cfg.vocabSize]);
    const token = ds.sample(logits, { temperature: 0, topK: 1, topP: 1 }, 0);
    await ds.read(token);
    const G = 16;
    for (let rep = 0; rep < 3; rep++) {
      for (let i = 0; i < G; i++) b.free(graph.forward({ backend: b, cfg, weights, state, batch: 1, seq: 1 }, ds.ids(token)));
      const e0 = stats.encodeMs;
      const tg = performance.now();
      await b.read(tiny);
      const ms = (performance.now() - tg - (stats.encodeMs - e0) - roundTripMs) / G;
      gpuMs = gpuMs === undefined ? ms : Math.min(gpuMs, ms);
    }
    ds.release(token);
    b.free(logits);
  }
  b.free(tiny, ...state);
  return { jsMs: js / STEPS - encodeMs, encodeMs, dispatches, pipelinedMs, roundTripMs, gpuMs };
}

const rand = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % Math.min(50000, vocabOverride > 0 ? vocabOverride : 50000));

interface RecordedRow { what: string; ops: number; aheadTokPerSec: number; aheadEncodeMs: number; dispatches: number; pipelinedMs: number; pipelinedEncodeMs: number; gpuMs: number }

/**
 * The recorded decode step (WebGpuBackend.recordStep, as Model.run records a session's step) driven
 * as the session's run-ahead decode drives a step, without the session's JavaScript around it:
 *   ahead      token t + 1's step (its id read on the GPU from token t's sample) and its sampling are
 *              submitted before token t is read back — greedy, `tokens` tokens after 8 untimed: tok/s
 *              and the host's encoding + submitting per token;
 *   pipelined  the same steps with no read-back until the last: wall time per step (host or GPU,
 *              whichever is slower) and encoding per step;
 *   GPU        16 replays (ids copied on the device) in one submission: (wall − encoding − one
 *              round trip) / 16 — a whole step's GPU time, head included, without the top-k.
 */
async function recordedDecode(model: Internals, b: WebGpuBackend, tokens: number, what: string): Promise<RecordedRow | null> {
  const ds = b.deviceSampling;
  const state = model.allocState(1);
  const first = Int32Array.of(7);
  await model.run(state, first, 1, 1, 'none');
  const step = (model as unknown as { recordedStep(state: Tensor[], ids: Int32Array): import('../src/backends/backend.js').RecordedStep | null }).recordedStep(state, first);
  if (!step) { b.free(...state); return null; }
  const greedy = { temperature: 0, topK: 1, topP: 1 };
  const st = b.stats;
  let tok = ds.sample(step.run(first), greedy, 0);
  const stamps: number[] = [];
  let e0 = 0, d0 = 0;
  for (let i = 0; i < tokens + 8; i++) {
    const next = ds.sample(step.run(ds.ids(tok)), greedy, 0);
    await ds.read(tok);
    ds.release(tok);
    tok = next;
    if (i >= 8) stamps.push(performance.now());
    if (i === 8) { e0 = st.encodeMs; d0 = st.dispatches; }
  }
  await ds.read(tok);
  const n = stamps.length - 1;
  const aheadTokPerSec = n / ((stamps[n] - stamps[0]) / 1000);
  const aheadEncodeMs = (st.encodeMs - e0) / n, dispatches = (st.dispatches - d0) / n;
  // pipelined, no read-back
  const P = 64;
  const e1 = st.encodeMs;
  const t1 = performance.now();
  for (let i = 0; i < P; i++) { const next = ds.sample(step.run(ds.ids(tok)), greedy, 0); ds.release(tok); tok = next; }
  await ds.read(tok);
  const pipelinedMs = (performance.now() - t1) / P, pipelinedEncodeMs = (st.encodeMs - e1) / P;
  // GPU time: 16 replays in one submission (run() only records), best of 3
  const tiny = b.zeros([1, 1]);
  await b.read(tiny);
  const trips: number[] = [];
  for (let i = 0; i < 11; i++) { const t = performance.now(); await b.read(tiny); trips.push(performance.now() - t); }
  trips.sort((x, y) => x - y);
  let gpuMs = Infinity;
  for (let r = 0; r < 3; r++) {
    for (let i = 0; i < 16; i++) step.run(ds.ids(tok));
    const e2 = st.encodeMs;
    const t2 = performance.now();
    await b.read(tiny);
    gpuMs = Math.min(gpuMs, (performance.now() - t2 - (st.encodeMs - e2) - trips[5]) / 16);
  }
  ds.release(tok);
  b.free(tiny);
  step.release();
  b.free(...state);
  const row = { what, ops: step.ops, aheadTokPerSec, aheadEncodeMs, dispatches, pipelinedMs, pipelinedEncodeMs, gpuMs };
  log(`recorded step (${what}): ${step.ops} commands; run-ahead loop ${aheadTokPerSec.toFixed(1)} tok/s (${(1000 / aheadTokPerSec).toFixed(2)} ms a token, encoding + submitting ${aheadEncodeMs.toFixed(2)} ms, ${dispatches.toFixed(0)} dispatches a token); pipelined ${pipelinedMs.toFixed(2)} ms a step (encoding ${pipelinedEncodeMs.toFixed(2)} ms); GPU ${gpuMs.toFixed(2)} ms a step (head included)`);
  return row;
}

async function benchModel(name: BenchModelName, lengths: number[], decodeTokens: number, plainTokens: number, kernelTokens: number[], v1Tokens: number): Promise<{ row: Row; kernels: KernelRow[]; extraKernels: Record<string, KernelRow[]> }> {
  const big = BENCH_MODELS[name].hiddenSize >= 2048;
  const shape = { ...BENCH_MODELS[name], ...(tiny ? { numLayers: 2 } : {}), ...(vocabOverride > 0 ? { vocabSize: vocabOverride } : {}), ...(big ? { repeatPeriod: 1 << 16, shardBytes: 2 ** 30 } : {}) };
  const t0 = performance.now();
  const files = randomModelFiles(shape);
  log(`${name}: random weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const model = await loadModel(files, { backend: 'webgpu' });
  const loadSeconds = (performance.now() - t0) / 1000;
  const internals = model as unknown as Internals;
  const gpu = internals.parts.backend as WebGpuBackend;
  const afterLoad = gpu.deviceBytes;
  log(`${name}: ready in ${loadSeconds.toFixed(1)} s on ${model.backendInfo.device}; ${MB(model.info.weightBytes)} of weights, ${MB(afterLoad)} held on the GPU`);
  // Warm-up: compile every pipeline (prefill and step forms).
  const warm = model.createSession();
  await warm.prefill(rand(300));
  // 32 tokens: run-ahead decode holds a few buffers across steps, so the pool's buffers (and the bind
  // groups cached on them) take some steps to settle; the first measured decode should not pay that.
  await warm.generate([], { temperature: 0, maxTokens: 32, ignoreEos: true }).finished;
  await warm.dispose();
  const row: Row = {
    model: name + (tiny ? ' (2 layers)' : '') + (vocabOverride > 0 ? ` (vocab ${vocabOverride})` : ''), device: model.backendInfo.device ?? '?', weightBytes: model.info.weightBytes, stateBytes: model.info.stateBytes,
    loadSeconds, deviceBytes: { afterLoad, afterWarmup: gpu.deviceBytes }, prefill: [], decodeTokPerSec: null, rssBytes: 0,
  };

  let rate = 0; // tokens/s of the last prefill, for projecting the next
  const prefillOnce = async (n: number): Promise<PrefillPoint> => {
    const projected = rate > 0 ? n / rate : 0;
    if (elapsedS() + projected > budgetS) {
      const why = `projected ${projected.toFixed(0)} s at ${rate.toFixed(0)} tok/s; ${(budgetS - elapsedS()).toFixed(0)} s of the run's budget left`;
      log(`${name}: prefill ${n} skipped (${why})`);
      return { tokens: n, tokPerSec: null, seconds: null, deviceBytesAfter: null, skipped: why };
    }
    const s = model.createSession();
    const ids = rand(n);
    const ts = performance.now();
    const logits = await s.prefill(ids);
    const seconds = (performance.now() - ts) / 1000;
    const point = { tokens: n, tokPerSec: n / seconds, seconds, deviceBytesAfter: gpu.deviceBytes, logits: Float32Array.from(logits) };
    await s.dispose();
    return point;
  };
  for (const n of lengths) {
    const p = await prefillOnce(n);
    if (p.tokPerSec) rate = p.tokPerSec;
    row.prefill.push(p);
    if (p.tokPerSec) log(`${name}: prefill ${n} tokens: ${p.tokPerSec.toFixed(0)} tok/s (${p.seconds!.toFixed(2)} s); GPU bytes held after: ${MB(p.deviceBytesAfter!)}`);
  }
  // The baseline: the first prompt that fills one whole GPU forward (2,048 tokens: the session's
  // 256-token chunk × the backend's prefillChunkMultiple); longer prompts run more forwards of it.
  const forward = 256 * ((gpu as unknown as { prefillChunkMultiple?: number }).prefillChunkMultiple ?? 1);
  const measured = row.prefill.filter((p) => p.deviceBytesAfter !== null && p.tokens >= forward);
  if (measured.length > 0) {
    const first = measured[0].deviceBytesAfter!;
    const maxLater = Math.max(first, ...measured.slice(1).map((p) => p.deviceBytesAfter!));
    // weights + the session's state + everything one 2,048-token forward allocated (the pool keeps it)
    const chunkBytesEstimate = internals.chunkBytes(1);
    const bound = afterLoad + model.info.stateBytes + chunkBytesEstimate;
    row.memory = {
      firstPrefillBytes: first, maxLaterBytes: maxLater, growthBytes: maxLater - first, poolAfterFirst: first - afterLoad - model.info.stateBytes,
      chunkBytesEstimate, bound, withinBound: maxLater <= bound,
    };
    log(`${name}: GPU bytes after the ${measured[0].tokens}-token prefill ${MB(first)} (weights ${MB(afterLoad)} + state ${MB(model.info.stateBytes)} + the rest ${MB(row.memory.poolAfterFirst)}); largest after longer prompts ${MB(maxLater)}: growth ${MB(row.memory.growthBytes)}; bound weights + state + one forward's activations (${MB(chunkBytesEstimate)} estimated) = ${MB(bound)}: ${row.memory.withinBound ? 'within' : 'EXCEEDED'}`);
  }

  // Order: what was never measured first (the run may be cut by --budget-s): kernels, the plain scan, decode.
  /** The scans alone in `shape` at each --scan-tokens length (a failure loses only its rows). */
  const kernelRows = async (shape: typeof BENCH_MODELS[BenchModelName], what: string): Promise<KernelRow[]> => {
    const rows: KernelRow[] = [];
    for (const T of kernelTokens) {
      if (elapsedS() >= budgetS) { log(`${what}: kernels at ${T} skipped, the run's budget is spent`); continue; }
      rows.push(...await kernels(gpu, shape, T).catch((e: Error) => { log(`${what}: kernels failed: ${e.stack}`); gpu.scanMode = 'chunked'; return []; }));
    }
    return rows;
  };
  const krows = await kernelRows(BENCH_MODELS[name], name);
  // --kernel-shapes: the scans alone in other models' shapes, on this model's backend (no weights needed)
  const extraKernels: Record<string, KernelRow[]> = {};
  if (name === models[0]) for (const extra of kernelShapes) extraKernels[`${extra} (kernels only)`] = await kernelRows(BENCH_MODELS[extra], extra);

  /** The same prefill of n tokens with another scanMode, and its last position's logits against the default's. */
  const otherScan = async (mode: ScanMode, n: number, what: string): Promise<{ point: PrefillPoint; check?: string }> => {
    gpu.scanMode = mode;
    const warmOther = model.createSession();
    // this mode's pipelines, and its scratch buffers at the size of one whole GPU forward (a shorter
    // warm-up left them to be allocated inside the measured prefill: the 2026-12-06 WEBSCAN runs)
    await warmOther.prefill(rand(256 * ((gpu as unknown as { prefillChunkMultiple?: number }).prefillChunkMultiple ?? 1)));
    await warmOther.dispose();
    const point = await prefillOnce(n);
    gpu.scanMode = 'chunked';
    if (point.tokPerSec) log(`${name}: prefill ${n} tokens with the ${what}: ${point.tokPerSec.toFixed(0)} tok/s`);
    const chunked = row.prefill.find((p) => p.tokens === n)?.logits, other = point.logits;
    if (!chunked || !other) return { point };
    let d = 0, m = 0;
    for (let i = 0; i < other.length; i++) { d = Math.max(d, Math.abs(other[i] - chunked[i])); m = Math.max(m, Math.abs(chunked[i])); }
    const check = `last-position logits, ${what} vs chunked scan: max |Δ| ${d.toExponential(2)} (max |logit| ${m.toFixed(2)})`;
    log(`${name}: ${check}`);
    return { point, check };
  };
  if (v1Tokens > 0 && elapsedS() < budgetS) {
    const { point, check } = await otherScan('chunked-v1', v1Tokens, 'first chunked kernels (v1)');
    row.v1Prefill = point;
    if (check) row.v1PrefillCheck = check;
  }
  if (plainTokens > 0 && elapsedS() < budgetS) {
    const { point, check } = await otherScan('sequential', plainTokens, 'sequential scan');
    row.plainPrefill = point;
    if (check) row.plainPrefillCheck = check;
  }
  if (decodeTokens > 0 && elapsedS() < budgetS) {
    /** Tokens/s of one session.generate over decodeTokens tokens after a 16-token prompt (first to last token). */
    const decodeRate = async (opts: GenerateOptions, what: string) => {
      const s = model.createSession();
      await s.prefill(rand(16));
      const stamps: number[] = [];
      const st = gpu.stats;
      let enc0 = 0, disp0 = 0;
      let c0 = { ...st };
      for await (const _ of s.generate([], { ...opts, maxTokens: decodeTokens, ignoreEos: true })) {
        stamps.push(performance.now());
        if (stamps.length === 1) { enc0 = st.encodeMs; disp0 = st.dispatches; }
        if (stamps.length === CALLS_FROM) c0 = { ...st }; // calls: the steady state (the session's step is recorded on its first token)
      }
      const rate = (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000);
      const per = (x: number) => (x / (stamps.length - 1)).toFixed(2);
      lastCalls = Object.fromEntries(CALL_KINDS.map((k) => [k, (st[k] - c0[k]) / Math.max(1, stamps.length - CALLS_FROM)])) as Record<CallKind, number>;
      log(`${name}: decode ${what}: ${rate.toFixed(1)} tok/s over ${stamps.length - 1} tokens (${(1000 / rate).toFixed(2)} ms a token; host encoding + submitting ${per(st.encodeMs - enc0)} ms and ${per(st.dispatches - disp0)} dispatches a token)`);
      log(`${name}: decode ${what}: Dawn calls a token (tokens ${CALLS_FROM + 1}..${stamps.length}): ${CALL_KINDS.map((k) => `${k} ${lastCalls![k].toFixed(2)}`).join(', ')}`);
      await s.dispose();
      return rate;
    };
    let lastCalls: Record<CallKind, number> | null = null;
    const ahead = gpu.deviceSampling !== undefined;
    row.decodeTokPerSec = await decodeRate({ temperature: 0 }, ahead ? 'greedy, run-ahead (token sampled on the GPU)' : 'greedy');
    row.decodeCalls = lastCalls ?? undefined;
    row.decodeSampledTokPerSec = await decodeRate({ temperature: 0.8, topK: 40, topP: 0.95, seed: 1 }, 'top-k 40 / top-p 0.95 / T 0.8');
    row.decodeSampledCalls = lastCalls ?? undefined;
    if (switches) { // the decode tail's switches, greedy generate, one process (BENCHMARKS.md, webdec4)
      const saved = { stepOutputs: gpu.stepOutputs, fuseSampling: gpu.fuseSampling, foldHeadNorm: gpu.foldHeadNorm, xProjPartials: gpu.xProjPartials, argmaxInHead: gpu.argmaxInHead };
      const configs: { what: string; set: Partial<typeof saved> }[] = [
        { what: 'default', set: {} },
        // The default greedy draw reads the head's per-workgroup best rows (matvec_argmax_* + argmax_sample); off: top_k_sample over V logits
        { what: 'argmaxInHead off (top_k_sample over the V logits, as before)', set: { argmaxInHead: false } },
        { what: 'stepOutputs 1 (the logits copy a token, as before)', set: { stepOutputs: 1 } },
        { what: 'fuseSampling off (top_k and sample_top_k as two dispatches, as before)', set: { fuseSampling: false } },
        { what: 'stepOutputs 1 + fuseSampling off (main before webdec4, less its staging-buffer reuse)', set: { stepOutputs: 1, fuseSampling: false } },
        { what: 'foldHeadNorm on', set: { foldHeadNorm: true } },
        // the final norm folded into the argmax head: one dispatch a token fewer, the norm recomputed by ⌈V / 8⌉ workgroups instead of V
        { what: 'argmaxInHead + foldHeadNorm on', set: { argmaxInHead: true, foldHeadNorm: true } },
        // Mamba-1 only (Mamba-2 has no x_proj): x_proj as its own dispatch, 4 a layer instead of 3 (webdec5)
        { what: 'xProjPartials off (x_proj as its own dispatch, as before webdec5)', set: { xProjPartials: false } },
        { what: 'default, again', set: {} },
        { what: 'argmaxInHead off, again', set: { argmaxInHead: false } },
      ];
      row.switches = [];
      for (const c of configs) {
        Object.assign(gpu, saved, c.set);
        const label = `switches: ${c.what} (${JSON.stringify({ ...saved, ...c.set })})`;
        const draws0 = gpu.stats.argmaxDraws;
        const tokPerSec = await decodeRate({ temperature: 0 }, label).catch((e: Error) => { log(`${name}: ${label} failed: ${e.stack}`); return null; });
        if (gpu.argmaxInHead) log(`${name}: ${c.what}: ${gpu.stats.argmaxDraws - draws0} of ${decodeTokens} greedy draws read the head's best rows (argmax_sample)`);
        if (tokPerSec !== null) row.switches.push({ what: c.what, set: { ...saved, ...c.set }, tokPerSec, calls: lastCalls! });
      }
      Object.assign(gpu, saved);
    }
    if (ahead) {
      const depth = SessionImpl.runAheadDepth; // the other run-ahead depth (1 ↔ 2), same process
      SessionImpl.runAheadDepth = depth === 1 ? 2 : 1;
      row.decodeOtherDepthTokPerSec = await decodeRate({ temperature: 0 }, `greedy, run-ahead by ${SessionImpl.runAheadDepth} steps (default ${depth})`);
      SessionImpl.runAheadDepth = depth;
      const ds = gpu.deviceSampling; // the same tree's one-read-back-per-token path (the host samples every token)
      Object.defineProperty(gpu, 'deviceSampling', { value: undefined, configurable: true });
      row.decodeNoRunAheadTokPerSec = await decodeRate({ temperature: 0 }, 'greedy, one read-back per token (run-ahead off)');
      Object.defineProperty(gpu, 'deviceSampling', { value: ds, configurable: true });
    }
    if (gpu.deviceSampling && !process.argv.includes('--no-recorded')) { // the recorded step alone, the decode folds on and off (same process)
      row.recorded = [];
      const folds = { norms: gpu.foldNorms, decode: gpu.foldDecode, inProj: gpu.fuseInProj, xProj: gpu.xProjPartials };
      const argmax0 = gpu.argmaxInHead;
      const configs: { what: string; on: boolean; inProj: boolean; xProj?: boolean; argmax?: boolean }[] = [
        { what: 'folds on (default)', on: true, inProj: true },
        // argmaxInHead off: the draw as top_k_sample over the V logits again (the default reads the head's best rows)
        { what: 'argmaxInHead off', on: true, inProj: true, argmax: false },
        // Mamba-1's x_proj as its own dispatch again, 4 a layer (webdec5; Mamba-2: no change)
        { what: 'xProjPartials off: Mamba-1 x_proj in its own dispatch', on: true, inProj: true, xProj: false },
        // round 2's step: Mamba-2's in_proj as two dispatches and the B/C conv pair (Mamba-1: no change)
        { what: 'fuseInProj off: Mamba-2 in_proj in two dispatches + conv pair', on: true, inProj: false },
        { what: 'folds off: separate norm, in_proj, conv, gated-norm dispatches', on: false, inProj: false },
        { what: 'folds on (default), again', on: true, inProj: true },
        { what: 'argmaxInHead off, again', on: true, inProj: true, argmax: false },
      ];
      for (const c of configs) {
        gpu.foldNorms = c.on && folds.norms;
        gpu.foldDecode = c.on && folds.decode;
        gpu.fuseInProj = c.inProj && folds.inProj;
        gpu.xProjPartials = (c.xProj ?? true) && folds.xProj;
        gpu.argmaxInHead = c.argmax ?? argmax0;
        const r = await recordedDecode(internals, gpu, decodeTokens, c.what).catch((e: Error) => { log(`${name}: recorded step failed: ${e.stack}`); return null; });
        if (r) row.recorded.push(r);
      }
      [gpu.foldNorms, gpu.foldDecode, gpu.fuseInProj, gpu.xProjPartials, gpu.argmaxInHead] = [folds.norms, folds.decode, folds.inProj, folds.xProj, argmax0];
    }
    // internals (Model.run, allocState) that other work may change: a failure here loses only this
    const bd = process.argv.includes('--no-recorded') ? null : await decodeBreakdown(internals).catch((e: Error) => { log(`${name}: decode breakdown failed: ${e.message}`); return null; });
    if (bd) row.decodeBreakdown = bd;
    if (bd) log(`${name}: decode step: ${bd.dispatches.toFixed(0)} dispatches; host ${bd.jsMs.toFixed(2)} ms recording + ${bd.encodeMs.toFixed(2)} ms encoding/submitting; ${bd.pipelinedMs.toFixed(2)} ms per step pipelined without read-back; read-back round trip ${bd.roundTripMs.toFixed(2)} ms${bd.gpuMs === undefined ? '' : `; GPU time of a step's layers ${bd.gpuMs.toFixed(2)} ms (16 in one submission)`}`);
  }

  if (process.argv.includes('--copy') && !process.argv.includes('--kernels')) {
    const n = tiny ? 1 << 20 : 64 * 2 ** 20; // 256 MiB, larger than any L2
    const src = gpu.zeros([n, 1]);
    // Best of 5 rounds (as bench/cuda.ts): one round read 1,242-1,327 GB/s across the fifth session's processes;
    // the fastest is the hardware's rate and gives the lowest, most conservative share of the roofline.
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) rounds.push((4 * n) / (await timeGpu(gpu, () => [gpu.sliceRows(src, 0, n)], 40)).gpu / 1e9);
    gpu.free(src);
    row.copyReadGBs = Math.max(...rounds);
  } else {
    const copy = krows.find((k) => k.what.startsWith('copy, vec4'));
    if (copy?.readGBs) row.copyReadGBs = copy.readGBs;
  }
  if (row.copyReadGBs) {
    row.rooflineTokPerSec = (row.copyReadGBs * 1e9) / model.info.weightBytes;
    const best = Math.max(row.decodeTokPerSec ?? 0, ...(row.recorded ?? []).map((r) => r.aheadTokPerSec));
    for (const sw of row.switches ?? []) {
      log(`${name}: switch row | ${sw.what} | ${sw.tokPerSec.toFixed(1)} tok/s | ${(100 * sw.tokPerSec / row.rooflineTokPerSec).toFixed(1)} % of roofline | ${sw.calls.dispatches.toFixed(2)} dispatches a token | ${CALL_KINDS.filter((k) => k !== 'dispatches').map((k) => `${k} ${sw.calls[k].toFixed(2)}`).join(', ')}`);
    }
    log(`${name}: vec4 copy ${row.copyReadGBs.toFixed(0)} GB/s read; roofline ${row.rooflineTokPerSec.toFixed(0)} tok/s (${MB(model.info.weightBytes)} of weights a token); decode generate ${fmt(row.decodeTokPerSec, 1)} tok/s = ${(100 * (row.decodeTokPerSec ?? 0) / row.rooflineTokPerSec).toFixed(1)} %, best ${best.toFixed(1)} tok/s = ${(100 * best / row.rooflineTokPerSec).toFixed(1)} %`);
  }
  row.rssBytes = process.memoryUsage().rss;
  for (const p of [...row.prefill, ...(row.plainPrefill ? [row.plainPrefill] : []), ...(row.v1Prefill ? [row.v1Prefill] : [])]) delete p.logits; // not for the JSON
  await model.dispose();
  return { row, kernels: krows, extraKernels };
}

const models = arg('models', 'mamba-130m,mamba2-130m').split(',') as BenchModelName[];
for (const m of models) if (!(m in BENCH_MODELS)) throw new Error(`--models: unknown ${m}; known: ${ALL_BENCH_MODEL_NAMES.join(', ')}`);
const kernelShapes = arg('kernel-shapes', '').split(',').filter(Boolean) as BenchModelName[];
for (const m of kernelShapes) if (!(m in BENCH_MODELS)) throw new Error(`--kernel-shapes: unknown ${m}; known: ${ALL_BENCH_MODEL_NAMES.join(', ')}`);
const lengths = arg('prefill', '2048,16384,131072').split(',').map(Number);
const out = arg('json', '');
const result: { date: string; command: string; dawnFlags: string; rows: Row[]; kernels: Record<string, KernelRow[]> } = {
  date: new Date().toISOString(), command: `bench/webgpu.ts ${process.argv.slice(2).join(' ')}`, dawnFlags: process.env.MAMBA_EDGE_DAWN_FLAGS ?? '', rows: [], kernels: {},
};
if (result.dawnFlags) log(`Dawn flags (MAMBA_EDGE_DAWN_FLAGS): ${result.dawnFlags}`);
for (const m of models) {
  if (elapsedS() > budgetS) { log(`${m}: skipped, the run's ${budgetS} s budget is spent`); continue; }
  const got = await benchModel(m, lengths, Number(arg('decode', '128')), Number(arg('plain-prefill', '0')),
    process.argv.includes('--kernels') ? arg('scan-tokens', tiny ? '2048' : '16384').split(',').map(Number) : [], Number(arg('v1-prefill', '0'))).catch((e: Error) => { log(`${m}: FAILED: ${e.stack}`); return null; });
  if (!got) { process.exitCode = 1; continue; }
  const { row, kernels: k, extraKernels } = got;
  result.rows.push(row);
  if (k.length) result.kernels[row.model] = k;
  Object.assign(result.kernels, extraKernels);
  if (out) writeFileSync(out, JSON.stringify(result, null, 2)); // after every model: a run cut short keeps what it measured
}

function fmt(v: number | null | undefined, d = 0): string {
  return v === null || v === undefined ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
}
console.log(`| model | ${lengths.map((n) => `prefill ${n} (tok/s)`).join(' | ')} | plain-scan prefill (tok/s) | decode (tok/s) | GPU bytes after each prefill |`);
console.log(`|---|${lengths.map(() => '---:|').join('')}---:|---:|---|`);
for (const r of result.rows) {
  console.log(`| ${r.model} | ${r.prefill.map((p) => fmt(p.tokPerSec)).join(' | ')} | ${r.plainPrefill ? `${fmt(r.plainPrefill.tokPerSec)} (${r.plainPrefill.tokens})` : '—'} | ${fmt(r.decodeTokPerSec, 1)} | ${r.prefill.map((p) => (p.deviceBytesAfter ? MB(p.deviceBytesAfter) : '—')).join(' / ')} |`);
}
if (timing.timestamps + timing.wall > 0) log(`kernel rows' GPU time: ${timing.timestamps} from the device's timestamps, ${timing.wall} from wall time less the host's share`);
for (const [m, ks] of Object.entries(result.kernels)) {
  for (const k of ks) { // shares of the vec4 copy measured just before (each --scan-tokens length measures one)
    const share = k.bytes ? shareOfVec4Copy(k, ks) : '';
    console.log(`${m}: ${k.what} ${k.shape}: ${(k.seconds * 1e3).toFixed(3)} ms (wall ${(k.wallSeconds * 1e3).toFixed(3)})${k.bytes ? `, ${fmt(k.GBs)} GB/s${k.readGBs ? ` (${fmt(k.readGBs)} read)` : ''}` : ''}${share ? `, ${share}` : ''}${k.check ? `; ${k.check}` : ''}`);
  }
}
