/**
 * `npm run bench`: speed and memory of mamba-edge next to the engines a user would pick
 * instead, on random-weight models shaped like state-spaces/mamba-130m and mamba2-130m.
 *
 * Models (tools/bench-models.ts): one seed → a Hugging Face folder (what mamba-edge loads)
 * and GGUF f32 / q8_0 files of the same weights (what llama.cpp loads), written once into
 * the temp folder.
 *
 * Every configuration runs in its own process (so peak RSS is that run's alone), --repeat
 * times (default 3); the table shows the median of each figure:
 *   reference            mamba-edge's plain-TypeScript oracle (slow: a short prompt, see --ref-*)
 *   wasm-t1, wasm-t2     mamba-edge wasm backend, 1 / 2 threads, f32         (bench/child.ts)
 *   wasm-q8-t1           the same, weights quantized to q8_0 at load, 1 thread
 *   llama-t1, llama-t2   llama.cpp native via node-llama-cpp, f32 GGUF, mmap off (bench/peers/llama.ts)
 *   llama-q8-t1          the same on the q8_0 GGUF
 *   wasm-long            wasm, 2 threads, a --long-prompt-tokens prompt (memory stays bounded?), run once
 *   wllama-t1, wllama-t2, wllama-q8-t1
 *                        llama.cpp in WebAssembly via @wllama/wllama in headless Chromium (bench/peers/chromium.ts)
 *   wasm-chromium-t1, wasm-chromium-t2, wasm-chromium-q8-t1
 *                        mamba-edge in the same headless Chromium (bench/browser/page.ts, the browser runtime)
 * Peers need `npm --prefix bench/peers install --omit=optional` (and /usr/bin/chromium for wllama);
 * missing ones are listed as skipped.
 *
 * Also measured: the host's memory read bandwidth (bench/bandwidth.ts) and from it the decode
 * roofline, bandwidth ÷ bytes of weights read per token; and, with --profile, where the wasm
 * backend's decode and prefill time goes per kernel (bench/profile.ts).
 *
 * The machine is shared: before starting it waits (up to --wait-quiet seconds) for the
 * 1-minute load average to drop below 1, and before each run for 3 quiet seconds; the CPU
 * that other processes used during each run is recorded and shown ("others").
 *
 * Prints a table, writes bench/results/latest.json and the section of BENCHMARKS.md between
 * `<!-- bench:start -->` and `<!-- bench:end -->`.
 *
 *   npm run bench                                       everything (about 20 minutes)
 *   npm run bench -- --configs wasm-t1,llama-t1 --models mamba-130m --repeat 1 --no-write
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { list, positiveInt, UsageError } from '../src/cli/args.js';
import { humanBytes, markdownTable, rate, table } from '../src/cli/format.js';
import { BENCH_MODEL_NAMES, BENCH_MODELS, benchModel, type BenchModelName } from '../tools/bench-models.js';
import type { Bandwidth } from './bandwidth.js';
import type { ProfileResult } from './profile.js';
import { formatProfile } from './profile.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

type Engine = 'mamba-edge' | 'llama.cpp' | 'wllama';
interface Config {
  id: string;
  engine: Engine;
  label: string;
  runtime: 'Node' | 'Chromium';
  threads: number;
  dtype: 'f32' | 'q8_0';
  backend?: 'reference' | 'wasm';
}

const CONFIGS: Config[] = [
  { id: 'reference', engine: 'mamba-edge', label: 'mamba-edge reference', runtime: 'Node', threads: 1, dtype: 'f32', backend: 'reference' },
  { id: 'wasm-t1', engine: 'mamba-edge', label: 'mamba-edge wasm', runtime: 'Node', threads: 1, dtype: 'f32', backend: 'wasm' },
  { id: 'wasm-t2', engine: 'mamba-edge', label: 'mamba-edge wasm', runtime: 'Node', threads: 2, dtype: 'f32', backend: 'wasm' },
  { id: 'wasm-q8-t1', engine: 'mamba-edge', label: 'mamba-edge wasm', runtime: 'Node', threads: 1, dtype: 'q8_0', backend: 'wasm' },
  { id: 'wasm-long', engine: 'mamba-edge', label: 'mamba-edge wasm (long prompt)', runtime: 'Node', threads: 2, dtype: 'f32', backend: 'wasm' },
  { id: 'llama-t1', engine: 'llama.cpp', label: 'llama.cpp (node-llama-cpp)', runtime: 'Node', threads: 1, dtype: 'f32' },
  { id: 'llama-t2', engine: 'llama.cpp', label: 'llama.cpp (node-llama-cpp)', runtime: 'Node', threads: 2, dtype: 'f32' },
  { id: 'llama-q8-t1', engine: 'llama.cpp', label: 'llama.cpp (node-llama-cpp)', runtime: 'Node', threads: 1, dtype: 'q8_0' },
  { id: 'wllama-t1', engine: 'wllama', label: 'wllama (llama.cpp wasm)', runtime: 'Chromium', threads: 1, dtype: 'f32' },
  { id: 'wllama-t2', engine: 'wllama', label: 'wllama (llama.cpp wasm)', runtime: 'Chromium', threads: 2, dtype: 'f32' },
  { id: 'wllama-q8-t1', engine: 'wllama', label: 'wllama (llama.cpp wasm)', runtime: 'Chromium', threads: 1, dtype: 'q8_0' },
  { id: 'wasm-chromium-t1', engine: 'mamba-edge', label: 'mamba-edge wasm', runtime: 'Chromium', threads: 1, dtype: 'f32', backend: 'wasm' },
  { id: 'wasm-chromium-t2', engine: 'mamba-edge', label: 'mamba-edge wasm', runtime: 'Chromium', threads: 2, dtype: 'f32', backend: 'wasm' },
  { id: 'wasm-chromium-q8-t1', engine: 'mamba-edge', label: 'mamba-edge wasm', runtime: 'Chromium', threads: 1, dtype: 'q8_0', backend: 'wasm' },
];
const CONFIG_IDS = CONFIGS.map((c) => c.id);

/** What every engine's child prints (bench/child.ts, bench/peers/llama.ts, bench/peers/chromium.ts). */
interface RunResult {
  engine: string;
  threads: number;
  promptTokens: number;
  genTokens: number;
  loadMs: number;
  prefillTokensPerSec: number;
  decodeTokensPerSec: number;
  ttftMs: number;
  peakRssBytes: number;
  runRssBytes?: number;
  rssBaselineBytes?: number;
  arenaPeakBytes?: number;
  weightBytes?: number;
  note?: string;
}

interface Row {
  model: BenchModelName;
  config: Config;
  runs: RunResult[];
  /** Cores' worth of CPU that other processes used during each run. */
  others: number[];
  median?: RunResult;
  skipped?: string;
  /** The memory bandwidth measured at the start of the invocation that ran this row. */
  bandwidth?: Bandwidth[];
}

// ---- the machine ---------------------------------------------------------------

function machine() {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model.trim() ?? 'unknown', cores: cpus.length, ramBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.arch()}` };
}

const load1 = () => os.loadavg()[0];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Total busy CPU time of the machine (s) from /proc/stat. */
function busySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / 100;
}

/** CPU time (s) of `pid` and its descendants, reaped children included (utime+stime+cutime+cstime). */
function treeCpuSeconds(pid: number): number {
  const kids = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      (kids.get(ppid) ?? kids.set(ppid, []).get(ppid)!).push(Number(d));
      cpu.set(Number(d), (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100);
    } catch { /* exited */ }
  }
  let total = 0;
  const walk = (p: number) => { total += cpu.get(p) ?? 0; for (const c of kids.get(p) ?? []) walk(c); };
  walk(pid);
  return total;
}

/** Cores' worth of CPU used by everything but this process over `ms`. */
async function othersOver(ms: number): Promise<number> {
  const b0 = busySeconds(), s0 = treeCpuSeconds(process.pid), t0 = performance.now();
  await sleep(ms);
  return Math.max(0, (busySeconds() - b0 - (treeCpuSeconds(process.pid) - s0)) / ((performance.now() - t0) / 1000));
}

async function waitForQuietLoad(maxSeconds: number): Promise<{ waitedS: number; load1: number }> {
  const t0 = performance.now();
  while (load1() >= 1 && (performance.now() - t0) / 1000 < maxSeconds) {
    process.stderr.write(`\rwaiting for the 1-minute load average (${load1().toFixed(2)}) to drop below 1.0 ... ${Math.round((performance.now() - t0) / 1000)} s `);
    await sleep(5000);
  }
  if (performance.now() - t0 > 1000) process.stderr.write('\n');
  return { waitedS: (performance.now() - t0) / 1000, load1: load1() };
}

/** Before a run: up to `maxSeconds` for a 3-second window in which other processes use < 0.2 cores. */
async function waitForQuietCpu(maxSeconds: number): Promise<number> {
  const t0 = performance.now();
  let others = await othersOver(3000);
  while (others >= 0.2 && (performance.now() - t0) / 1000 < maxSeconds) others = await othersOver(3000);
  return others;
}

// ---- running one configuration -----------------------------------------------------

interface Sizes { promptTokens: number; genTokens: number; refPromptTokens: number; refGenTokens: number; longPromptTokens: number }

function commandFor(c: Config, model: BenchModelName, s: Sizes): string[] {
  const files = benchModel(model);
  const V = String(BENCH_MODELS[model].vocabSize);
  const p = String(c.backend === 'reference' ? s.refPromptTokens : c.id === 'wasm-long' ? s.longPromptTokens : s.promptTokens);
  const g = String(c.backend === 'reference' ? s.refGenTokens : c.id === 'wasm-long' ? 8 : s.genTokens);
  if (c.engine === 'mamba-edge' && c.runtime === 'Chromium') {
    return [join(root, 'bench/peers/chromium.ts'), '--engine', 'mamba-edge', '--model', files.hf, '--threads', String(c.threads), '--dtype', c.dtype, '--prompt-tokens', p, '--gen-tokens', g];
  }
  if (c.engine === 'mamba-edge') {
    return [join(root, 'bench/child.ts'), '--model', files.hf, '--backend', c.backend!, '--threads', String(c.threads), '--dtype', c.dtype, '--prompt-tokens', p, '--gen-tokens', g];
  }
  const script = c.engine === 'llama.cpp' ? 'bench/peers/llama.ts' : 'bench/peers/chromium.ts';
  return [join(root, script), ...(c.engine === 'wllama' ? ['--engine', 'wllama'] : []), '--gguf', files.gguf[c.dtype], '--threads', String(c.threads), '--prompt-tokens', p, '--gen-tokens', g, '--vocab-size', V];
}

function peerMissing(c: Config): string | null {
  const peers = join(root, 'bench/peers/node_modules');
  if (c.engine === 'llama.cpp' && !existsSync(join(peers, 'node-llama-cpp'))) return 'node-llama-cpp is not installed: npm --prefix bench/peers install --omit=optional';
  if (c.runtime === 'Chromium' && c.engine === 'mamba-edge' && !existsSync(join(root, 'src/browser/runtime.ts'))) return "mamba-edge's browser runtime (src/browser) is not in this checkout";
  if (c.runtime === 'Chromium' && !existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')) return 'no Chromium at /usr/bin/chromium (apt-get install chromium, or set CHROMIUM_PATH)';
  if (c.engine === 'wllama') {
    if (!existsSync(join(peers, '@wllama/wllama'))) return '@wllama/wllama is not installed: npm --prefix bench/peers install --omit=optional';
    if (!existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')) return 'no Chromium at /usr/bin/chromium (apt-get install chromium, or set CHROMIUM_PATH)';
  }
  return null;
}

function runChild(args: string[], timeoutMs = 900_000): Promise<{ result?: RunResult; error?: string; others: number }> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const b0 = busySeconds(), t0 = performance.now();
    let mine = 0;
    const pid = child.pid!;
    // Sample our own tree's CPU (the child and, for Chromium, its browser) while it lives.
    const timer = setInterval(() => { mine = Math.max(mine, treeCpuSeconds(pid)); }, 250);
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      clearTimeout(kill);
      const seconds = (performance.now() - t0) / 1000;
      const others = Math.max(0, (busySeconds() - b0 - mine) / seconds);
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) done({ result: JSON.parse(line) as RunResult, others });
      else done({ error: err.trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-3).join(' ') || `exit ${code}`, others });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function medianResult(runs: RunResult[]): RunResult {
  const m = (f: (r: RunResult) => number | undefined) => {
    const xs = runs.map(f).filter((x): x is number => typeof x === 'number');
    return xs.length ? median(xs) : undefined;
  };
  return {
    ...runs[0],
    loadMs: m((r) => r.loadMs)!,
    prefillTokensPerSec: m((r) => r.prefillTokensPerSec)!,
    decodeTokensPerSec: m((r) => r.decodeTokensPerSec)!,
    ttftMs: m((r) => r.ttftMs)!,
    peakRssBytes: m((r) => r.peakRssBytes)!,
    ...(runs[0].runRssBytes !== undefined ? { runRssBytes: m((r) => r.runRssBytes), rssBaselineBytes: m((r) => r.rssBaselineBytes) } : {}),
    ...(runs[0].arenaPeakBytes !== undefined ? { arenaPeakBytes: m((r) => r.arenaPeakBytes) } : {}),
  };
}

// ---- output ----------------------------------------------------------------------

const HEADERS = ['model', 'engine', 'runtime', 'thr', 'dtype', 'prompt', 'prefill tok/s', 'decode tok/s', 'TTFT', 'peak RSS', 'RSS in run', 'others'];
const ALIGN = ['left', 'left', 'left', 'right', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'] as const;

const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);

function cells(r: Row): (string | number)[] {
  const x = r.median;
  const c = r.config;
  if (!x) return [r.model, c.label, c.runtime, c.threads, c.dtype, '-', '-', '-', '-', '-', '-', `skipped: ${r.skipped}`];
  return [
    r.model, c.label, c.runtime, x.threads, c.dtype, `${x.promptTokens}+${x.genTokens}`,
    rate(x.prefillTokensPerSec), rate(x.decodeTokensPerSec), ms(x.ttftMs), humanBytes(x.peakRssBytes),
    x.runRssBytes !== undefined ? humanBytes(x.runRssBytes) : '-',
    `${median(r.others).toFixed(2)}`,
  ];
}

function rewriteBenchmarksMd(section: string): string {
  const file = join(root, 'BENCHMARKS.md');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const block = `${start}\n${section}\n${end}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i !== -1 && j > i) text = text.slice(0, i) + block + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text);
  return file;
}

interface Target { what: string; ours?: number; theirs?: number; need: number; unit?: string }

/** The issue's targets, checked against the medians. */
function targets(rows: Row[], model: BenchModelName, roof1: number | undefined): Target[] {
  const get = (id: string) => rows.find((r) => r.model === model && r.config.id === id)?.median;
  const w1 = get('wasm-t1'), w2 = get('wasm-t2'), q1 = get('wasm-q8-t1');
  // wllama runs in Chromium: compare it with mamba-edge in the same Chromium where measured.
  const c1 = get('wasm-chromium-t1'), c2 = get('wasm-chromium-t2'), cq = get('wasm-chromium-q8-t1');
  const inC = (c: RunResult | undefined, n: RunResult | undefined) => (c ? { r: c, where: 'Chromium' } : { r: n, where: 'Node' });
  const b1 = inC(c1, w1), b2 = inC(c2, w2), bq = inC(cq, q1);
  const l1 = get('llama-t1'), l2 = get('llama-t2');
  const wl1 = get('wllama-t1'), wl2 = get('wllama-t2'), wlq = get('wllama-q8-t1');
  const t: Target[] = [
    { what: `decode f32 1 thread ≥ 1.5× wllama (ours in ${b1.where})`, ours: b1.r?.decodeTokensPerSec, theirs: wl1?.decodeTokensPerSec, need: 1.5 },
    { what: 'decode f32 1 thread ≥ 1.0× llama.cpp (Node)', ours: w1?.decodeTokensPerSec, theirs: l1?.decodeTokensPerSec, need: 1.0 },
    { what: 'decode f32 1 thread ≥ 70% of roofline (Node)', ours: w1?.decodeTokensPerSec, theirs: roof1, need: 0.7 },
    { what: `prefill f32 2 threads ≥ 1.5× wllama (ours in ${b2.where})`, ours: b2.r?.prefillTokensPerSec, theirs: wl2?.prefillTokensPerSec, need: 1.5 },
    { what: 'prefill f32 2 threads ≥ 0.6× llama.cpp (Node)', ours: w2?.prefillTokensPerSec, theirs: l2?.prefillTokensPerSec, need: 0.6 },
    { what: 'q8_0 decode 1 thread ≥ 1.5× our f32 (Node)', ours: q1?.decodeTokensPerSec, theirs: w1?.decodeTokensPerSec, need: 1.5 },
    { what: `q8_0 decode 1 thread ≥ 3× wllama's q8_0 (ours in ${bq.where})`, ours: bq.r?.decodeTokensPerSec, theirs: wlq?.decodeTokensPerSec, need: 3 },
  ];
  const long = get('wasm-long');
  for (const [r, what] of [[w1, `${w1?.promptTokens}-token prompt, 1 thr, f32`], [q1, `${q1?.promptTokens}-token prompt, 1 thr, q8_0`], [long, `${long?.promptTokens}-token prompt, 2 thr, f32`]] as const) {
    if (r?.runRssBytes !== undefined && r.weightBytes) {
      t.push({ what: `memory (${what}): RSS in run − the runtime's own RSS before loading ≤ weights + 64 MiB`, ours: r.runRssBytes - (r.rssBaselineBytes ?? 0), theirs: r.weightBytes + 64 * MiB, need: 1, unit: 'bytes' });
      if (r.arenaPeakBytes !== undefined) t.push({ what: `memory (${what}): wasm arena high-water mark ≤ weights + 64 MiB`, ours: r.arenaPeakBytes, theirs: r.weightBytes + 64 * MiB, need: 1, unit: 'bytes' });
      t.push({ what: `memory (${what}): process peak RSS, loading included ≤ weights + 64 MiB`, ours: r.peakRssBytes, theirs: r.weightBytes + 64 * MiB, need: 1, unit: 'bytes' });
    }
  }
  return t;
}

function targetLine(t: Target): string {
  if (t.ours === undefined || t.theirs === undefined) return `- ${t.what}: not measured`;
  if (t.unit === 'bytes') {
    const ok = t.ours <= t.theirs;
    return `- ${ok ? 'met' : 'MISSED'}: ${t.what}: ${humanBytes(t.ours)} vs ${humanBytes(t.theirs)}${ok ? '' : ` (over by ${humanBytes(t.ours - t.theirs)})`}`;
  }
  const ratio = t.ours / t.theirs;
  const ok = ratio >= t.need;
  return `- ${ok ? 'met' : 'MISSED'}: ${t.what}: ${rate(t.ours)} vs ${rate(t.theirs)} = ${ratio.toFixed(2)}×${ok ? '' : ` (${Math.round(100 * (1 - ratio / t.need))}% short of ${t.need}×)`}`;
}

async function runProfiles(models: BenchModelName[], s: Sizes): Promise<ProfileResult[]> {
  const out: ProfileResult[] = [];
  for (const model of models) {
    for (const [threads, dtype] of [[1, 'f32'], [2, 'f32'], [1, 'q8_0']] as const) {
      await waitForQuietCpu(60);
      process.stderr.write(`profile ${model} wasm ${dtype} threads ${threads} ... `);
      const r = await new Promise<string>((done) => {
        const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/profile.ts'), '--model', benchModel(model).hf, '--threads', String(threads), '--dtype', dtype,
          '--prompt-tokens', String(s.promptTokens), '--gen-tokens', String(Math.min(64, s.genTokens)), '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
        let o = '';
        child.stdout.setEncoding('utf8').on('data', (x: string) => { o += x; });
        child.on('close', () => done(o.trim()));
      });
      try {
        const p = JSON.parse(r) as ProfileResult;
        process.stderr.write(`decode ${rate(p.decode.tokensPerSec)} tok/s\n`);
        out.push(p);
      } catch {
        process.stderr.write('failed\n');
      }
    }
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('npm run bench --')
    .description('Benchmark mamba-edge and its peers on random-weight models shaped like mamba-130m / mamba2-130m.')
    .addOption(new Option('--prompt-tokens <n>', 'prompt length for prefill').argParser(positiveInt('--prompt-tokens')).default(512))
    .addOption(new Option('--gen-tokens <n>', 'tokens decoded one at a time after the prompt').argParser(positiveInt('--gen-tokens')).default(128))
    .addOption(new Option('--ref-prompt-tokens <n>', 'prompt length for the (slow) reference backend').argParser(positiveInt('--ref-prompt-tokens')).default(32))
    .addOption(new Option('--ref-gen-tokens <n>', 'decoded tokens for the reference backend').argParser(positiveInt('--ref-gen-tokens')).default(8))
    .addOption(new Option('--long-prompt-tokens <n>', 'prompt length of the wasm-long (memory) configuration').argParser(positiveInt('--long-prompt-tokens')).default(2048))
    .addOption(new Option('--configs <list>', `comma-separated, from ${CONFIG_IDS.join(', ')}`).argParser(list('--configs', CONFIG_IDS)).default(CONFIG_IDS))
    .addOption(new Option('--models <list>', `comma-separated, from ${BENCH_MODEL_NAMES.join(', ')}`).argParser(list('--models', BENCH_MODEL_NAMES)).default(BENCH_MODEL_NAMES))
    .addOption(new Option('--repeat <n>', 'runs per configuration; the median of each figure is reported').argParser(positiveInt('--repeat')).default(3))
    .addOption(new Option('--wait-quiet <seconds>', 'longest wait for the 1-minute load average to drop below 1 before starting').argParser(positiveInt('--wait-quiet')).default(600))
    .option('--profile', 'also profile the wasm backend per kernel (bench/profile.ts)')
    .option('--merge', 'keep the other configurations\' rows (and profiles) from bench/results/latest.json: rerun only some')
    .option('--report-only', 'measure nothing: rewrite the table, targets and BENCHMARKS.md from bench/results/latest.json')
    .option('--no-write', 'print only; do not write bench/results/latest.json or BENCHMARKS.md')
    .exitOverride();
  const o = program.parse(argv).opts<{
    promptTokens: number; genTokens: number; refPromptTokens: number; refGenTokens: number; longPromptTokens: number; configs: string[]; models: BenchModelName[];
    repeat: number; waitQuiet: number; profile?: boolean; merge?: boolean; reportOnly?: boolean; write: boolean;
  }>();
  const sizes: Sizes = { promptTokens: o.promptTokens, genTokens: o.genTokens, refPromptTokens: o.refPromptTokens, refGenTokens: o.refGenTokens, longPromptTokens: o.longPromptTokens };
  const command = `npm run bench -- ${argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
  const configs = CONFIGS.filter((c) => o.configs.includes(c.id));
  let mergedFrom: string[] = [];

  if (o.reportOnly) return report(o, sizes);
  for (const model of o.models) benchModel(model);
  const quiet = await waitForQuietLoad(o.waitQuiet);
  process.stderr.write(`1-minute load average at the start: ${quiet.load1.toFixed(2)}${quiet.waitedS > 1 ? ` (after waiting ${Math.round(quiet.waitedS)} s)` : ''}\n`);

  // Memory bandwidth, in a child of its own (it allocates 1 GiB).
  await waitForQuietCpu(60);
  const bw = await new Promise<Bandwidth[]>((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/bandwidth.ts'), '--threads', '1,2', '--json'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (x: string) => { out += x; });
    child.on('close', () => { try { done(JSON.parse(out) as Bandwidth[]); } catch { done([]); } });
  });
  const bwOf = (t: number) => bw.find((b) => b.threads === t)?.bytesPerSec;
  process.stderr.write(`memory read bandwidth: ${bw.map((b) => `${(b.bytesPerSec / 1e9).toFixed(1)} GB/s (${b.threads} thr)`).join(', ')}\n`);

  const rows: Row[] = [];
  for (const model of o.models) {
    for (const c of configs) {
      const row: Row = { model, config: c, runs: [], others: [], bandwidth: bw };
      rows.push(row);
      const missing = peerMissing(c);
      if (missing) { row.skipped = missing; process.stderr.write(`${model} ${c.id}: skipped: ${missing}\n`); continue; }
      const repeat = c.id === 'wasm-long' ? 1 : o.repeat; // a memory check: one run is enough
      for (let k = 0; k < repeat && !row.skipped; k++) {
        await waitForQuietCpu(120);
        process.stderr.write(`${model} ${c.id} (${k + 1}/${repeat}) ... `);
        let { result, error, others } = await runChild(commandFor(c, model, sizes));
        // A failed run is retried twice (wllama's worker sometimes fails a call); three failures skip the configuration.
        for (let retry = 0; error && retry < 2; retry++) {
          process.stderr.write(`failed (${error.slice(0, 120)}), retrying ... `);
          await waitForQuietCpu(60);
          ({ result, error, others } = await runChild(commandFor(c, model, sizes)));
        }
        if (error) { row.skipped = error; process.stderr.write(`failed: ${error}\n`); continue; }
        row.runs.push(result!);
        row.others.push(others);
        process.stderr.write(`prefill ${rate(result!.prefillTokensPerSec)} tok/s, decode ${rate(result!.decodeTokensPerSec)} tok/s, TTFT ${ms(result!.ttftMs)}, peak RSS ${humanBytes(result!.peakRssBytes)}, others ${others.toFixed(2)} cores\n`);
      }
      if (row.runs.length) { row.median = medianResult(row.runs); delete row.skipped; }
    }
  }
  let profiles = o.profile ? await runProfiles(o.models, sizes) : [];
  const latest = join(root, 'bench', 'results', 'latest.json');
  if (o.merge && existsSync(latest)) {
    const prev = JSON.parse(readFileSync(latest, 'utf8')) as { rows: Row[]; profiles?: ProfileResult[]; sizes?: Sizes; commands?: string[]; command?: string };
    if (JSON.stringify(prev.sizes) !== JSON.stringify(sizes)) throw new UsageError('--merge: bench/results/latest.json was measured with other prompt sizes');
    const ran = new Set(rows.map((r) => `${r.model}/${r.config.id}`));
    const kept = prev.rows.filter((r) => !ran.has(`${r.model}/${r.config.id}`)).map((r) => ({ ...r, config: CONFIGS.find((c) => c.id === r.config.id) ?? r.config }));
    rows.push(...kept);
    rows.sort((a, b) => BENCH_MODEL_NAMES.indexOf(a.model) - BENCH_MODEL_NAMES.indexOf(b.model) || CONFIG_IDS.indexOf(a.config.id) - CONFIG_IDS.indexOf(b.config.id));
    if (!profiles.length && prev.profiles) profiles = prev.profiles;
    mergedFrom = prev.commands ?? (prev.command ? [prev.command] : []);
  }

  output({ rows, profiles, bw, quiet, command, mergedFrom, models: o.models, sizes, repeat: o.repeat, write: o.write });
}

interface Outputs {
  rows: Row[]; profiles: ProfileResult[]; bw: Bandwidth[]; quiet: { load1: number }; command: string; mergedFrom: string[];
  models: BenchModelName[]; sizes: Sizes; repeat: number; write: boolean;
}

/** --report-only: the last results again, with today's table and target code. */
function report(o: { models: BenchModelName[]; repeat: number; write: boolean }, sizes: Sizes): void {
  const latest = join(root, 'bench', 'results', 'latest.json');
  if (!existsSync(latest)) throw new UsageError('--report-only: no bench/results/latest.json yet');
  const prev = JSON.parse(readFileSync(latest, 'utf8')) as { rows: Row[]; profiles?: ProfileResult[]; sizes: Sizes; commands?: string[]; command: string; load1AtStart: number; bandwidth: Bandwidth[] };
  const rows = prev.rows.map((r) => ({ ...r, config: CONFIGS.find((c) => c.id === r.config.id) ?? r.config }));
  const commands = prev.commands ?? [prev.command];
  output({ rows, profiles: prev.profiles ?? [], bw: prev.bandwidth, quiet: { load1: prev.load1AtStart }, command: commands[commands.length - 1], mergedFrom: commands.slice(0, -1),
    models: o.models.filter((m) => rows.some((r) => r.model === m)), sizes: prev.sizes ?? sizes, repeat: o.repeat, write: o.write });
}

function output({ rows, profiles, bw, quiet, command, mergedFrom, models, sizes, repeat, write }: Outputs): void {
  const o = { models, promptTokens: sizes.promptTokens, genTokens: sizes.genTokens, refPromptTokens: sizes.refPromptTokens, refGenTokens: sizes.refGenTokens, repeat, write };
  // Bytes of weights read per decoded token: every matrix once (the tied embedding once, as the lm_head).
  // The roofline uses the bandwidth measured in the same invocation as mamba-edge's Node rows.
  const nodeRow = (model: BenchModelName, dtype: 'f32' | 'q8_0') =>
    rows.find((r) => r.model === model && r.config.backend === 'wasm' && r.config.runtime === 'Node' && r.config.dtype === dtype && r.median?.weightBytes);
  const rooflines = o.models.flatMap((model) => (['f32', 'q8_0'] as const).map((dtype) => {
    const row = nodeRow(model, dtype);
    const wb = row?.median?.weightBytes;
    const at = (t: number) => (row?.bandwidth ?? bw).find((b) => b.threads === t)?.bytesPerSec;
    return wb ? { model, dtype, weightBytes: wb, t1: at(1) ? at(1)! / wb : undefined, t2: at(2) ? at(2)! / wb : undefined, bandwidth: row?.bandwidth ?? bw } : null;
  })).filter((x): x is NonNullable<typeof x> => x !== null);
  const gbs = (b: Bandwidth[]) => b.map((x) => `${(x.bytesPerSec / 1e9).toFixed(1)} GB/s with ${x.threads} thread${x.threads > 1 ? 's' : ''}`).join(', ');
  const roofLines = rooflines.map((r) => `${r.model} ${r.dtype}: ${humanBytes(r.weightBytes)} of weights per token → decode roofline ${r.t1 ? rate(r.t1) : '-'} tok/s (1 thread), ${r.t2 ? rate(r.t2) : '-'} tok/s (2 threads) at ${gbs(r.bandwidth)}`);
  const allBw = [...new Set(rows.map((r) => JSON.stringify(r.bandwidth ?? [])).filter((x) => x !== '[]'))].map((x) => JSON.parse(x) as Bandwidth[]);

  const m = machine();
  const machineLine = `${m.cpu}, ${m.cores} cores, ${humanBytes(m.ramBytes)} RAM, Node ${m.node}, ${m.platform}`;
  const measured = rows.filter((r) => r.median);
  const skipped = rows.filter((r) => !r.median);
  const bwLine = `memory read bandwidth (one pass over 512 MiB per thread, native memchr; bench/bandwidth.ts), measured at the start of each invocation: ${allBw.map(gbs).join('; ')}`;
  const targetBlocks = o.models.map((model) => {
    const roof = rooflines.find((r) => r.model === model && r.dtype === 'f32')?.t1;
    return [`${model}:`, ...targets(rows, model, roof).map(targetLine)].join('\n');
  });
  console.log(`\n${table(HEADERS, measured.map(cells), [...ALIGN])}`);
  for (const r of skipped) console.log(`skipped ${r.model} ${r.config.id}: ${r.skipped}`);
  console.log(`\n${bwLine}\n${roofLines.join('\n')}\n\n${targetBlocks.join('\n\n')}`);
  for (const p of profiles) console.log(`\n${formatProfile(p)}`);
  console.log(`\nmachine: ${machineLine}\ncommand: ${command}\nload average at start: ${quiet.load1.toFixed(2)}`);

  if (!o.write) return;
  const date = new Date().toISOString().slice(0, 10);
  const commands = [...mergedFrom, command];
  const json = { date, command, commands, machine: m, load1AtStart: quiet.load1, bandwidth: bw, rooflines, sizes, models: BENCH_MODELS, rows, profiles };
  const out = join(root, 'bench', 'results', 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  const othersMax = Math.max(0, ...rows.flatMap((r) => r.others));
  const section = [
    `Measured ${date} with ${commands.map((c) => `\`${c}\``).join(' then ')} on ${machineLine}; 1-minute load average ${quiet.load1.toFixed(2)} at the start${mergedFrom.length ? ' of the last' : ''}.`,
    `Random weights (one seed) in the shapes of state-spaces/mamba-130m and mamba2-130m: mamba-edge loads the Hugging Face folder, llama.cpp the GGUF of the same weights.`,
    `prompt = ${o.promptTokens} random token ids then ${o.genTokens} greedy tokens (the reference backend: ${o.refPromptTokens} + ${o.refGenTokens}, it is slow); median of ${o.repeat} runs, each in a fresh process.`,
    'prefill tok/s = prompt tokens ÷ time to the first token; TTFT = prompt submitted (model loaded, warmed up) → first token chosen; decode tok/s = generated tokens ÷ their time;',
    'peak RSS = the process\'s high-water mark, loading included (Chromium: the renderer process); RSS in run = highest RSS sampled during prompt and decode;',
    `others = cores of CPU other processes used during the run (max ${othersMax.toFixed(2)}).`,
    '',
    markdownTable(HEADERS, measured.map(cells), [...ALIGN]),
    ...(skipped.length ? ['', ...skipped.map((r) => `- not measured: ${r.model} ${r.config.id}: ${r.skipped}`)] : []),
    '',
    `${bwLine}.`,
    '',
    ...roofLines.map((l) => `- ${l}`),
    '',
    '**Targets** (issue 4):',
    '',
    ...targetBlocks,
    ...(profiles.length ? ['', '**Where the wasm backend spends its time** (bench/profile.ts: per-kernel wall time on the calling thread, matmuls by K→M):', '', '```', ...profiles.map((p) => formatProfile(p, 9)), '```'] : []),
  ].join('\n');
  const md = rewriteBenchmarksMd(section);
  console.log(`wrote ${out} and ${md}`);
}

main(process.argv).catch((e) => {
  if (e instanceof UsageError) { console.error(`error: ${e.message}`); process.exit(2); }
  if (e && typeof e === 'object' && 'exitCode' in e) process.exit((e as { exitCode: number }).exitCode === 0 ? 0 : 2);
  console.error(e);
  process.exit(1);
});
