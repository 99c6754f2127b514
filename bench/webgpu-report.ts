/**
 * BENCHMARKS.md's tables from a GPU run's JSON: bench/webgpu.ts's (one or more files) and
 * bench/transformers_mamba.py's, measured in the same run. Prints markdown; the ratios against the
 * issue's targets are computed here from the numbers in the files, nothing else.
 *
 *   npx tsx bench/webgpu-report.ts --webgpu webgpu-130m.json,webgpu-large.json [--hf hf.json]
 */
import { readFileSync } from 'node:fs';
import { describeShare, shareOfRates } from './scan-bytes.js';

const arg = (k: string) => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? process.argv[i + 1] : undefined; };
interface Prefill { tokens: number; tokPerSec: number | null; deviceBytesAfter: number | null; skipped?: string }
interface Row {
  model: string; weightBytes: number; stateBytes: number; deviceBytes: { afterLoad: number }; prefill: Prefill[]; plainPrefill?: Prefill; plainPrefillCheck?: string;
  decodeTokPerSec: number | null; decodeSampledTokPerSec?: number; decodeNoRunAheadTokPerSec?: number;
  decodeBreakdown?: { dispatches: number; jsMs: number; encodeMs: number; pipelinedMs: number; roundTripMs: number; gpuMs?: number };
  memory?: { firstPrefillBytes: number; maxLaterBytes: number; growthBytes: number; chunkBytesEstimate: number; bound: number; withinBound: boolean };
}
interface Kernel { what: string; shape: string; seconds: number; GBs: number; readGBs?: number; check?: string }
interface Run { rows: Row[]; kernels: Record<string, Kernel[]> }
interface Hf { model: string; prefill?: Record<string, number>; skipped?: Record<string, string> | string; decodeTokPerSec?: number; torch?: string; transformers?: string; fastPathAvailable?: boolean }

const runs = (arg('webgpu') ?? '').split(',').filter(Boolean).map((f) => JSON.parse(readFileSync(f, 'utf8')) as Run);
const hf = arg('hf') ? (JSON.parse(readFileSync(arg('hf')!, 'utf8')) as Hf[]) : [];
const rows = runs.flatMap((r) => r.rows);
const kernels = Object.assign({}, ...runs.map((r) => r.kernels)) as Record<string, Kernel[]>;
const n0 = (v: number | null | undefined, d = 0) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const MiB = (b: number) => `${(b / 2 ** 20).toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 })} MiB`;
const lengths = [...new Set(rows.flatMap((r) => r.prefill.map((p) => p.tokens)))].sort((a, b) => a - b);
const hfOf = (m: string) => hf.find((h) => h.model === m);
const vec4 = (m: string) => kernels[m]?.find((k) => k.what.startsWith('copy, vec4'));

console.log('### Prefill and decode\n');
console.log(`| model | engine | ${lengths.map((n) => `prefill ${n.toLocaleString('en-US')} (tok/s)`).join(' | ')} | decode, batch 1, greedy (tok/s) | top-k 40 sampled | greedy, run-ahead off |`);
console.log(`|---|---|${lengths.map(() => '---:|').join('')}---:|---:|---:|`);
for (const r of rows) {
  const cell = (n: number) => { const p = r.prefill.find((x) => x.tokens === n); return p ? (p.tokPerSec ? n0(p.tokPerSec) : 'skipped¹') : '—'; };
  console.log(`| ${r.model} | mamba-edge webgpu | ${lengths.map(cell).join(' | ')} | ${n0(r.decodeTokPerSec, 1)} | ${n0(r.decodeSampledTokPerSec, 1)} | ${n0(r.decodeNoRunAheadTokPerSec, 1)} |`);
  if (r.plainPrefill) console.log(`| ${r.model} | mamba-edge webgpu, plain sequential scan | ${lengths.map((n) => (n === r.plainPrefill!.tokens ? n0(r.plainPrefill!.tokPerSec) : '')).join(' | ')} | | | |`);
  const h = hfOf(r.model);
  if (h) {
    const skipped = typeof h.skipped === 'string' ? {} : h.skipped ?? {};
    console.log(`| ${r.model} | transformers ${h.transformers ?? ''} (torch ${h.torch ?? ''}, default path) | ${lengths.map((n) => (h.prefill?.[n] ? n0(h.prefill[n]) : skipped[n] ? 'skipped²' : '—')).join(' | ')} | ${n0(h.decodeTokPerSec, 1)} | | |`);
  }
}
const skippedNotes = rows.flatMap((r) => r.prefill.filter((p) => p.skipped).map((p) => `${r.model} ${p.tokens}: ${p.skipped}`));
if (skippedNotes.length) console.log(`\n¹ ${skippedNotes.join('; ')}`);
const hfNotes = hf.flatMap((h) => (typeof h.skipped === 'string' ? [`${h.model}: ${h.skipped}`] : Object.entries(h.skipped ?? {}).map(([n, w]) => `${h.model} ${n}: ${w}`)));
if (hfNotes.length) console.log(`\n² ${hfNotes.join('; ')}`);
for (const r of rows) if (r.plainPrefillCheck) console.log(`\n${r.model}: ${r.plainPrefillCheck}`);

console.log('\n### Scan kernels next to a copy\n');
console.log('| model | kernel | shape | time | GB/s read + written | of the vec4 copy | check |');
console.log('|---|---|---|---:|---:|---:|---|');
for (const [m, ks] of Object.entries(kernels)) {
  let c = vec4(m);
  for (const k of ks) {
    if (k.what.startsWith('copy, vec4')) c = k; // each --scan-tokens length measures its own copy first
    if (!k.GBs) { console.log(`| ${m} | ${k.what} | ${k.shape} | ${n0(k.seconds * 1e3, 3)} ms | | | |`); continue; } // a pass-by-pass row
    console.log(`| ${m} | ${k.what} | ${k.shape} | ${n0(k.seconds * 1e3, 3)} ms | ${n0(k.GBs)}${k.readGBs ? ` (${n0(k.readGBs)} read)` : ''} | ${c && !k.what.startsWith('copy, vec4') ? `${n0((100 * k.GBs) / c.GBs, 1)} %` : ''} | ${(k.check ?? '').replace(/\|/g, '\\|')} |`);
  }
}

console.log('\n### GPU memory held (WebGpuBackend.deviceBytes) after each prompt\n');
console.log(`| model | weights | state | ${lengths.map((n) => `after ${n.toLocaleString('en-US')}`).join(' | ')} | growth past one forward | ceiling: weights + state + one forward's activations (estimated) |`);
console.log(`|---|---:|---:|${lengths.map(() => '---:|').join('')}---:|---|`);
for (const r of rows) {
  const cell = (n: number) => { const p = r.prefill.find((x) => x.tokens === n); return p?.deviceBytesAfter ? MiB(p.deviceBytesAfter) : '—'; };
  const m = r.memory;
  console.log(`| ${r.model} | ${MiB(r.weightBytes)} | ${MiB(r.stateBytes)} | ${lengths.map(cell).join(' | ')} | ${m ? MiB(m.growthBytes) : '—'} | ${m ? `${MiB(m.bound)} (${MiB(m.chunkBytesEstimate)} of activations): ${m.withinBound ? 'within' : 'EXCEEDED'}` : '—'} |`);
}

console.log('\n### Against the targets\n');
for (const r of rows) {
  const h = hfOf(r.model), c = vec4(r.model);
  const p16 = r.prefill.find((p) => p.tokens === 16384)?.tokPerSec;
  const parts: string[] = [];
  if (p16 && h?.prefill?.['16384']) parts.push(`prefill 16k ${n0(p16 / h.prefill['16384'], 1)}× transformers`);
  else if (p16 && h?.prefill?.['2048']) parts.push(`prefill 16k vs transformers' 2k rate: ${n0(p16 / h.prefill['2048'], 1)}×`);
  if (r.decodeTokPerSec && h?.decodeTokPerSec) parts.push(`decode ${n0(r.decodeTokPerSec / h.decodeTokPerSec, 1)}× transformers`);
  if (r.decodeTokPerSec && c?.readGBs) {
    const roof = (c.readGBs * 1e9) / r.weightBytes;
    parts.push(`decode ${n0((100 * r.decodeTokPerSec) / roof, 1)} % of the roofline (${n0(c.readGBs)} GB/s vec4-copy read ÷ ${MiB(r.weightBytes)} of weights = ${n0(roof)} tok/s)`);
  }
  // the default (tiled) chunked scan where the run has one, else the first kernels (runs before 2026-12-06 WEBSCAN)
  const scan = kernels[r.model]?.find((k) => k.what.includes('chunked, tiled')) ?? kernels[r.model]?.find((k) => k.what.includes('chunked'));
  if (scan && c) { // runs before 2026-12-07 recorded no scan readGBs: the moved share alone
    parts.push(`chunked scan (against the vec4 copy) ${scan.readGBs && c.readGBs
      ? describeShare(shareOfRates({ readGBs: scan.readGBs, movedGBs: scan.GBs }, { readGBs: c.readGBs, movedGBs: c.GBs }))
      : `${n0((100 * scan.GBs) / c.GBs, 1)} % of the vec4 copy's bytes moved per second`}`);
  }
  if (r.decodeBreakdown) parts.push(`decode step: ${n0(r.decodeBreakdown.dispatches)} dispatches, host ${n0(r.decodeBreakdown.jsMs, 2)} + ${n0(r.decodeBreakdown.encodeMs, 2)} ms, pipelined ${n0(r.decodeBreakdown.pipelinedMs, 2)} ms, read-back ${n0(r.decodeBreakdown.roundTripMs, 2)} ms${r.decodeBreakdown.gpuMs !== undefined ? `, GPU time of a step's layers ${n0(r.decodeBreakdown.gpuMs, 2)} ms` : ''}`);
  console.log(`- ${r.model}: ${parts.join('; ')}`);
}
