/**
 * End-to-end decode A/B of two builds of the C kernels (wasm/dist/kernels-c.wasm now vs an
 * older build) in ONE process: the same model is loaded twice (LoadOptions.wasmModules), and
 * the two sessions take turns, a few tokens each, so both meet the same machine load (this
 * 2-core machine is shared; absolute numbers drift by ±30% within minutes, ratios much less).
 *
 *   git show <rev>:wasm/dist/kernels-c.wasm > /tmp/old-c.wasm
 *   node --import tsx bench/decode-ab.ts --model DIR --old-c /tmp/old-c.wasm [--dtype f32|f16] [--threads 1] [--rounds 12] [--tokens 4]
 *
 * With `--plan` instead of `--old-c`, the same kernels three ways: op by op with in_proj as
 * separate GEMVs (before planned decode), op by op with the fused in_proj, and planned (the
 * recorded step replayed, fused in_proj) — what planning and the fusion each buy; `--control`
 * adds the first configuration again, loaded last, as a check on the method.
 *
 * Prints each side's median ms/token over rounds and the median of the per-round ratios.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { argmax } from '../src/cli/measure.js';
import { loadWasm } from './profile.js';
import type { LoadDType } from '../src/api/types.js';

const arg = (name: string, dflt: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const dir = arg('model', '');
const oldC = arg('old-c', '');
const planMode = process.argv.includes('--plan');
if (!dir || (!oldC && !planMode)) { console.error('usage: bench/decode-ab.ts --model DIR (--old-c OLD.wasm | --plan) [--dtype f32] [--threads 1] [--rounds 12] [--tokens 4]'); process.exit(2); }
const dtype = arg('dtype', 'f32') as LoadDType;
const threads = +arg('threads', '1');
const rounds = +arg('rounds', '12'), tokens = +arg('tokens', '4');
const dist = new URL('../wasm/dist/', import.meta.url);
const as = new WebAssembly.Module(readFileSync(new URL('kernels-as.wasm', dist)));
const sides = planMode
  ? [
    { name: 'op by op, in_proj as parts', plan: false, fused: false },
    { name: 'op by op, fused in_proj', plan: false, fused: true },
    { name: 'planned, fused in_proj', plan: true, fused: true },
    // --control: the first configuration again (a check on the method: should read ≈1.0×)
    ...(process.argv.includes('--control') ? [{ name: 'control: op by op, in_proj as parts, again', plan: false, fused: false }] : []),
  ]
  : [
    { name: `old (${oldC})`, c: new WebAssembly.Module(readFileSync(oldC)) },
    { name: 'new (wasm/dist/kernels-c.wasm)', c: new WebAssembly.Module(readFileSync(new URL('kernels-c.wasm', dist))) },
  ];
// --plan: ONE model, one session per configuration, so every configuration reads the very same
// weight pages (two loads of a model land in different memory, and that alone measured 1.08-1.17x:
// where the pages are matters more than the change). in_proj as parts = the same fused weight read
// by two GEMVs over its halves (the backend's rowView hidden while that session steps).
type Backendish = { planSteps: boolean; rowView?: unknown };
const models: Awaited<ReturnType<typeof loadWasm>>[] = [];
let configure = (_i: number) => {};
if (planMode) {
  const m = await loadWasm(dir, { threads, dtype });
  const b = (m as unknown as { parts: { backend: Backendish } }).parts.backend;
  configure = (i) => {
    const s = sides[i] as { plan: boolean; fused: boolean };
    b.planSteps = s.plan;
    if (s.fused) delete b.rowView;
    else b.rowView = undefined;
  };
  for (let i = 0; i < sides.length; i++) models.push(m);
} else {
  for (const s of sides) models.push(await loadWasm(dir, { threads, dtype, wasmModules: { as, c: (s as { c: WebAssembly.Module }).c } }));
}
const sessions = models.map((m) => m.createSession());
const logits: Float32Array[] = [];
for (const [i, s] of sessions.entries()) {
  configure(i);
  logits.push(await s.prefill([1, 2, 3, 4, 5, 6, 7, 8]));
}
const next = logits.map((l) => argmax(l));
// Same kernels on the same weights but different tiles: the greedy tokens should agree.
if (next.some((t) => t !== next[0])) console.warn(`note: first greedy tokens differ (${next.join(' vs ')})`);
const times: number[][] = sides.map(() => []);
// The process's CPU time per token (all its threads): less disturbed than wall time by other processes' load.
const cpu: number[][] = sides.map(() => []);
const load0 = loadavg()[0];
for (let r = 0; r < rounds + 1; r++) {
  const order = sides.map((_, i) => i);
  if (r % 2) order.reverse();
  for (const i of order) {
    configure(i);
    const t0 = performance.now(), c0 = process.cpuUsage();
    for (let t = 0; t < tokens; t++) next[i] = argmax(await sessions[i].step(next[i]));
    const c = process.cpuUsage(c0);
    if (r > 0) { times[i].push((performance.now() - t0) / tokens); cpu[i].push((c.user + c.system) / 1000 / tokens); } // round 0 warms up
  }
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
console.log(`decode A/B, ${dir}, dtype ${dtype}, wasm ${threads} thread(s), ${rounds} rounds × ${tokens} tokens each side, load average ${load0.toFixed(2)} → ${loadavg()[0].toFixed(2)}`);
for (const [i, s] of sides.entries()) {
  const vsFirst = i === 0 ? '' : `; speed vs the first: ${(med(times[0]) / med(times[i])).toFixed(3)}× (median of per-round ratios ${med(times[0].map((a, j) => a / times[i][j])).toFixed(3)}×)`;
  console.log(`  ${s.name}: median ${med(times[i]).toFixed(2)} ms/token (${(1000 / med(times[i])).toFixed(1)} tok/s), min ${Math.min(...times[i]).toFixed(2)}, CPU ${med(cpu[i]).toFixed(3)} ms/token${vsFirst}`);
}
for (const m of new Set(models)) await m.dispose();
