/**
 * `npm run bench:lineage`: what a fixed-size state buys. Random-weight models of each kind in
 * the lineage — Elman RNN, LSTM, GRU, S4D, gated S4D — and Mamba-1 / Mamba-2, all at about 10M
 * parameters, byte-level (vocab 260), f32 weights on the wasm backend.
 *
 * Method: one session per model. The context is prefilled in steps up to 1k, 4k, 16k and 64k
 * tokens (each step continues the same session); after each, DECODE_STEPS single-token steps
 * (greedy, after WARMUP untimed ones) give the per-token decode time (median). The state bytes
 * are the session's carried state (model.info.stateBytes), which does not depend on the context.
 * A context is prefilled only while its prefill is projected (from the rate measured so far) to
 * take at most --max-prefill-s seconds, so only the fast-prefilling models go to 64k; skipped
 * points are listed as such. The machine may be shared: each model starts once the 1-minute
 * load average is below 1 (or after --wait-quiet seconds), and the load at each point is kept.
 * For contrast, an attention model's KV cache at the same context is computed, not measured: bytes = 2 · layers · d · ctx · 4 (K and V, f32) for a ~10M-parameter
 * transformer of 6 layers × d 384 (12 · 6 · 384² ≈ 10.6M).
 *
 * Prints a table, rewrites the table in docs/lineage.md (between the lineage-bench markers) and
 * docs/lineage.svg (a hand-written SVG: decode time and per-session memory against context,
 * log-x), and writes the raw numbers as JSON (--json).
 *
 *   npm run bench:lineage                    (--threads 2, --max-prefill-s 60, --wait-quiet 300)
 *   npm run bench:lineage -- --contexts 1024,4096 --models lstm,mamba --no-write
 *   npm run bench:lineage -- --from-json /tmp/mamba-edge-bench-lineage.json   (re-render the docs only)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type Model } from '../src/node.js';
import { humanBytes, table } from '../src/cli/format.js';
import { randomModelFiles, type RandomModelOptions } from '../tools/random-model.js';
import { randomLineageFiles, type RandomLineageOptions } from '../test/lineage/random.js';
import { esc, fmtCtx, median, timeDecode, tokens, waitQuiet } from './sweep.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** ~10M parameters each (embedding 260 × width included; exact counts are printed). */
const MODELS: { id: string; label: string; spec: { lineage: RandomLineageOptions } | { mamba: RandomModelOptions } }[] = [
  { id: 'rnn', label: 'Elman RNN (tanh) 4×1088', spec: { lineage: { kind: 'rnn', vocabSize: 260, hiddenSize: 1088, numLayers: 4, seed: 1 } } },
  { id: 'lstm', label: 'LSTM 4×552', spec: { lineage: { kind: 'lstm', vocabSize: 260, hiddenSize: 552, numLayers: 4, seed: 1 } } },
  { id: 'gru', label: 'GRU 4×636', spec: { lineage: { kind: 'gru', vocabSize: 260, hiddenSize: 636, numLayers: 4, seed: 1 } } },
  { id: 's4d', label: 'S4D 6×896, N 64', spec: { lineage: { kind: 's4d', vocabSize: 260, hiddenSize: 896, numLayers: 6, stateSize: 64, seed: 1 } } },
  { id: 's4d-gated', label: 'gated S4D 6×736, N 64', spec: { lineage: { kind: 's4d', gated: true, vocabSize: 260, hiddenSize: 736, numLayers: 6, stateSize: 64, seed: 1 } } },
  { id: 'mamba', label: 'Mamba-1 10×384, N 16', spec: { mamba: { modelType: 'mamba', vocabSize: 260, hiddenSize: 384, numLayers: 10, stateSize: 16, seed: 1 } } },
  { id: 'mamba2', label: 'Mamba-2 10×384, N 128', spec: { mamba: { modelType: 'mamba2', vocabSize: 260, hiddenSize: 384, numLayers: 10, stateSize: 128, headDim: 64, chunkSize: 256, seed: 1 } } },
];

const KV = { layers: 6, d: 384 };
const kvBytes = (ctx: number) => 2 * KV.layers * KV.d * ctx * 4;
const WARMUP = 3;
const DECODE_STEPS = 32;

interface Point { ctx: number; decodeMs: number | null; prefillTokPerS: number | null; skipped?: string; load?: number }
interface Result { id: string; label: string; parameters: number; stateBytes: number; points: Point[] }

function args() {
  const a = process.argv.slice(2);
  const get = (k: string) => { const i = a.indexOf(k); return i >= 0 ? a[i + 1] : undefined; };
  return {
    contexts: (get('--contexts') ?? '1024,4096,16384,65536').split(',').map(Number),
    models: get('--models')?.split(',') ?? MODELS.map((m) => m.id),
    threads: Number(get('--threads') ?? 2),
    maxPrefillS: Number(get('--max-prefill-s') ?? 60),
    json: get('--json') ?? join(os.tmpdir(), 'mamba-edge-bench-lineage.json'),
    waitQuiet: Number(get('--wait-quiet') ?? 300),
    /** Re-render docs from a previous run's JSON instead of measuring. */
    fromJson: get('--from-json'),
    write: !a.includes('--no-write'),
  };
}

/** A deterministic byte stream for prompts (not text: the models are random anyway). */


async function measure(model: Model, contexts: number[], maxPrefillS: number): Promise<Point[]> {
  const s = model.createSession();
  const points: Point[] = [];
  let pos = 0;
  let rate = 0; // prefill tokens/s measured so far
  let last = 0;
  for (const ctx of contexts) {
    const need = ctx - pos;
    if (rate > 0 && need / rate > maxPrefillS) {
      points.push({ ctx, decodeMs: null, prefillTokPerS: null, skipped: `prefill of ${need} more tokens projected at ${(need / rate).toFixed(0)} s > ${maxPrefillS} s` });
      continue;
    }
    const t0 = performance.now();
    const logits = await s.prefill(tokens(need, pos));
    const secs = (performance.now() - t0) / 1000;
    rate = need / secs;
    pos = ctx;
    last = logits.indexOf(Math.max(...logits));
    const decode = await timeDecode(s, last, WARMUP, DECODE_STEPS);
    last = decode.last;
    pos += WARMUP + DECODE_STEPS;
    points.push({ ctx, decodeMs: decode.ms, prefillTokPerS: rate, load: +os.loadavg()[0].toFixed(2) });
    process.stderr.write(`  ctx ${ctx}: decode ${decode.ms.toFixed(2)} ms/token, prefill ${rate.toFixed(0)} tokens/s (${secs.toFixed(1)} s)\n`);
  }
  await s.dispose();
  return points;
}

// ---- the chart -------------------------------------------------------------------------------

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#d62728', '#e377c2'];



/** Two panels over log-x context: decode ms/token (linear y) and memory per session (log y). */
export function lineageSvg(results: Result[], contexts: number[], caption: string): string {
  const W = 980, H = 540, top = 58, bottom = 360, panelW = 390;
  const panels = [{ x0: 70, title: 'Decode time per token (ms)' }, { x0: 560, title: 'Memory per session (bytes, log scale)' }];
  const lx0 = Math.log2(contexts[0]), lx1 = Math.log2(contexts[contexts.length - 1]);
  const px = (p: number, ctx: number) => panels[p].x0 + ((Math.log2(ctx) - lx0) / (lx1 - lx0 || 1)) * panelW;
  const measured = results.flatMap((r) => r.points.map((p) => p.decodeMs ?? 0));
  const yMax = niceCeil(Math.max(1, ...measured) * 1.1);
  const yTime = (v: number) => bottom - (v / yMax) * (bottom - top);
  const memVals = [...results.map((r) => r.stateBytes), ...contexts.map(kvBytes)];
  const m0 = Math.floor(Math.log10(Math.min(...memVals)) - 0.3), m1 = Math.ceil(Math.log10(Math.max(...memVals)) + 0.1); // room above and below
  const yMem = (v: number) => bottom - ((Math.log10(v) - m0) / (m1 - m0)) * (bottom - top);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">Fixed-size state: decode cost and memory do not grow with the context</text>`);
  for (const [p, panel] of panels.entries()) {
    const x0 = panel.x0, x1 = x0 + panelW;
    out.push(`<text x="${x0 + panelW / 2}" y="${top - 14}" text-anchor="middle" font-size="13" font-weight="600">${esc(panel.title)}</text>`);
    // x grid + ticks
    for (const c of contexts) {
      const x = px(p, c).toFixed(1);
      out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${x}" y="${bottom + 16}" text-anchor="middle" fill="#444">${fmtCtx(c)}</text>`);
    }
    out.push(`<text x="${x0 + panelW / 2}" y="${bottom + 34}" text-anchor="middle" fill="#444">context (tokens, log scale)</text>`);
    // y grid + ticks
    if (p === 0) {
      for (let i = 0; i <= 5; i++) {
        const v = (yMax * i) / 5, y = yTime(v).toFixed(1);
        out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e5e5e5"/>`);
        out.push(`<text x="${x0 - 6}" y="${(+y + 4).toFixed(1)}" text-anchor="end" fill="#444">${+v.toFixed(2)}</text>`);
      }
    } else {
      for (let e = m0; e <= m1; e++) {
        const y = yMem(10 ** e).toFixed(1);
        out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e5e5e5"/>`);
        out.push(`<text x="${x0 - 6}" y="${(+y + 4).toFixed(1)}" text-anchor="end" fill="#444">${siBytes(10 ** e)}</text>`);
      }
    }
    out.push(`<rect x="${x0}" y="${top}" width="${panelW}" height="${bottom - top}" fill="none" stroke="#999"/>`);
  }
  // decode lines (measured points only)
  results.forEach((r, i) => {
    const pts = r.points.filter((p) => p.decodeMs !== null).map((p) => [px(0, p.ctx), yTime(p.decodeMs!)]);
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${COLORS[i % COLORS.length]}"/>`);
  });
  // memory: flat state lines + the KV cache line
  results.forEach((r, i) => {
    const y = yMem(r.stateBytes).toFixed(1);
    out.push(`<line x1="${px(1, contexts[0]).toFixed(1)}" y1="${y}" x2="${px(1, contexts[contexts.length - 1]).toFixed(1)}" y2="${y}" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`);
  });
  const kv = contexts.map((c) => `${px(1, c).toFixed(1)},${yMem(kvBytes(c)).toFixed(1)}`).join(' ');
  out.push(`<polyline fill="none" stroke="#000" stroke-width="2" stroke-dasharray="6 4" points="${kv}"/>`);
  const lastCtx = contexts[contexts.length - 1];
  const mid = contexts[Math.floor(contexts.length / 2)];
  out.push(`<text x="${(px(1, mid) - 8).toFixed(1)}" y="${(yMem(kvBytes(mid)) - 10).toFixed(1)}" text-anchor="end" font-size="11">attention KV cache, ${KV.layers} layers × d ${KV.d} (computed)</text>`);
  // legend: every model with its size and its (constant) state
  results.forEach((r, i) => {
    const col = i % 3, row = Math.floor(i / 3);
    const x = 30 + col * 318, y = bottom + 60 + row * 20;
    out.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" stroke="${COLORS[i % COLORS.length]}" stroke-width="3"/>`);
    out.push(`<text x="${x + 24}" y="${y}" font-size="11.5">${esc(`${r.label} · ${(r.parameters / 1e6).toFixed(1)}M · state ${siBytes(r.stateBytes)}`)}</text>`);
  });
  const lines = wrap(caption, 150);
  lines.forEach((l, i) => out.push(`<text x="${W / 2}" y="${H - 10 - (lines.length - 1 - i) * 14}" text-anchor="middle" font-size="10.5" fill="#666">${esc(l)}</text>`));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Decimal byte units for the chart (10 kB, 1.2 MB, …). */
function siBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n >= 100 || Number.isInteger(n) ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) { lines.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

function niceCeil(v: number): number {
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

// ---- main ------------------------------------------------------------------------------------

/** The machine is shared: wait (up to `seconds`) for the 1-minute load average to drop below 1. */

async function main(): Promise<void> {
  const o = args();
  const started = performance.now();
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const previous = o.fromJson ? JSON.parse(readFileSync(o.fromJson, 'utf8')) as { machine: string; minutes: number; contexts: number[]; results: Result[] } : null;
  if (previous) o.contexts = previous.contexts;
  const machine = previous?.machine ?? `${cpu}, ${os.cpus().length} cores, Node ${process.version}, wasm backend ${o.threads} thread${o.threads > 1 ? 's' : ''}, f32`;
  console.error(`bench:lineage on ${machine}`);
  const results: Result[] = previous?.results ?? [];
  for (const m of MODELS.filter((x) => !previous && o.models.includes(x.id))) {
    await waitQuiet(o.waitQuiet); // the machine is shared: start each model on a quiet machine
    const files = 'lineage' in m.spec ? randomLineageFiles(m.spec.lineage) : randomModelFiles(m.spec.mamba);
    const model = await loadModel(files, { backend: 'wasm', threads: o.threads });
    console.error(`${m.label}: ${(model.info.parameters / 1e6).toFixed(2)}M parameters, state ${humanBytes(model.info.stateBytes)}`);
    const points = await measure(model, o.contexts, o.maxPrefillS);
    results.push({ id: m.id, label: m.label, parameters: model.info.parameters, stateBytes: model.info.stateBytes, points });
    await model.dispose();
  }
  const minutes = previous?.minutes ?? (performance.now() - started) / 60000;
  const loads = results.flatMap((r) => r.points.filter((p) => p.load !== undefined).map((p) => p.load!));
  const load = `1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} at the measured points`;

  const headers = ['model', 'params', 'state', ...o.contexts.map((c) => `decode @${fmtCtx(c)}`), 'prefill'];
  const rows = results.map((r) => [
    r.label, `${(r.parameters / 1e6).toFixed(1)}M`, humanBytes(r.stateBytes),
    ...r.points.map((p) => (p.decodeMs === null ? '—' : `${p.decodeMs.toFixed(2)} ms`)),
    `${Math.round(median(r.points.filter((p) => p.prefillTokPerS !== null).map((p) => p.prefillTokPerS!)))} tok/s`,
  ]);
  rows.push([`attention KV cache (${KV.layers}×${KV.d}), computed`, '≈10.6M', '', ...o.contexts.map((c) => humanBytes(kvBytes(c))), '']);
  console.log(table(headers, rows));
  const skipped = results.flatMap((r) => r.points.filter((p) => p.skipped).map((p) => `${r.label} @${fmtCtx(p.ctx)}: ${p.skipped}`));
  if (skipped.length) console.log(`not measured:\n  ${skipped.join('\n  ')}`);
  console.log(`(${minutes.toFixed(1)} minutes on ${machine}; ${load})`);

  if (!previous) writeFileSync(o.json, JSON.stringify({ machine, load, minutes, date: new Date().toISOString(), kv: KV, contexts: o.contexts, results }, null, 2));
  if (!o.write) return;
  const caption = `Measured by npm run bench:lineage on ${machine}, a shared machine (${load}): point-to-point differences are other processes, not the context. Random weights, vocab 260; decode = median of ${DECODE_STEPS} steps after prefilling the context. KV line computed: 2·layers·d·ctx·4 bytes.`;
  writeFileSync(join(root, 'docs/lineage.svg'), lineageSvg(results, o.contexts, caption));
  const md = join(root, 'docs/lineage.md');
  if (existsSync(md)) {
    const text = readFileSync(md, 'utf8');
    const start = '<!-- lineage-bench:start -->', end = '<!-- lineage-bench:end -->';
    const i = text.indexOf(start), j = text.indexOf(end);
    if (i >= 0 && j > i) {
      const mdRows = [headers, ['---', '---:', '---:', ...o.contexts.map(() => '---:'), '---:'], ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
      const note = `\n\nMeasured ${new Date().toISOString().slice(0, 10)} on ${machine} (${load}); ${minutes.toFixed(1)} minutes.${skipped.length ? ` Not measured (prefill too slow for the bench's budget): ${skipped.map((s) => s.split(':')[0]).join('; ')}.` : ''}\n`;
      writeFileSync(md, text.slice(0, i + start.length) + '\n' + mdRows + note + text.slice(j));
    }
  }
  console.error('wrote docs/lineage.svg and the table in docs/lineage.md');
}

// Run when executed (npm run bench:lineage), not when imported for lineageSvg.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
