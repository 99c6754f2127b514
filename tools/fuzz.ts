/**
 * npm run fuzz -- --runs N [--seed S] [--target safetensors|config|tokenizer|state] [--path P] [--json FILE]
 *
 * Runs the fuzz property (test/fuzz/harness.ts) N times per target (all targets unless --target).
 * On a violation fast-check prints the counterexample with its seed and path; rerun with
 * `--seed S --path P` to replay exactly that case. A watchdog thread kills the process and
 * names the case if one case hangs (a synchronous loop cannot be timed out from inside).
 * Long runs on a shared machine: `nice -n 15 npm run fuzz -- --runs 100000 --seed 1`.
 */
import { Worker } from 'node:worker_threads';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { fuzzTarget, newTally, DEFAULT_BOUNDS, type Tally } from '../test/fuzz/harness.js';
import { TARGETS } from '../test/fuzz/targets.js';

const program = new Command('fuzz')
  .option('--runs <n>', 'cases per target', (v) => parseInt(v, 10), 1000)
  .option('--seed <s>', 'fast-check seed (default: random, printed)', (v) => parseInt(v, 10))
  .option('--target <name>', `one of ${Object.keys(TARGETS).join(', ')} (default: all)`)
  .option('--path <p>', 'replay one case from a failure report (with its --seed)')
  .option('--hang-ms <ms>', 'a case running this long is a hang', (v) => parseInt(v, 10), 60_000)
  .option('--json <file>', 'write the tallies as JSON');
program.parse();
const opts = program.opts<{ runs: number; seed?: number; target?: string; path?: string; hangMs: number; json?: string }>();

const names = opts.target ? [opts.target] : Object.keys(TARGETS);
for (const n of names) if (!TARGETS[n]) { console.error(`unknown target ${n}; targets: ${Object.keys(TARGETS).join(', ')}`); process.exit(2); }
const seed = opts.seed ?? (Math.random() * 2 ** 31) >>> 0;

// Watchdog: the main thread stamps [case index, target index, time] into shared memory before
// each case; the watchdog wakes every second and ends the process if the stamp is too old.
const beat = new Int32Array(new SharedArrayBuffer(16));
const watchdog = new Worker(`
  const { workerData } = require('node:worker_threads');
  const [beat, hangMs, names] = [workerData.beat, workerData.hangMs, workerData.names];
  const wait = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    Atomics.wait(wait, 0, 0, 1000);
    const last = Atomics.load(beat, 2) * 1000 + Atomics.load(beat, 3);
    if (last && Date.now() % 2 ** 31 - last > hangMs) {
      process.stderr.write('\\nfuzz: HANG: target ' + names[Atomics.load(beat, 1)] + ', case ' + Atomics.load(beat, 0) + ' has run for more than ' + hangMs + ' ms\\n');
      process.kill(process.pid, 'SIGKILL');
    }
  }`, { eval: true, workerData: { beat, hangMs: opts.hangMs, names } });
watchdog.unref();
const stamp = (ti: number, i: number) => {
  const now = Date.now() % 2 ** 31;
  Atomics.store(beat, 0, i);
  Atomics.store(beat, 1, ti);
  Atomics.store(beat, 2, Math.floor(now / 1000));
  Atomics.store(beat, 3, now % 1000);
};

/** Writes a failing case's files under fuzz-failures/ (git-ignored) so it can be inspected or turned into a regression test. */
function saveCounterexample(target: string, seed: number, path: string, input: unknown): string {
  const dir = join('fuzz-failures', `${target}-${seed}-${path.replace(/:/g, '_')}`);
  mkdirSync(dir, { recursive: true });
  const c = input as { files?: Record<string, Uint8Array>; blob?: Uint8Array; body?: Uint8Array; method?: string; path?: string };
  const files = c.files ?? (c.blob ? { 'state.bin': c.blob } : c.body ? { 'body.json': c.body } : {});
  for (const [f, bytes] of Object.entries(files)) writeFileSync(join(dir, f), bytes);
  if (c.method) writeFileSync(join(dir, 'request.txt'), `${c.method} ${c.path}\n`);
  return dir;
}

/** The code the run tested: commit, and whether the tree had uncommitted changes. */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'test/fuzz', 'tools/fuzz.ts'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}
const rev = revision();

const results: Record<string, Tally & { seconds: number; interrupted?: boolean }> = {};
let current: { name: string; tally: Tally; t0: number } | undefined;

function summary(name: string, tally: Tally, seconds: number): string {
  const outcomes = Object.entries(tally.outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  return `${tally.runs} cases passed in ${seconds.toFixed(1)} s; outcomes: ${outcomes}; slowest ${tally.maxMs.toFixed(0)} ms wall, ${tally.maxCpuMs.toFixed(0)} ms CPU; largest ArrayBuffer growth ${(tally.maxArrayBufferGrowth / 1048576).toFixed(1)} MiB, peak RSS growth ${(tally.maxRssGrowth / 1048576).toFixed(1)} MiB`;
}

// Interrupted (a deadline, Ctrl-C): report the cases that passed so far rather than nothing.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (current) {
      const seconds = (Date.now() - current.t0) / 1000;
      results[current.name] = { ...current.tally, seconds, interrupted: true };
      console.log(`${current.name}: INTERRUPTED by ${sig}; ${summary(current.name, current.tally, seconds)}`);
    }
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ seed, runs: opts.runs, node: process.version, commit: rev, interrupted: true, results }, null, 2));
    process.exit(130);
  });
}
let failed = false;
console.log(`fuzz: seed ${seed}, ${opts.runs} runs per target, targets ${names.join(', ')}, node ${process.version}, commit ${rev}`);
for (const [ti, name] of names.entries()) {
  const target = TARGETS[name]();
  await target.setup();
  const t0 = Date.now();
  let lastReport = t0;
  current = { name, tally: newTally(), t0 };
  try {
    const { tally, failure } = await fuzzTarget(target, {
      runs: opts.runs, seed, path: opts.path, bounds: DEFAULT_BOUNDS, tally: current.tally,
      onCase: (i) => {
        stamp(ti, i);
        if (Date.now() - lastReport > 30_000) { lastReport = Date.now(); console.log(`  ${name}: ${i} cases, ${((Date.now() - t0) / 1000).toFixed(0)} s`); }
      },
    });
    results[name] = { ...tally, seconds: (Date.now() - t0) / 1000 };
    if (failure) {
      failed = true;
      const dir = saveCounterexample(name, failure.seed, failure.path, failure.input);
      console.error(`${name}: FAILED after ${tally.runs} passing cases\n${failure.message}\nreplay: npm run fuzz -- --target ${name} --seed ${failure.seed} --path ${failure.path}\ninput files: ${dir}`);
      continue;
    }
    console.log(`${name}: ${summary(name, tally, results[name].seconds)}`);
    for (const [code, msg] of Object.entries(tally.examples)) console.log(`  e.g. ${code}: ${msg.replace(/\s+/g, ' ').slice(0, 200)}`);
  } finally {
    await target.teardown?.();
  }
}
Atomics.store(beat, 2, 0);
if (opts.json) writeFileSync(opts.json, JSON.stringify({ seed, runs: opts.runs, node: process.version, commit: rev, results }, null, 2));
process.exitCode = failed ? 1 : 0;
