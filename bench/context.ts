/**
 * `npm run bench:context`: what Mamba buys over attention as the context grows. A Llama-shaped
 * transformer, a Mamba-2 and a Bamba-shaped hybrid (Mamba-2 + 2 attention layers), each about 30M
 * parameters, random weights, byte-level vocab 260, f32 on the wasm backend.
 *
 * Method: one session per model; the context is prefilled in steps to 1k, 4k, 16k (continuing the
 * same session; a step is skipped when the prefill rate so far projects it past --max-prefill-s);
 * after each, DECODE_STEPS single-token steps (after WARMUP untimed ones) give the per-token decode
 * time (median). Memory: the session's state at that context (model.stateAt: fixed SSM state + KV
 * caches) and the wasm arena's peak (weights + state + activations, as allocated, KV capacity
 * doubling included). The machine is shared: each model starts once the 1-minute load average is
 * below 1 (or after --wait-quiet s) and the load at each point is recorded.
 *
 *   npm run bench:context                     (--contexts 1024,4096,16384 --threads 2)
 *   npm run bench:context -- --contexts 1024 --models llama --no-write
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel, type Model } from '../src/node.js';
import { humanBytes, table } from '../src/cli/format.js';
import { randomArchitectureFiles } from '../tools/random-hybrid.js';

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
    maxPrefillS: Number(get('--max-prefill-s') ?? 240),
    waitQuiet: Number(get('--wait-quiet') ?? 120),
    json: get('--json') ?? join(os.tmpdir(), 'mamba-edge-bench-context.json'),
    write: !a.includes('--no-write'),
  };
}

const tokens = (n: number, offset: number) => Array.from({ length: n }, (_, i) => ((offset + i) * 2654435761 >>> 24) % 256);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const fmtCtx = (n: number) => (n >= 1024 ? `${n / 1024}k` : String(n));

async function waitQuiet(seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (os.loadavg()[0] >= 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 5000));
}

function arenaPeak(model: Model): number | null {
  const b = (model as unknown as { parts?: { backend?: { peakBytes?: number } } }).parts?.backend;
  return typeof b?.peakBytes === 'number' ? b.peakBytes : null;
}

async function measure(model: Model, contexts: number[], maxPrefillS: number): Promise<Point[]> {
  const s = model.createSession();
  const points: Point[] = [];
  let pos = 0, elapsed = 0, last = 0;
  for (const ctx of contexts) {
    const need = ctx - pos;
    // attention prefill grows as T²: project with the quadratic term from what was measured
    const projected = pos > 0 ? (elapsed * (ctx * ctx - pos * pos)) / (pos * pos) : 0;
    if (projected > maxPrefillS) {
      points.push({ ctx, decodeMs: null, prefillS: null, stateBytes: model.stateAt(ctx).totalBytes, arenaPeak: null, skipped: `prefill to ${fmtCtx(ctx)} projected at ${projected.toFixed(0)} s > ${maxPrefillS} s` });
      continue;
    }
    const t0 = performance.now();
    const logits = await s.prefill(tokens(need, pos));
    const secs = (performance.now() - t0) / 1000;
    elapsed += secs;
    pos = ctx;
    last = logits.indexOf(Math.max(...logits));
    const times: number[] = [];
    for (let i = 0; i < WARMUP + DECODE_STEPS; i++) {
      const t = performance.now();
      const next = await s.step(last);
      if (i >= WARMUP) times.push(performance.now() - t);
      last = next.indexOf(Math.max(...next));
    }
    pos += WARMUP + DECODE_STEPS;
    const p: Point = { ctx, decodeMs: median(times), prefillS: elapsed, stateBytes: model.stateAt(pos).totalBytes, arenaPeak: arenaPeak(model), load: +os.loadavg()[0].toFixed(2) };
    points.push(p);
    process.stderr.write(`  ${fmtCtx(ctx)}: decode ${p.decodeMs!.toFixed(2)} ms/token, prefill ${secs.toFixed(1)} s (total ${elapsed.toFixed(1)} s), state ${humanBytes(p.stateBytes)}, load ${p.load}\n`);
  }
  await s.dispose();
  return points;
}

async function main(): Promise<void> {
  const o = args();
  const started = performance.now();
  const machine = `${os.cpus()[0]?.model.trim() ?? 'CPU'}, ${os.cpus().length} cores, Node ${process.version}, wasm backend ${o.threads} threads, f32`;
  console.error(`bench:context on ${machine}`);
  const results: Result[] = [];
  for (const m of MODELS.filter((x) => o.models.includes(x.id))) {
    await waitQuiet(o.waitQuiet);
    const model = await loadModel(randomArchitectureFiles(m.config), { backend: 'wasm', threads: o.threads });
    console.error(`${m.label}: ${(model.info.parameters / 1e6).toFixed(1)}M parameters, state ${humanBytes(model.info.stateBytes)} + ${humanBytes(model.info.kvBytesPerToken)}/token`);
    results.push({ id: m.id, label: m.label, parameters: model.info.parameters, points: await measure(model, o.contexts, o.maxPrefillS) });
    await model.dispose();
  }
  const minutes = (performance.now() - started) / 60000;
  const loads = results.flatMap((r) => r.points.filter((p) => p.load !== undefined).map((p) => p.load!));
  const load = `1-minute load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} at the measured points`;
  const headers = ['model', 'params', 'context', 'prefill (cumulative)', 'decode / token', 'session state', 'wasm arena peak'];
  const rows = results.flatMap((r) => r.points.map((p) => [
    r.label, `${(r.parameters / 1e6).toFixed(1)}M`, fmtCtx(p.ctx),
    p.prefillS === null ? `— (${p.skipped})` : `${p.prefillS.toFixed(1)} s`,
    p.decodeMs === null ? '—' : `${p.decodeMs.toFixed(1)} ms`,
    humanBytes(p.stateBytes) + (p.decodeMs === null ? ' (computed)' : ''),
    p.arenaPeak === null ? '—' : humanBytes(p.arenaPeak),
  ]));
  console.log(table(headers, rows));
  console.log(`(${minutes.toFixed(1)} minutes on ${machine}; ${load})`);
  writeFileSync(o.json, JSON.stringify({ machine, load, minutes, date: new Date().toISOString(), contexts: o.contexts, results }, null, 2));
  if (!o.write) return;
  const md = join(root, 'BENCHMARKS.md');
  const text = readFileSync(md, 'utf8');
  const start = '<!-- bench:context:start -->', end = '<!-- bench:context:end -->';
  const body = [
    [headers, headers.map((_, i) => (i < 1 ? '---' : '---:')), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n'),
    `\nMeasured ${new Date().toISOString().slice(0, 10)} by \`npm run bench:context\` on ${machine}; ${load} (a shared machine: other processes, not the context, explain small point-to-point differences); ${minutes.toFixed(1)} minutes. Decode = median of ${DECODE_STEPS} single-token steps after prefilling the context in one session; session state = model.stateAt(context) (SSM state + KV caches); arena peak = the wasm memory's high-water mark (weights, state, activations, KV capacity grown by doubling).\n`,
  ].join('\n');
  const i = text.indexOf(start), j = text.indexOf(end);
  const section = `${start}\n${body}\n${end}`;
  writeFileSync(md, i >= 0 && j > i ? text.slice(0, i) + section + text.slice(j + end.length) : `${text.trimEnd()}\n\n## Context length: attention vs Mamba-2 vs hybrid (wasm)\n\n${section}\n`);
  console.error('wrote the bench:context table in BENCHMARKS.md');
}

await main();
