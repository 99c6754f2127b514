/**
 * `npm run bench:context`: what Mamba buys over attention as the context grows. A Llama-shaped
 * transformer, a Mamba-2 and a Bamba-shaped hybrid (Mamba-2 + 2 attention layers), each about 30M
 * parameters, random weights, byte-level vocab 260, f32 on the wasm backend.
 *
 * Method: one session per model; the context is prefilled in steps to 1k, 4k, 16k (continuing the
 * same session; a step is skipped when the prefill times so far project it past --max-prefill-s, 300 s);
 * after each, DECODE_STEPS single-token steps (after WARMUP untimed ones) give the per-token decode
 * time (median). Memory: the session's state at that context (model.stateAt: fixed SSM state + KV
 * caches) and the wasm arena's peak (weights + state + activations, as allocated, KV capacity
 * doubling included). The machine is shared: each model starts once the 1-minute load average is
 * below 1 (or after --wait-quiet s) and the load at each point is recorded.
 *
 *   npm run bench:context                     (--contexts 1024,4096,16384 --threads 2)
 *   npm run bench:context -- --contexts 1024 --models llama --no-write
 *   npm run bench:context -- --models llama --max-prefill-s 900 --merge /tmp/previous.json   (rerun one model, keep the others)
 *
 * On a GPU (issue 8 item 5, the WebGPU part): `--backend webgpu` runs the same models and method on the
 * webgpu backend (no load-average wait: the machine is a dedicated GPU box) and writes its own section
 * (bench:context-webgpu markers). `--model-budget-s S` caps each model's prefill + decode time: a
 * context step is skipped (and recorded as skipped) when the time so far plus its projected prefill
 * would pass S — the Llama model's attention prefill is quadratic in the context.
 *   npm run bench:context -- --backend webgpu --contexts 1024,4096,16384,32768,65536,131072 --model-budget-s 60
 *   npm run bench:context -- --from-json run.json --model-budget-s 75 --machine 'NVIDIA H100 80GB HBM3 …'   (table from a GPU run's JSON)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type Model } from '../src/node.js';
import { humanBytes, table } from '../src/cli/format.js';
import { randomArchitectureFiles } from '../tools/random-hybrid.js';
import { esc, fmtCtx, timeDecode, tokens, waitQuiet } from './sweep.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const V = 260;

/** ~30M parameters each. */
const MODELS: { id: string; label: string; config: Record<string, unknown> }[] = [
  {
    id: 'llama', label: 'Llama 10×512 (8 heads, 4 kv)',
    config: { model_type: 'llama', vocab_size: V, hidden_size: 512, intermediate_size: 1536, num_hidden_layers: 10, num_attention_heads: 8, num_key_value_heads: 4, tie_word_embeddings: true },
  },
  {
    id: 'mamba2', label: 'Mamba-2 16×512, N 128',
    config: { model_type: 'mamba2', vocab_size: V, hidden_size: 512, num_hidden_layers: 16, state_size: 128, expand: 2, num_heads: 16, head_dim: 64, n_groups: 1, chunk_size: 256, tie_word_embeddings: true },
  },
  {
    id: 'hybrid', label: 'Bamba-style 8×512 (2 attention)',
    config: {
      model_type: 'bamba', vocab_size: V, hidden_size: 512, intermediate_size: 1376, num_hidden_layers: 8, attn_layer_indices: [3, 7],
      num_attention_heads: 8, num_key_value_heads: 4, mamba_n_heads: 16, mamba_d_head: 64, mamba_n_groups: 1, mamba_d_state: 128,
      mamba_d_conv: 4, mamba_expand: 2, mamba_chunk_size: 256, tie_word_embeddings: true,
    },
  },
];

const WARMUP = 2;
const DECODE_STEPS = 16;

interface Point { ctx: number; decodeMs: number | null; prefillS: number | null; stateBytes: number; arenaPeak: number | null; skipped?: string; load?: number }
interface Result { id: string; label: string; parameters: number; points: Point[] }

function args() {
  const a = process.argv.slice(2);
  const get = (k: string) => { const i = a.indexOf(k); return i >= 0 ? a[i + 1] : undefined; };
  return {
    contexts: (get('--contexts') ?? '1024,4096,16384').split(',').map(Number),
    models: get('--models')?.split(',') ?? MODELS.map((m) => m.id),
    threads: Number(get('--threads') ?? 2),
    maxPrefillS: Number(get('--max-prefill-s') ?? 300),
    backend: (get('--backend') ?? 'wasm') as 'wasm' | 'webgpu',
    modelBudgetS: Number(get('--model-budget-s') ?? Infinity),
    waitQuiet: Number(get('--wait-quiet') ?? 120),
    json: get('--json') ?? join(os.tmpdir(), 'mamba-edge-bench-context.json'),
    write: !a.includes('--no-write'),
    /** Re-render the table and chart from a previous run's JSON instead of measuring. */
    fromJson: get('--from-json'),
    /** Keep a previous run's results (this JSON) for the models not measured now. */
    merge: get('--merge'),
  };
}

// ---- the chart -------------------------------------------------------------------------------

const COLORS = ['#d62728', '#1f77b4', '#2ca02c'];

/** Two panels over log-x context: decode ms/token and session state (log y); unmeasured points hollow. */
export function contextSvg(results: Result[], contexts: number[], caption: string): string {
  const W = 900, H = 470, top = 58, bottom = 340, panelW = 360;
  const panels = [{ x0: 70, title: 'Decode time per token (ms)' }, { x0: 510, title: 'Session state (bytes, log scale)' }];
  const lx0 = Math.log2(contexts[0]), lx1 = Math.log2(contexts[contexts.length - 1]);
  const px = (p: number, c: number) => panels[p].x0 + ((Math.log2(c) - lx0) / (lx1 - lx0 || 1)) * panelW;
  const yMax = Math.max(1, ...results.flatMap((r) => r.points.map((p) => p.decodeMs ?? 0))) * 1.15;
  const yT = (v: number) => bottom - (v / yMax) * (bottom - top);
  const mem = results.flatMap((r) => r.points.map((p) => p.stateBytes)).filter((v) => v > 0);
  const m0 = Math.floor(Math.log10(Math.min(...mem))), m1 = Math.ceil(Math.log10(Math.max(...mem)));
  const yM = (v: number) => bottom - ((Math.log10(v) - m0) / (m1 - m0 || 1)) * (bottom - top);
  const o: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="#fff"/>`];
  o.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">Attention grows with the context; Mamba-2's state does not</text>`);
  panels.forEach((pan, p) => {
    o.push(`<text x="${pan.x0 + panelW / 2}" y="${top - 14}" text-anchor="middle" font-weight="600">${esc(pan.title)}</text>`);
    for (const c of contexts) o.push(`<text x="${px(p, c).toFixed(1)}" y="${bottom + 16}" text-anchor="middle" fill="#444">${fmtCtx(c)}</text>`);
    if (p === 0) for (let i = 0; i <= 4; i++) { const v = (yMax * i) / 4; o.push(`<text x="${pan.x0 - 6}" y="${(yT(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${v.toFixed(yMax < 20 ? 1 : 0)}</text>`, `<line x1="${pan.x0}" x2="${pan.x0 + panelW}" y1="${yT(v).toFixed(1)}" y2="${yT(v).toFixed(1)}" stroke="#eee"/>`); }
    else for (let e = m0; e <= m1; e++) o.push(`<text x="${pan.x0 - 6}" y="${(yM(10 ** e) + 4).toFixed(1)}" text-anchor="end" fill="#444">${humanBytes(10 ** e)}</text>`, `<line x1="${pan.x0}" x2="${pan.x0 + panelW}" y1="${yM(10 ** e).toFixed(1)}" y2="${yM(10 ** e).toFixed(1)}" stroke="#eee"/>`);
    o.push(`<rect x="${pan.x0}" y="${top}" width="${panelW}" height="${bottom - top}" fill="none" stroke="#999"/>`);
  });
  results.forEach((r, i) => {
    const col = COLORS[i % COLORS.length];
    const dec = r.points.filter((p) => p.decodeMs !== null).map((p) => [px(0, p.ctx), yT(p.decodeMs!)]);
    if (dec.length > 1) o.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${dec.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of dec) o.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" fill="${col}"/>`);
    const st = r.points.filter((p) => p.stateBytes > 0).map((p) => [px(1, p.ctx), yM(p.stateBytes), p.decodeMs === null ? 1 : 0]);
    if (st.length > 1) o.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${st.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y, hollow] of st) o.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${hollow ? '#fff' : col}" stroke="${col}"/>`);
    o.push(`<line x1="${40 + i * 290}" x2="${58 + i * 290}" y1="${bottom + 46}" y2="${bottom + 46}" stroke="${col}" stroke-width="3"/><text x="${64 + i * 290}" y="${bottom + 50}" font-size="11.5">${esc(`${r.label} · ${(r.parameters / 1e6).toFixed(1)}M`)}</text>`);
  });
  const words = caption.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) { if (line && line.length + w.length > 140) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w; }
  if (line) lines.push(line);
  lines.forEach((l, i) => o.push(`<text x="${W / 2}" y="${H - 12 - (lines.length - 1 - i) * 14}" text-anchor="middle" font-size="10.5" fill="#666">${esc(l)}</text>`));
  o.push('</svg>');
  return o.join('\n') + '\n';
}



function arenaPeak(model: Model): number | null {
  const b = (model as unknown as { parts?: { backend?: { peakBytes?: number } } }).parts?.backend;
  return typeof b?.peakBytes === 'number' ? b.peakBytes : null;
}

/**
 * Seconds to prefill from `pos` to `ctx`, from the segments measured so far under
 * t = a·tokens + b·(end² − start²) (a linear part, and attention's part that grows with position);
 * one segment: linear only. 0 before anything was measured.
 */
function projectPrefill(segs: { s: number; e: number; t: number }[], pos: number, ctx: number): number {
  if (segs.length === 0) return 0;
  const lin = (g: { s: number; e: number }) => g.e - g.s, quad = (g: { s: number; e: number }) => g.e * g.e - g.s * g.s;
  let a = segs[segs.length - 1].t / lin(segs[segs.length - 1]), b = 0;
  if (segs.length >= 2) {
    const [p, q] = segs.slice(-2);
    const det = lin(p) * quad(q) - lin(q) * quad(p);
    const bb = det !== 0 ? (lin(p) * q.t - lin(q) * p.t) / det : 0;
    if (bb > 0) { b = bb; a = Math.max(0, (p.t - b * quad(p)) / lin(p)); }
  }
  return a * (ctx - pos) + b * (ctx * ctx - pos * pos);
}

async function measure(model: Model, contexts: number[], maxPrefillS: number, modelBudgetS = Infinity): Promise<Point[]> {
  const began = performance.now();
  const s = model.createSession();
  const points: Point[] = [];
  let pos = 0, elapsed = 0, last = 0;
  const segments: { s: number; e: number; t: number }[] = [];
  for (const ctx of contexts) {
    const need = ctx - pos;
    const projected = projectPrefill(segments, pos, ctx);
    const spent = (performance.now() - began) / 1000;
    if (projected > maxPrefillS || spent + projected > modelBudgetS) {
      const why = projected > maxPrefillS ? `${maxPrefillS} s` : `the model's ${modelBudgetS} s budget (${spent.toFixed(0)} s spent)`;
      points.push({ ctx, decodeMs: null, prefillS: null, stateBytes: model.stateAt(ctx).totalBytes, arenaPeak: null, skipped: `prefill to ${fmtCtx(ctx)} projected at ${projected.toFixed(0)} s > ${why}` });
      process.stderr.write(`  ${fmtCtx(ctx)}: skipped (${points[points.length - 1].skipped})\n`);
      continue;
    }
    const t0 = performance.now();
    const logits = await s.prefill(tokens(need, pos));
    const secs = (performance.now() - t0) / 1000;
    segments.push({ s: pos, e: ctx, t: secs });
    elapsed += secs;
    pos = ctx;
    last = logits.indexOf(Math.max(...logits));
    const decode = await timeDecode(s, last, WARMUP, DECODE_STEPS);
    last = decode.last;
    pos += WARMUP + DECODE_STEPS;
    const p: Point = { ctx, decodeMs: decode.ms, prefillS: elapsed, stateBytes: model.stateAt(pos).totalBytes, arenaPeak: arenaPeak(model), load: +os.loadavg()[0].toFixed(2) };
    points.push(p);
    process.stderr.write(`  ${fmtCtx(ctx)}: decode ${p.decodeMs!.toFixed(2)} ms/token, prefill ${secs.toFixed(1)} s (total ${elapsed.toFixed(1)} s), state ${humanBytes(p.stateBytes)}, load ${p.load}\n`);
  }
  await s.dispose();
  return points;
}

async function main(): Promise<void> {
  const o = args();
  const get = (k: string) => { const i = process.argv.indexOf(k); return i >= 0 ? process.argv[i + 1] : undefined; };
  const started = performance.now();
  const previous = o.fromJson ? JSON.parse(readFileSync(o.fromJson, 'utf8')) as { machine: string; minutes: number; date: string; contexts: number[]; results: Result[]; backend?: 'wasm' | 'webgpu' } : null;
  if (previous) { o.contexts = previous.contexts; o.backend = previous.backend ?? 'wasm'; }
  const gpu = o.backend === 'webgpu';
  let machine = previous?.machine ?? (gpu ? '' : `${os.cpus()[0]?.model.trim() ?? 'CPU'}, ${os.cpus().length} cores, Node ${process.version}, wasm backend ${o.threads} threads, f32`);
  if (get('--machine')) machine = get('--machine')!;  // e.g. the GPU's name, which dawn's adapter info does not give
  if (!gpu) console.error(`bench:context on ${machine}`);
  const results: Result[] = previous?.results ?? [];
  for (const m of MODELS.filter((x) => !previous && o.models.includes(x.id))) {
    if (!gpu) await waitQuiet(o.waitQuiet);
    const model = await loadModel(randomArchitectureFiles(m.config), gpu ? { backend: 'webgpu' } : { backend: 'wasm', threads: o.threads });
    if (gpu && !machine) machine = `${model.backendInfo.device ?? 'GPU'} (webgpu backend), ${os.cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, f32`;
    console.error(`${m.label}: ${(model.info.parameters / 1e6).toFixed(1)}M parameters, state ${humanBytes(model.info.stateBytes)} + ${humanBytes(model.info.kvBytesPerToken)}/token`);
    results.push({ id: m.id, label: m.label, parameters: model.info.parameters, points: await measure(model, o.contexts, o.maxPrefillS, o.modelBudgetS) });
    await model.dispose();
    // after every model, so a run cut short by an outer time limit keeps what it measured
    writeFileSync(o.json, JSON.stringify({ machine, load: '', minutes: (performance.now() - started) / 60000, date: new Date().toISOString(), contexts: o.contexts, results, backend: o.backend, partial: true }, null, 2));
  }
  let minutes = previous?.minutes ?? (performance.now() - started) / 60000;
  if (o.merge) {
    const old = JSON.parse(readFileSync(o.merge, 'utf8')) as { minutes: number; results: Result[] };
    const fresh = new Map(results.map((r) => [r.id, r]));
    results.splice(0, results.length, ...MODELS.map((m) => fresh.get(m.id) ?? old.results.find((r) => r.id === m.id)).filter((r): r is Result => r !== undefined));
    minutes += old.minutes;
  }
  const loads = results.flatMap((r) => r.points.filter((p) => p.load !== undefined).map((p) => p.load!));
  const load = gpu ? 'a dedicated GPU machine' : `1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} at the measured points`;
  const headers = ['model', 'params', 'context', 'prefill (cumulative)', 'decode / token', 'session state', 'wasm arena peak'].slice(0, gpu ? 6 : 7);
  const rows = results.flatMap((r) => r.points.map((p) => [
    r.label, `${(r.parameters / 1e6).toFixed(1)}M`, fmtCtx(p.ctx),
    p.prefillS === null ? `— (${p.skipped})` : `${p.prefillS.toFixed(1)} s`,
    p.decodeMs === null ? '—' : `${p.decodeMs.toFixed(1)} ms`,
    humanBytes(p.stateBytes) + (p.decodeMs === null ? ' (computed)' : ''),
    p.arenaPeak === null ? '—' : humanBytes(p.arenaPeak),
  ].slice(0, headers.length)));
  console.log(table(headers, rows));
  console.log(`(${minutes.toFixed(1)} minutes on ${machine}; ${load})`);
  const date = previous?.date ?? new Date().toISOString();
  if (!previous) writeFileSync(o.json, JSON.stringify({ machine, load, minutes, date, contexts: o.contexts, results, backend: o.backend }, null, 2));
  if (!o.write) return;
  if (gpu) { writeGpuSection(results, headers, rows, machine, date, minutes, o.modelBudgetS, o.contexts); return; }
  writeFileSync(join(root, 'docs/context.svg'), contextSvg(results, o.contexts, `Measured by npm run bench:context on ${machine}, a shared machine (${load}). Random weights, vocab 260; decode = median of ${DECODE_STEPS} steps after prefilling the context in one session; state = SSM state + KV caches (hollow: computed where the prefill was too slow to run).`));
  const md = join(root, 'BENCHMARKS.md');
  const text = readFileSync(md, 'utf8');
  const start = '<!-- bench:context:start -->', end = '<!-- bench:context:end -->';
  const body = [
    [headers, headers.map((_, i) => (i < 1 ? '---' : '---:')), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n'),
    `\nMeasured ${date.slice(0, 10)} by \`npm run bench:context\` on ${machine}; ${load} (a shared machine: other processes, not the context, explain small point-to-point differences); ${minutes.toFixed(1)} minutes. Decode = median of ${DECODE_STEPS} single-token steps after prefilling the context in one session; session state = model.stateAt(context) (SSM state + KV caches); arena peak = the wasm memory's high-water mark (weights, state, activations, KV capacity grown by doubling).\n`,
  ].join('\n');
  const i = text.indexOf(start), j = text.indexOf(end);
  const section = `${start}\n${body}\n${end}`;
  writeFileSync(md, i >= 0 && j > i ? text.slice(0, i) + section + text.slice(j + end.length) : `${text.trimEnd()}\n\n## Context length: attention vs Mamba-2 vs hybrid (wasm)\n\n${section}\n`);
  console.error('wrote the bench:context table in BENCHMARKS.md');
}

/** The webgpu run's own BENCHMARKS.md section and chart, docs/context-webgpu.svg (the wasm section and docs/context.svg stay as they are). */
function writeGpuSection(results: Result[], headers: string[], rows: string[][], machine: string, date: string, minutes: number, budget: number, contexts: number[]): void {
  writeFileSync(join(root, 'docs/context-webgpu.svg'), contextSvg(results, contexts, `Measured ${date.slice(0, 10)} by npm run bench:context -- --backend webgpu on ${machine}. Random weights, vocab 260; decode = median of ${DECODE_STEPS} steps after prefilling the context in one session; state = SSM state + KV caches (hollow: computed where the prefill would pass the model's time budget).`));
  const md = join(root, 'BENCHMARKS.md');
  const text = readFileSync(md, 'utf8');
  const start = '<!-- bench:context-webgpu:start -->', end = '<!-- bench:context-webgpu:end -->';
  const body = [
    [headers, headers.map((_, i) => (i < 1 ? '---' : '---:')), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n'),
    `\nMeasured ${date.slice(0, 10)} by \`npm run bench:context -- --backend webgpu\` on ${machine}; ${minutes.toFixed(1)} minutes${Number.isFinite(budget) ? `, each model capped at ${budget} s of prefill + decode (a skipped step says what its prefill was projected to take)` : ''}. Decode = median of ${DECODE_STEPS} single-token steps (each reads the logits back to the CPU) after prefilling the context in one session; session state = model.stateAt(context) (SSM state + KV caches).\n`,
  ].join('\n');
  const i = text.indexOf(start), j = text.indexOf(end);
  const section = `${start}\n${body}\n${end}`;
  writeFileSync(md, i >= 0 && j > i ? text.slice(0, i) + section + text.slice(j + end.length) : `${text.trimEnd()}\n\n## Context length on WebGPU (issue 8 item 5, the GPU part)\n\n${section}\n`);
  console.error(`wrote the bench:context webgpu table in BENCHMARKS.md (${results.length} models)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
