/**
 * `npm run bench:mamba3-prefill`: Mamba-3 prefill on the wasm backend, the chunked kernel
 * (`mamba3ChunkScan`, wasm/as/mamba3-chunk.ts) against the recurrence (`mamba3Scan`, wasm/as/mamba3.ts,
 * what prefill ran before), A/B in ONE process: the same backend and the same weights, the variant
 * switched by `WasmBackend.mamba3Prefill`, runs interleaved (A B B A …, so drift in the machine's load
 * falls on both alike), medians reported with the 1-minute load average sampled at every run.
 *
 * With `--before-wasm FILE` (the threaded kernels-as.wasm of an earlier build, e.g. `git show
 * 81796fc:wasm/dist/kernels-as.wasm > /tmp/before.wasm`), a third variant "before" runs that build's
 * kernels (its prefill: the recurrence as it was) on a second backend in the same process.
 *
 * Two levels, for each thread count:
 *   - op: one layer's `mamba3Scan` at the mamba3-130m shape (H 24, P 64, N 128, SISO, rope 0.5,
 *     chunk 64) and its MIMO rank-4 variant (chunk 16), over T tokens in one call;
 *   - model: `session.prefill` of T seeded random ids on the random-weight mamba3-130m of
 *     bench/mamba3.ts (24 layers; the session feeds 256-token pieces).
 *
 * Prints a table and rewrites the block of BENCHMARKS.md between `<!-- bench-mamba3-prefill:start -->`
 * and `<!-- bench-mamba3-prefill:end -->` (unless --no-write).
 *
 * Wall-clock medians; at the op level with one thread also the process's CPU time (less disturbed
 * by other work on a shared machine).
 *
 *   npm run bench:mamba3-prefill -- --threads 1,2 --tokens 512,2048 --op-repeat 7 --model-repeat 3 [--before-wasm FILE]
 */
import * as os from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/node.js';
import { createWasmBackend } from '../src/backends/wasm/factory.js';
import { compileKernels, type KernelModules } from '../src/backends/wasm/kernels.js';
import type { WasmBackend } from '../src/backends/wasm/index.js';
import type { Mamba3ScanArgs } from '../src/backends/backend.js';
import { seededRandom } from '../src/cli/measure.js';
import { markdownTable, table } from '../src/cli/format.js';
import { folder } from './mamba3.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** before: an earlier build's kernels (--before-wasm); recurrent / chunked: this build's two prefill kernels. */
type Variant = 'before' | 'recurrent' | 'chunked';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : def;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load1 = () => os.loadavg()[0];

/** Each variant `repeat` times, the order rotating every round (A B C, B C A, C A B, …). */
function* interleaved(variants: Variant[], repeat: number): Generator<Variant> {
  for (let k = 0; k < repeat; k++) {
    for (let i = 0; i < variants.length; i++) yield variants[(i + k) % variants.length];
  }
}

interface Row { level: string; shape: string; threads: number; T: number; ms: Partial<Record<Variant, number[]>>; cpu: Partial<Record<Variant, number[]>>; loads: number[] }

let beforeModules: KernelModules | null = null;
/** A backend (or model) per variant: 'before' runs on the earlier build's kernels. */
function modulesFor(v: Variant): KernelModules | undefined {
  return v === 'before' ? beforeModules! : undefined;
}

interface OpShape { name: string; H: number; P: number; N: number; R: number; S: number; chunk: number }
const OP_SHAPES: OpShape[] = [
  { name: 'mamba3-130m layer (SISO)', H: 24, P: 64, N: 128, R: 1, S: 32, chunk: 64 },
  { name: 'mamba3-mimo4-130m layer (R 4)', H: 24, P: 64, N: 128, R: 4, S: 32, chunk: 16 },
];

async function opLevel(threads: number, T: number, sh: OpShape, repeat: number, variants: Variant[]): Promise<Row> {
  const backends = new Map<Variant, WasmBackend>();
  try {
    const row: Row = { level: 'op', shape: sh.name, threads, T, ms: {}, cpu: {}, loads: [] };
    const runs = new Map<Variant, () => [number, number]>();
    for (const v of variants) {
      const b = (await createWasmBackend({ threads, wasmModules: modulesFor(v) })) as WasmBackend;
      backends.set(v, b);
      b.mamba3Prefill = v === 'chunked' ? 'chunked' : 'recurrent';
      const rand = seededRandom(7);
      const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
      const arr = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
      const { H, P, N, R, S } = sh;
      const up = (n: number, shape: number[], f: () => number = gauss) => b.upload(arr(n, f), shape);
      // magnitudes like a trained layer's: B, C after their RMSNorm, Δ ≈ softplus(−4 ± 1), θ moving by < π·Δ per token
      const args: Mamba3ScanArgs = {
        x: up(T * H * P, [1, T, H * P]), z: up(T * H * P, [1, T, H * P]),
        B: up(T * R * N, [1, T, R * N]), C: up(T * R * N, [1, T, R * N]),
        ddDt: up(T * H, [1, T, H], () => gauss() - 4), ddA: up(T * H, [1, T, H]), trap: up(T * H, [1, T, H]),
        angles: up(T * S, [1, T, S]), dtBias: up(H, [H], () => 0), aFloor: 1e-4,
        BBias: up(H * R * N, [H, R, N], () => 1), CBias: up(H * R * N, [H, R, N], () => 1), D: up(H, [H], () => 1),
        mimo: R > 1 ? { x: up(H * R * P, [H, R, P]), z: up(H * R * P, [H, R, P]), o: up(H * R * P, [H, R, P]) } : null,
        normWeight: null, normEps: 1e-5,
        numHeads: H, headDim: P, nGroups: 1, stateSize: N, rank: R, pairing: R > 1 ? 'halves' : 'adjacent', chunkSize: sh.chunk,
        angleState: b.zeros([1, H, S]), ssmState: b.zeros([1, H, P, N]), kState: b.zeros([1, R, H, N]), vState: b.zeros([1, H, P]),
      };
      const run = (): [number, number] => {
        for (const s of [args.angleState, args.ssmState, args.kState, args.vState]) b.write(s, new Float32Array(s.shape.reduce((p, q) => p * q, 1)));
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        b.free(b.mamba3Scan(args));
        const ms = performance.now() - t0;
        const c = process.cpuUsage(c0);
        return [ms, (c.user + c.system) / 1000];
      };
      for (let k = 0; k < 3; k++) run(); // warm-up: V8 compiles wasm with its baseline tier first and tiers hot functions up later
      runs.set(v, run);
    }
    for (const v of interleaved(variants, repeat)) {
      const [ms, cpu] = runs.get(v)!();
      (row.ms[v] ??= []).push(ms);
      (row.cpu[v] ??= []).push(cpu);
      row.loads.push(load1());
    }
    return row;
  } finally {
    for (const b of backends.values()) await b.dispose();
  }
}

async function modelLevel(threads: number, tokens: number[], repeat: number, variants: Variant[]): Promise<Row[]> {
  const models = new Map<Variant, Awaited<ReturnType<typeof loadModel>>>();
  try {
    for (const v of variants) {
      const model = await loadModel(folder('mamba3-130m'), { backend: 'wasm', threads, dtype: 'f32', wasmModules: modulesFor(v) });
      models.set(v, model);
      (model as unknown as { parts: { backend: WasmBackend } }).parts.backend.mamba3Prefill = v === 'chunked' ? 'chunked' : 'recurrent';
    }
    const rand = seededRandom(1);
    const ids = Array.from({ length: Math.max(...tokens) }, () => Math.floor(rand() * 50280));
    for (const model of models.values()) { // warm-up (JIT), as the bench does
      const w = model.createSession();
      await w.prefill(ids.slice(0, 70));
      await w.dispose();
    }
    const rows: Row[] = [];
    for (const T of tokens) {
      const row: Row = { level: 'model', shape: 'mamba3-130m prefill (24 layers)', threads, T, ms: {}, cpu: {}, loads: [] };
      for (const v of interleaved(variants, repeat)) {
        const s = models.get(v)!.createSession();
        const t0 = performance.now();
        await s.prefill(ids.slice(0, T));
        const ms = performance.now() - t0;
        (row.ms[v] ??= []).push(ms);
        row.loads.push(load1());
        await s.dispose();
        process.stderr.write(`model t${threads} T=${T} ${v}: ${ms.toFixed(0)} ms (load ${load1().toFixed(1)})\n`);
      }
      rows.push(row);
    }
    return rows;
  } finally {
    for (const m of models.values()) await m.dispose();
  }
}

async function main(): Promise<void> {
  const threads = arg('threads', '1,2').split(',').map(Number);
  const tokens = arg('tokens', '512,2048').split(',').map(Number);
  const opRepeat = Number(arg('op-repeat', '7'));
  const modelRepeat = Number(arg('model-repeat', '3'));
  const levels = arg('levels', 'op,model').split(',');
  const beforePath = arg('before-wasm', '');
  if (beforePath) beforeModules = { as: await WebAssembly.compile(readFileSync(beforePath)), c: (await compileKernels(true)).c };
  const opVariants: Variant[] = beforePath ? ['before', 'recurrent', 'chunked'] : ['recurrent', 'chunked'];
  const modelVariants: Variant[] = [beforePath ? 'before' : 'recurrent', 'chunked'];
  const loadStart = load1();
  const started = new Date();
  const rows: Row[] = [];
  for (const t of threads) {
    if (levels.includes('op')) {
      for (const sh of OP_SHAPES) {
        for (const T of tokens) {
          const r = await opLevel(t, T, sh, opRepeat, opVariants);
          process.stderr.write(`op t${t} ${sh.name} T=${T}: ${opVariants.map((v) => `${v} ${median(r.ms[v]!).toFixed(1)} ms (CPU ${median(r.cpu[v]!).toFixed(1)} ms)`).join(', ')}\n`);
          rows.push(r);
        }
      }
    }
    if (levels.includes('model')) rows.push(...(await modelLevel(t, tokens, modelRepeat, modelVariants)));
  }
  const loadEnd = load1();
  const base: Variant = beforePath ? 'before' : 'recurrent';
  const label: Record<Variant, string> = { before: 'before (recurrence, earlier build)', recurrent: 'recurrence (this build)', chunked: 'chunked (this build)' };
  const shown = opVariants;
  const headers = ['what', 'threads', 'T', ...shown.map((v) => label[v]), `speed-up vs ${base}`, 'CPU-time speed-up', 'runs each', 'load avg (min–max)'];
  const cell = (r: Row, v: Variant) => {
    const xs = r.ms[v];
    if (!xs) return '—';
    const ms = median(xs);
    return `${ms.toFixed(ms < 100 ? 1 : 0)} ms = ${((r.T * 1000) / ms).toFixed(0)} tok/s`;
  };
  const out = rows.map((r) => [
    `${r.level}: ${r.shape}`, String(r.threads), String(r.T), ...shown.map((v) => cell(r, v)),
    `${(median(r.ms[base]!) / median(r.ms.chunked!)).toFixed(2)}×`,
    r.threads === 1 && r.cpu[base] ? `${(median(r.cpu[base]!) / median(r.cpu.chunked!)).toFixed(2)}×` : '—',
    String(r.ms.chunked!.length), `${Math.min(...r.loads).toFixed(1)}–${Math.max(...r.loads).toFixed(1)}`,
  ]);
  console.log(table(headers, out));
  const cpus = os.cpus();
  const machine = `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, Node ${process.version}, shared with other work: 1-minute load average ${loadStart.toFixed(1)} at the start, ${loadEnd.toFixed(1)} at the end`;
  const md = [
    `${started.toISOString().slice(0, 10)}. Machine: ${machine}. Command: \`npm run bench:mamba3-prefill -- --threads ${threads.join(',')} --tokens ${tokens.join(',')} --op-repeat ${opRepeat} --model-repeat ${modelRepeat}${beforePath ? ' --before-wasm <81796fc:wasm/dist/kernels-as.wasm>' : ''}\`. Medians of wall-clock time, all variants interleaved in one process; the CPU-time column (one thread, op level) is the process's CPU time, less disturbed by the machine's other work.`,
    '',
    markdownTable(headers, out),
  ].join('\n');
  if (!process.argv.includes('--no-write')) {
    const file = join(root, 'BENCHMARKS.md');
    const text = readFileSync(file, 'utf8');
    const start = '<!-- bench-mamba3-prefill:start -->', end = '<!-- bench-mamba3-prefill:end -->';
    const block = `${start}\n${md}\n${end}`;
    if (!text.includes(start)) throw new Error(`BENCHMARKS.md has no ${start} block`);
    writeFileSync(file, text.slice(0, text.indexOf(start)) + block + text.slice(text.indexOf(end) + end.length));
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
