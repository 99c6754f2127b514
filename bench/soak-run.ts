/**
 * The soak (issue 12 item 3): one long session on the default model, memory sampled at fixed token
 * intervals, and a verdict on whether it stays flat after warm-up. Used by `npm run soak`
 * (bench/soak.ts) and by the CI-sized test (test/reliability/soak.test.ts).
 *
 * Two phases, each in its own session of one model:
 *   - generate: `session.generate(prompt, { maxTokens: N, seed, ignoreEos: true })` — ONE call, so
 *     the whole decode path (sampler, detokenizer, stop-string holdback, async queue) runs N times;
 *   - prefill: `session.prefill(ids)` of an N-token prompt (the held-out sample's tokens repeated) —
 *     ONE call, chunked by the session as any long prompt is.
 * A duration limit aborts the call (AbortSignal) and the summary says how many tokens ran.
 *
 * What is sampled: tokens done, tokens/s since the last sample, process RSS, V8 heap used,
 * external and arrayBuffers (process.memoryUsage()), the wasm memory's size
 * (WebAssembly.Memory.buffer.byteLength: it only grows), the wasm arena's high-water mark
 * (WasmBackend.peakBytes), and the number of kernel workers in the pool.
 *
 * "Flat after warm-up": the baseline is the first sample at or past `warmupFraction` (5 %) of the
 * tokens that ran. From there to the end: the wasm memory and the arena peak must not grow at all
 * (both are high-water marks, so any growth is a leak or an unbounded buffer); the worker count must
 * not change; RSS and heap used may differ by at most `rssMarginBytes` / `heapMarginBytes` (RSS and
 * the heap move with GC and the allocator, so a margin; with --expose-gc the samples are taken after
 * a full GC and the heap margin can be tight).
 */
import * as os from 'node:os';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type Model } from '../src/node.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

export type SoakPhase = 'generate' | 'prefill';

export interface SoakOptions {
  phase: SoakPhase;
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
  /** Reuse a loaded model (must be the wasm backend). */
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
  load1: number;
}

export interface SoakCheck { name: string; baseline: number; last: number; max: number; growth: number; limit: number; ok: boolean }

export interface SoakResult {
  phase: SoakPhase;
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

interface WasmInternals { memory?: WebAssembly.Memory; peakBytes?: number; exec?: { workers?: unknown[]; threads?: number } }

function internals(model: Model): WasmInternals {
  const b = (model as unknown as { parts?: { backend?: WasmInternals } }).parts?.backend;
  if (!b || !(b.memory instanceof WebAssembly.Memory)) throw new Error('soak: the model is not on the wasm backend');
  return b;
}

const gc = (globalThis as { gc?: () => void }).gc;

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
  const model = o.model ?? await loadModel(undefined, { backend: 'wasm', threads });
  const own = !o.model;
  const b = internals(model);
  const samples: SoakSample[] = [];
  const t0 = performance.now();
  let last = { tokens: 0, t: t0 };

  const sample = (tokens: number) => {
    gc?.();
    const now = performance.now();
    const m = process.memoryUsage();
    const s: SoakSample = {
      tokens,
      elapsedS: +((now - t0) / 1000).toFixed(3),
      tokensPerS: tokens > last.tokens ? +((tokens - last.tokens) / ((now - last.t) / 1000)).toFixed(1) : 0,
      rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers,
      wasmMemory: b.memory!.buffer.byteLength,
      arenaPeak: b.peakBytes ?? 0,
      workers: b.exec?.workers?.length ?? 0,
      load1: +os.loadavg()[0].toFixed(2),
    };
    samples.push(s);
    last = { tokens, t: now };
    log(`[soak ${o.phase}] ${tokens}/${o.tokens} tokens, ${s.elapsedS.toFixed(0)} s, ${s.tokensPerS} tok/s, rss ${(s.rss / MiB).toFixed(1)} MiB, heap ${(s.heapUsed / MiB).toFixed(1)} MiB, wasm ${(s.wasmMemory / MiB).toFixed(1)} MiB, arena peak ${(s.arenaPeak / MiB).toFixed(1)} MiB, workers ${s.workers}, load ${s.load1}`);
  };

  const ac = new AbortController();
  const timer = o.durationS !== undefined ? setTimeout(() => ac.abort(), o.durationS * 1000) : undefined;
  let tokensRun = 0;
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
      const ids = promptIds(model, o.tokens);
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
  const check = (name: string, key: keyof SoakSample, limit: number): SoakCheck => {
    const max = Math.max(...after.map((s) => s[key]));
    const growth = end[key] - base[key];
    return { name, baseline: base[key], last: end[key], max, growth, limit, ok: growth <= limit && max - base[key] <= limit };
  };
  const rssMargin = o.rssMarginBytes ?? 32 * MiB;
  const heapMargin = o.heapMarginBytes ?? (gc ? 8 * MiB : 32 * MiB);
  const checks = [
    check('wasm memory (bytes)', 'wasmMemory', 0),
    check('wasm arena high-water (bytes)', 'arenaPeak', 0),
    check('kernel workers', 'workers', 0),
    { ...check('RSS (bytes)', 'rss', rssMargin), ok: end.rss - base.rss <= rssMargin }, // the end against the baseline; max is reported
    { ...check('V8 heap used (bytes)', 'heapUsed', heapMargin), ok: end.heapUsed - base.heapUsed <= heapMargin },
  ];
  const workersNow = checks[2];
  workersNow.ok = workersNow.ok && Math.min(...after.map((s) => s.workers)) === base.workers;
  return {
    phase: o.phase, tokensPlanned: o.tokens, tokensRun, completed: tokensRun >= o.tokens, stoppedBy,
    elapsedS: +elapsedS.toFixed(1), threads, seed, gcForced: !!gc, baselineTokens: base.tokens,
    samples, checks, ok: checks.every((c) => c.ok) && samples.length >= 3,
  };
}

export function summarize(r: SoakResult): string {
  const mib = (x: number) => `${(x / MiB).toFixed(1)} MiB`;
  const fmt = (c: SoakCheck) => c.name.startsWith('kernel') ? String(c.last) : mib(c.last);
  const lines = [
    `soak ${r.phase}: ${r.tokensRun.toLocaleString('en-US')} of ${r.tokensPlanned.toLocaleString('en-US')} tokens in ${r.elapsedS} s (${(r.tokensRun / r.elapsedS).toFixed(0)} tok/s), ${r.completed ? 'completed' : `NOT completed (stopped by the ${r.stoppedBy} limit)`}; threads ${r.threads}; seed ${r.seed}; GC forced before samples: ${r.gcForced}; baseline at ${r.baselineTokens} tokens`,
    `  RSS first/baseline/last/max: ${mib(r.samples[0].rss)} / ${mib(r.checks[3].baseline)} / ${mib(r.checks[3].last)} / ${mib(Math.max(...r.samples.map((s) => s.rss)))}`,
  ];
  for (const c of r.checks) {
    const g = c.name.startsWith('kernel') ? String(c.growth) : mib(c.growth);
    const lim = c.name.startsWith('kernel') ? String(c.limit) : mib(c.limit);
    lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: baseline ${c.name.startsWith('kernel') ? c.baseline : mib(c.baseline)} → last ${fmt(c)}, growth ${g} (limit ${lim})`);
  }
  return lines.join('\n');
}

export function toCsv(samples: SoakSample[]): string {
  const keys = Object.keys(samples[0]) as (keyof SoakSample)[];
  return [keys.join(','), ...samples.map((s) => keys.map((k) => s[k]).join(','))].join('\n') + '\n';
}
