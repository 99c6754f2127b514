/**
 * The soak (issue 12 item 3): one long session on the default model (or `--model`), memory sampled
 * at fixed token intervals, and a verdict on whether it stays flat after warm-up. Used by
 * `npm run soak` (bench/soak.ts) and by the CI-sized tests (test/reliability/soak.test.ts,
 * soak-webgpu.test.ts). Backends: wasm (default), webgpu, cuda.
 *
 * Two phases, each in its own session of one model:
 *   - generate: `session.generate(prompt, { maxTokens: N, seed, ignoreEos: true })` — ONE call, so
 *     the whole decode path (sampler, detokenizer, stop-string holdback, async queue) runs N times;
 *   - prefill: `session.prefill(ids)` of an N-token prompt (the held-out sample's tokens repeated) —
 *     ONE call, chunked by the session as any long prompt is.
 * A duration limit aborts the call (AbortSignal) and the summary says how many tokens ran.
 *
 * What is sampled: tokens done, tokens/s since the last sample, process RSS, V8 heap used,
 * external and arrayBuffers (process.memoryUsage()), and the backend's own memory:
 *   wasm    the wasm memory's size (WebAssembly.Memory.buffer.byteLength: it only grows), the
 *           arena's high-water mark (WasmBackend.peakBytes), the kernel workers serving;
 *   webgpu  GPU buffer bytes held (WebGpuBackend.deviceBytes: live tensors + reuse pool + packed
 *           parameters), buffers held and bind groups cached (deviceCounts);
 *   cuda    device bytes held (CudaBackend.deviceBytes: live tensors + the allocator's pool).
 * With a software WebGPU adapter (lavapipe, SwiftShader) "device" buffers are host memory, so RSS
 * sees them too; on a real GPU only deviceBytes does.
 *
 * "Flat after warm-up": the baseline is the first sample at or past `warmupFraction` (5 %) of the
 * tokens that ran. From there to the end: the wasm memory and the arena peak must not grow at all
 * (both are high-water marks, so any growth is a leak or an unbounded buffer); the worker count must
 * not change; RSS and heap used may differ by at most `rssMarginBytes` / `heapMarginBytes` (RSS and
 * the heap move with GC and the allocator, so a margin; with --expose-gc the samples are taken after
 * a full GC and the heap margin can be tight). On a GPU backend the device bytes, buffers and bind
 * groups must not grow at all after warm-up (the backends reuse buffers by size, so a steady decode
 * or a steady run of equal prefill chunks allocates nothing new) — except that a prefill's last,
 * shorter chunk (N mod the chunk length) has buffers of new sizes: the prefill soak rounds its prompt
 * up to whole chunks on GPU backends so every chunk is the same and that one-off is not in the run.
 */
import * as os from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type Model } from '../src/node.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

export type SoakPhase = 'generate' | 'prefill';

export type SoakBackend = 'wasm' | 'webgpu' | 'cuda';

export interface SoakOptions {
  phase: SoakPhase;
  /** Backend to load the model on (default wasm). Ignored when `model` is given. */
  backend?: SoakBackend;
  /** Model to load: a directory or Hub id (default: the embedded default model). */
  modelPath?: string;
  /** Tokens to generate / to prefill. */
  tokens: number;
  /** Stop (abort the call) after this many seconds; the summary says how many tokens ran. */
  durationS?: number;
  threads?: number;
  seed?: number;
  /** Sample every this many tokens (prefill: at the first chunk boundary past it). */
  every?: number;
  warmupFraction?: number;
  rssMarginBytes?: number;
  heapMarginBytes?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Reuse a loaded model. */
  model?: Model;
}

export interface SoakSample {
  tokens: number;
  elapsedS: number;
  tokensPerS: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  wasmMemory: number;
  arenaPeak: number;
  workers: number;
  /** GPU backends: bytes of device buffers the backend holds (0 on wasm). */
  deviceBytes: number;
  /** webgpu: buffers held and bind groups cached (0 elsewhere). */
  deviceBuffers: number;
  bindGroups: number;
  load1: number;
}

export interface SoakCheck { name: string; baseline: number; last: number; max: number; growth: number; limit: number; ok: boolean }

export interface SoakResult {
  phase: SoakPhase;
  backend: string;
  /** The backend's own description (device, adapter, threads). */
  device: string;
  tokensPlanned: number;
  tokensRun: number;
  completed: boolean;
  stoppedBy: 'done' | 'duration';
  elapsedS: number;
  threads: number;
  seed: number;
  gcForced: boolean;
  baselineTokens: number;
  samples: SoakSample[];
  checks: SoakCheck[];
  ok: boolean;
}

interface BackendInternals {
  name: string;
  info?: { device?: string };
  memory?: WebAssembly.Memory;
  peakBytes?: number;
  exec?: { liveWorkers?: number; threads?: number };
  deviceBytes?: number;
  deviceCounts?: { buffers: number; bindGroups: number };
}

function internals(model: Model): BackendInternals {
  const b = (model as unknown as { parts?: { backend?: BackendInternals } }).parts?.backend;
  if (!b) throw new Error('soak: no backend behind this model');
  if (b.name === 'wasm' && !(b.memory instanceof WebAssembly.Memory)) throw new Error('soak: the wasm backend has no memory');
  if ((b.name === 'webgpu' || b.name === 'cuda') && typeof b.deviceBytes !== 'number') throw new Error(`soak: the ${b.name} backend has no deviceBytes counter`);
  return b;
}

/** The tokens of one prefill chunk of `model` (the graph's chunk × the backend's multiple: src/api/model.ts). */
function prefillChunkTokens(model: Model): number {
  const p = (model as unknown as { parts: { graph: { prefillChunk(c: unknown): number }; cfg: unknown; backend: { prefillChunkMultiple?: number } } }).parts;
  return p.graph.prefillChunk(p.cfg) * (p.backend.prefillChunkMultiple ?? 1);
}

/** `node --expose-gc`'s gc (read at each call: a test may expose it after this module loads). */
const gcFn = () => (globalThis as { gc?: () => void }).gc;

/** The held-out sample's tokens repeated to `n`. */
export function promptIds(model: Model, n: number): number[] {
  const base = model.tokenizer.encode(readFileSync(join(root, 'models/default/heldout-sample.txt'), 'utf8'));
  const ids = new Array<number>(n);
  for (let i = 0; i < n; i++) ids[i] = base[i % base.length];
  return ids;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const threads = o.threads ?? 2;
  const seed = o.seed ?? 12003;
  const every = Math.max(1, o.every ?? Math.max(256, Math.round(o.tokens / 200)));
  const warmupFraction = o.warmupFraction ?? 0.05;
  const log = o.log ?? (() => {});
  const model = o.model ?? await loadModel(o.modelPath, o.backend && o.backend !== 'wasm' ? { backend: o.backend } : { backend: 'wasm', threads });
  const own = !o.model;
  const b = internals(model);
  const gpu = b.name !== 'wasm';
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  let last = { tokens: 0, t: t0 };

  const gc = gcFn();
  const sample = (tokens: number) => {
    gc?.();
    const now = performance.now();
    const m = process.memoryUsage();
    const s: SoakSample = {
      tokens,
      elapsedS: +((now - t0) / 1000).toFixed(3),
      tokensPerS: tokens > last.tokens ? +((tokens - last.tokens) / ((now - last.t) / 1000)).toFixed(1) : 0,
      rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers,
      wasmMemory: b.memory?.buffer.byteLength ?? 0,
      arenaPeak: b.peakBytes ?? 0,
      workers: b.exec?.liveWorkers ?? 0,
      deviceBytes: b.deviceBytes ?? 0,
      deviceBuffers: b.deviceCounts?.buffers ?? 0,
      bindGroups: b.deviceCounts?.bindGroups ?? 0,
      load1: +os.loadavg()[0].toFixed(2),
    };
    samples.push(s);
    last = { tokens, t: now };
    const mem = gpu
      ? `device ${(s.deviceBytes / MiB).toFixed(1)} MiB${b.deviceCounts ? ` in ${s.deviceBuffers} buffers, ${s.bindGroups} bind groups` : ''}`
      : `wasm ${(s.wasmMemory / MiB).toFixed(1)} MiB, arena peak ${(s.arenaPeak / MiB).toFixed(1)} MiB, workers ${s.workers}`;
    log(`[soak ${b.name} ${o.phase}] ${tokens}/${o.tokens} tokens, ${s.elapsedS.toFixed(0)} s, ${s.tokensPerS} tok/s, rss ${(s.rss / MiB).toFixed(1)} MiB, heap ${(s.heapUsed / MiB).toFixed(1)} MiB, ${mem}, load ${s.load1}`);
  };

  const ac = new AbortController();
  const timer = o.durationS !== undefined ? setTimeout(() => ac.abort(), o.durationS * 1000) : undefined;
  let tokensRun = 0;
  let planned = o.tokens;
  let stoppedBy: 'done' | 'duration' = 'done';
  const session = model.createSession();
  try {
    sample(0);
    let next = every;
    if (o.phase === 'generate') {
      const prompt = promptIds(model, 64);
      const g = session.generate(prompt, { maxTokens: o.tokens, seed, ignoreEos: true, signal: ac.signal });
      try {
        for await (const _ of g) {
          tokensRun++;
          if (tokensRun >= next) { sample(tokensRun); next += every; }
        }
      } catch (e) {
        if (!ac.signal.aborted) throw e; // the duration limit: the iterator ends with E_ABORTED, `finished` says how far it got
      }
      const r = await g.finished;
      tokensRun = r.completionTokens;
      if (r.finishReason === 'abort') stoppedBy = 'duration';
    } else {
      // GPU backends: whole chunks only, so the run never allocates a shorter tail chunk's buffers (see above).
      const chunk = gpu ? prefillChunkTokens(model) : 1;
      planned = Math.ceil(o.tokens / chunk) * chunk;
      const ids = promptIds(model, planned);
      try {
        await session.prefill(ids, {
          signal: ac.signal,
          onProgress: ({ done }) => {
            tokensRun = done;
            if (done >= next) { sample(done); while (next <= done) next += every; }
          },
        });
      } catch (e) {
        if (!ac.signal.aborted) throw e;
        stoppedBy = 'duration'; // the call rolled the session back; tokensRun = the chunks that ran
      }
    }
    if (samples[samples.length - 1].tokens !== tokensRun) sample(tokensRun);
  } finally {
    if (timer) clearTimeout(timer);
    await session.dispose();
    if (own) await model.dispose();
  }

  const elapsedS = (performance.now() - t0) / 1000;
  const warm = Math.ceil(tokensRun * warmupFraction);
  const baseIdx = Math.max(1, samples.findIndex((s) => s.tokens >= warm && s.tokens > 0));
  const base = samples[Math.min(baseIdx, samples.length - 1)];
  const after = samples.slice(samples.indexOf(base));
  const end = samples[samples.length - 1];
  const check = (name: string, key: keyof SoakSample, limit: number, over = after): SoakCheck => {
    const last = over[over.length - 1];
    const max = Math.max(...over.map((s) => s[key]));
    const growth = last[key] - base[key];
    return { name, baseline: base[key], last: last[key], max, growth, limit, ok: growth <= limit && max - base[key] <= limit };
  };
  const rssMargin = o.rssMarginBytes ?? 32 * MiB;
  const heapMargin = o.heapMarginBytes ?? (gc ? 8 * MiB : 32 * MiB);
  const backendChecks: SoakCheck[] = [];
  if (!gpu) {
    backendChecks.push(check('wasm memory (bytes)', 'wasmMemory', 0), check('wasm arena high-water (bytes)', 'arenaPeak', 0), check('kernel workers', 'workers', 0));
    backendChecks[2].ok = backendChecks[2].ok && Math.min(...after.map((s) => s.workers)) === base.workers;
  } else {
    // A prefill's last chunk ends with the last position's logits, whose buffers (a [1, d] row, a
    // [1, V] row) are allocated once per call: the device checks stop at the chunk before it.
    const inCall = o.phase === 'prefill' && after.length > 2 ? after.slice(0, -1) : after;
    backendChecks.push(check(`${b.name} device bytes`, 'deviceBytes', 0, inCall));
    if (b.deviceCounts) backendChecks.push(check(`${b.name} buffers`, 'deviceBuffers', 0, inCall), check(`${b.name} bind groups`, 'bindGroups', 0, inCall));
  }
  const checks = [
    ...backendChecks,
    { ...check('RSS (bytes)', 'rss', rssMargin), ok: end.rss - base.rss <= rssMargin }, // the end against the baseline; max is reported
    { ...check('V8 heap used (bytes)', 'heapUsed', heapMargin), ok: end.heapUsed - base.heapUsed <= heapMargin },
  ];
  return {
    phase: o.phase, backend: b.name, device: b.info?.device ?? b.name,
    tokensPlanned: planned, tokensRun, completed: tokensRun >= planned, stoppedBy,
    elapsedS: +elapsedS.toFixed(1), threads, seed, gcForced: !!gc, baselineTokens: base.tokens,
    samples, checks, ok: checks.every((c) => c.ok) && samples.length >= 3,
  };
}

export function summarize(r: SoakResult): string {
  const mib = (x: number) => `${(x / MiB).toFixed(1)} MiB`;
  const isCount = (c: SoakCheck) => !c.name.includes('bytes');
  const fmt = (c: SoakCheck) => isCount(c) ? String(c.last) : mib(c.last);
  const rss = r.checks.find((c) => c.name.startsWith('RSS'))!;
  const lines = [
    `soak ${r.backend} (${r.device}) ${r.phase}: ${r.tokensRun.toLocaleString('en-US')} of ${r.tokensPlanned.toLocaleString('en-US')} tokens in ${r.elapsedS} s (${(r.tokensRun / r.elapsedS).toFixed(0)} tok/s), ${r.completed ? 'completed' : `NOT completed (stopped by the ${r.stoppedBy} limit)`}; ${r.backend === 'wasm' ? `threads ${r.threads}; ` : ''}seed ${r.seed}; GC forced before samples: ${r.gcForced}; baseline at ${r.baselineTokens} tokens`,
    `  RSS first/baseline/last/max: ${mib(r.samples[0].rss)} / ${mib(rss.baseline)} / ${mib(rss.last)} / ${mib(Math.max(...r.samples.map((s) => s.rss)))}`,
  ];
  for (const c of r.checks) {
    const g = isCount(c) ? String(c.growth) : mib(c.growth);
    const lim = isCount(c) ? String(c.limit) : mib(c.limit);
    lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: baseline ${isCount(c) ? c.baseline : mib(c.baseline)} → last ${fmt(c)}, growth ${g} (limit ${lim})`);
  }
  return lines.join('\n');
}

export function toCsv(samples: SoakSample[]): string {
  const keys = Object.keys(samples[0]) as (keyof SoakSample)[];
  return [keys.join(','), ...samples.map((s) => keys.map((k) => s[k]).join(','))].join('\n') + '\n';
}
