/**
 * A GPU-buffer soak on the webgpu backend (issue 12, for the GPU): ONE `session.generate` call of
 * --tokens tokens (seeded sampling, EOS ignored) on the default model (or a random model in the
 * mamba-130m shape), sampling every --every tokens the backend's GPU bytes held
 * (WebGpuBackend.deviceBytes: live buffers + its reuse pool, so a high-water mark) and the process's
 * RSS and V8 heap. Verdict after a warm-up (the first 5 % of the tokens that ran): GPU bytes must not
 * grow at all; RSS and heap may move by a margin (GC, allocator). --duration stops the call early
 * (AbortSignal) and the summary says how far it got. (bench/soak.ts is the wasm soak; this is its
 * GPU counterpart, kept separate so the wasm checks — arena, workers — stay as they are.)
 *
 *   node --expose-gc --import tsx bench/webgpu-soak.ts [--tokens 20000] [--every 500] [--duration S]
 *        [--model default|mamba-130m] [--seed 12003] [--json soak.json] [--csv soak.csv]
 * Exit status 1 when a check fails.
 */
import { writeFileSync } from 'node:fs';
import { loadModel } from '../src/node.js';
import type { WebGpuBackend } from '../src/backends/webgpu/index.js';
import { randomModelFiles } from '../tools/random-model.js';
import { BENCH_MODELS } from '../tools/bench-shapes.js';
import { promptIds } from './soak-run.js';

const a = process.argv.slice(2);
const get = (k: string, d: string) => { const i = a.indexOf(`--${k}`); return i >= 0 ? a[i + 1] : d; };
const tokens = Number(get('tokens', '20000'));
const every = Math.max(1, Number(get('every', String(Math.max(100, Math.round(tokens / 100))))));
const durationS = Number(get('duration', 'Infinity'));
const which = get('model', 'default');
const seed = Number(get('seed', '12003'));
const MiB = 2 ** 20;
const gc = (globalThis as { gc?: () => void }).gc;

const model = which === 'default'
  ? await loadModel(undefined, { backend: 'webgpu' })
  : await loadModel(randomModelFiles(BENCH_MODELS[which as 'mamba-130m']), { backend: 'webgpu' });
const gpu = (model as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
if (typeof gpu.deviceBytes !== 'number') throw new Error('webgpu-soak: the backend has no deviceBytes counter');
console.error(`webgpu soak: ${which} model on ${model.backendInfo.device}; ${tokens} tokens, a sample every ${every}`);

interface Sample { tokens: number; elapsedS: number; tokPerSec: number; deviceBytes: number; rss: number; heapUsed: number }
const samples: Sample[] = [];
const t0 = performance.now();
let last = { tokens: 0, t: t0 };
const sample = (n: number) => {
  gc?.();
  const now = performance.now();
  const m = process.memoryUsage();
  const s: Sample = {
    tokens: n, elapsedS: +((now - t0) / 1000).toFixed(3), tokPerSec: n > last.tokens ? +((n - last.tokens) / ((now - last.t) / 1000)).toFixed(1) : 0,
    deviceBytes: gpu.deviceBytes, rss: m.rss, heapUsed: m.heapUsed,
  };
  samples.push(s);
  last = { tokens: n, t: now };
  console.error(`[soak] ${n}/${tokens} tokens, ${s.elapsedS.toFixed(0)} s, ${s.tokPerSec} tok/s, GPU ${(s.deviceBytes / MiB).toFixed(2)} MiB, rss ${(s.rss / MiB).toFixed(1)} MiB, heap ${(s.heapUsed / MiB).toFixed(1)} MiB`);
};

const ac = new AbortController();
const timer = Number.isFinite(durationS) ? setTimeout(() => ac.abort(), durationS * 1000) : undefined;
const session = model.createSession();
const prompt = which === 'default' ? promptIds(model, 64) : Array.from({ length: 64 }, (_, i) => (i * 7919 + 13) % 50000);
let ran = 0;
sample(0);
const g = session.generate(prompt, { maxTokens: tokens, seed, temperature: 0.8, topK: 40, ignoreEos: true, signal: ac.signal });
let next = every;
try {
  for await (const _ of g) {
    ran++;
    if (ran >= next) { sample(ran); next += every; }
  }
} catch (e) {
  if (!ac.signal.aborted) throw e;
}
const r = await g.finished;
ran = r.completionTokens;
if (samples[samples.length - 1].tokens !== ran) sample(ran);
if (timer) clearTimeout(timer);
await session.dispose();
await model.dispose();

const base = samples.find((s) => s.tokens >= Math.ceil(ran * 0.05) && s.tokens > 0) ?? samples[samples.length - 1];
const after = samples.slice(samples.indexOf(base));
const end = samples[samples.length - 1];
const rssMargin = 32 * MiB, heapMargin = (gc ? 8 : 32) * MiB;
const checks = [
  { name: 'GPU bytes held (deviceBytes)', baseline: base.deviceBytes, last: end.deviceBytes, max: Math.max(...after.map((s) => s.deviceBytes)), limit: 0 },
  { name: 'RSS', baseline: base.rss, last: end.rss, max: Math.max(...after.map((s) => s.rss)), limit: rssMargin },
  { name: 'V8 heap used', baseline: base.heapUsed, last: end.heapUsed, max: Math.max(...after.map((s) => s.heapUsed)), limit: heapMargin },
].map((c) => ({ ...c, growth: c.last - c.baseline, ok: c.name.startsWith('GPU') ? c.max - c.baseline <= 0 : c.last - c.baseline <= c.limit }));
const elapsed = (performance.now() - t0) / 1000;
const ok = checks.every((c) => c.ok) && samples.length >= 3;
console.log(`webgpu soak: ${ran} of ${tokens} tokens in ${elapsed.toFixed(1)} s (${(ran / elapsed).toFixed(0)} tok/s), ${r.finishReason === 'abort' ? 'stopped by --duration' : 'completed'}; baseline at ${base.tokens} tokens; GC forced before samples: ${!!gc}`);
for (const c of checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: baseline ${(c.baseline / MiB).toFixed(2)} MiB → last ${(c.last / MiB).toFixed(2)} MiB (max ${(c.max / MiB).toFixed(2)}), growth ${(c.growth / MiB).toFixed(2)} MiB (limit ${(c.limit / MiB).toFixed(0)} MiB)`);
const json = get('json', '');
if (json) writeFileSync(json, JSON.stringify({ date: new Date().toISOString(), model: which, device: model.backendInfo.device, tokensPlanned: tokens, tokensRun: ran, finishReason: r.finishReason, elapsedS: elapsed, seed, gcForced: !!gc, baselineTokens: base.tokens, checks, ok, samples }, null, 1));
const csv = get('csv', '');
if (csv) writeFileSync(csv, ['tokens,elapsedS,tokPerSec,deviceBytes,rss,heapUsed', ...samples.map((s) => [s.tokens, s.elapsedS, s.tokPerSec, s.deviceBytes, s.rss, s.heapUsed].join(','))].join('\n') + '\n');
process.exitCode = ok ? 0 : 1;
