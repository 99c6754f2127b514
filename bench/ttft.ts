/**
 * `npm run bench:ttft`: time to first token of the CLI with the embedded default model,
 * from process start, and where that time goes. Needs `npm run build` first (it measures
 * dist/, what users run).
 *
 *   1. node alone: spawn → first stdout byte of a one-line ES module (the floor for any CLI)
 *   2. the CLI: spawn `node dist/cli.js generate "Once upon a time" --max-tokens 1 --seed 1`
 *      → first stdout byte, and → exit; also with the model forced into a worker thread
 *      (MAMBA_EDGE_CLI_WORKER=1), which is what the CLI did for every model before
 *   3. in-process, in a fresh `node`: spawn → script running, import dist/node/index.js,
 *      loadModel(), generate 1 token (prefill of the prompt + sampling)
 *   4. loadModel() taken apart (a fresh `node --import tsx` running the loader's steps from
 *      src/ one by one, cold, as loadModel runs them)
 *
 * Every spawned measurement runs --runs times (default 5); the table shows median / min / max.
 * When NODE_EXTRA_CA_CERTS is set (it makes every node process read and parse a certificate
 * bundle at startup), 1 and 2 are also measured without it. Writes bench/results/ttft.json
 * and the section of BENCHMARKS.md between `<!-- ttft:start -->` and `<!-- ttft:end -->`
 * (--no-write: print only).
 *
 *   npm run build && npm run bench:ttft -- --runs 9
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { positiveInt, UsageError } from '../src/cli/args.js';
import { humanBytes, markdownTable, table } from '../src/cli/format.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PROMPT = 'Once upon a time';
const TARGET_MS = 300;
const CLI_ARGS = ['dist/cli.js', 'generate', PROMPT, '--max-tokens', '1', '--seed', '1'];

type Env = Record<string, string | undefined>;

interface Timed {
  /** spawn → first byte on stdout (ms); undefined if nothing was written. */
  firstByte?: number;
  /** spawn → the process exited (ms). */
  exit: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns `node ...args` and times the first stdout byte and the exit, from just before spawn(). */
function timedSpawn(args: string[], env: Env): Promise<Timed> {
  return new Promise((done, reject) => {
    const t0 = performance.now();
    // Unset variables must be left out: spawn would pass them as the string "undefined".
    const clean = Object.fromEntries(Object.entries(env).filter((kv): kv is [string, string] => kv[1] !== undefined));
    const child = spawn(process.execPath, args, { cwd: root, env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    let firstByte: number | undefined;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      firstByte ??= performance.now() - t0;
      stdout += b.toString('utf8');
    });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString('utf8'); });
    child.on('error', reject);
    child.on('exit', (code) => {
      const exit = performance.now() - t0;
      child.on('close', () => done({ ...(firstByte !== undefined ? { firstByte } : {}), exit, code, stdout, stderr }));
    });
  });
}

interface Stats { median: number; min: number; max: number; n: number }

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1], n: s.length };
}

const ms = (x: number) => `${Math.round(x)} ms`;
const cellsOf = (label: string, s: Stats | undefined): string[] => (s ? [label, ms(s.median), ms(s.min), ms(s.max)] : [label, '-', '-', '-']);

/** The in-process probe, run as an ES module in a fresh node; T0 is the parent's clock at spawn (epoch ms). */
function inProcessScript(backend: string | undefined): string {
  const lib = pathToFileURL(join(root, 'dist/node/index.js')).href;
  return `
const now = () => performance.timeOrigin + performance.now();
const t0 = Number(process.env.MAMBA_EDGE_TTFT_T0);
const tScript = now();
const lib = await import(${JSON.stringify(lib)});
const tImport = now();
const model = await lib.loadModel(undefined, ${JSON.stringify(backend ? { backend } : {})});
const tLoad = now();
let tFirst;
for await (const _ of model.createSession().generate(${JSON.stringify(PROMPT)}, { maxTokens: 1, seed: 1 })) tFirst ??= now();
await model.dispose();
process.stdout.write(JSON.stringify({
  backend: model.backend, threads: model.backendInfo.threads,
  start: tScript - t0, import: tImport - tScript, load: tLoad - tImport, firstToken: tFirst - tLoad, total: tFirst - t0,
}));
`;
}

interface InProcess { backend: string; threads: number; start: number; import: number; load: number; firstToken: number; total: number }

/** loadModel's steps, one by one and cold, in this (fresh) process: `tsx bench/ttft.ts --breakdown [backend]`. */
async function breakdown(backend: string): Promise<void> {
  const t: Record<string, number> = {};
  let last = performance.now();
  const lap = (name: string) => { const x = performance.now(); t[name] = (t[name] ?? 0) + x - last; last = x; };
  const { directorySource } = await import('../src/formats/source-node.js');
  const { decodeUtf8Json } = await import('../src/formats/pyjson.js');
  const { ConfigReader } = await import('../src/formats/hf-config.js');
  const { architectureFor } = await import('../src/models/registry.js');
  const { parseSafetensors, toFloat32 } = await import('../src/formats/safetensors.js');
  const { f16Table32 } = await import('../src/formats/half.js');
  const { Hasher } = await import('../src/api/fingerprint.js');
  const { selectBackend } = await import('../src/backends/registry.js');
  const { createTokenizer } = await import('../src/tokenizer/index.js');
  const { defaultModelDir } = await import('../src/node.js');
  lap('import the library (src/ through tsx: not part of the CLI\'s time)');
  const files = directorySource(defaultModelDir());
  const raw = decodeUtf8Json(await files.read('config.json'), 'config.json') as Record<string, unknown>;
  const arch = architectureFor(raw.model_type, 'config.json');
  const cfg = arch.parseConfig(new ConfigReader(raw, 'config.json'));
  const specs = arch.tensors(cfg);
  lap('config.json');
  const b = await selectBackend(backend as 'auto', { ops: arch.requiredOps, dtype: 'f32' }, {});
  lap(`create the ${b.name} backend`);
  const bytes = await files.read('model.safetensors');
  lap(`read model.safetensors (${humanBytes(bytes.length)})`);
  const { tensors } = parseSafetensors(bytes, 'model.safetensors');
  lap('parse the safetensors header');
  const hasher = new Hasher().updateString(`${cfg.architecture}|${JSON.stringify(specs.map((s) => [s.name, s.shape]))}`);
  for (const s of specs) hasher.update(tensors.get(s.name)!.data);
  hasher.hex();
  lap('fingerprint: hash the weight bytes');
  f16Table32();
  lap('f16 → f32 lookup table (65536 entries, first use)');
  const decoded = new Map(specs.map((s) => [s.name, toFloat32(tensors.get(s.name)!)]));
  lap('decode f16 → f32 (toFloat32, every tensor)');
  arch.prepare(cfg, b, (name) => decoded.get(name)!, 'f32');
  lap('upload the f32 weights to the backend');
  const tj = new TextDecoder().decode(await files.read('tokenizer.json'));
  const tc = new TextDecoder().decode(await files.read('tokenizer_config.json'));
  createTokenizer({ vocabSize: cfg.vocabSize, tokenizerJson: tj, tokenizerConfigJson: tc });
  lap('tokenizer (tokenizer.json through @huggingface/tokenizers)');
  await b.dispose();
  process.stdout.write(JSON.stringify({ backend: b.name, steps: t }));
}

function machine() {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model.trim() ?? 'unknown', cores: cpus.length, ramBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.arch()}` };
}

function rewriteBenchmarksMd(section: string): string {
  const file = join(root, 'BENCHMARKS.md');
  const start = '<!-- ttft:start -->';
  const end = '<!-- ttft:end -->';
  const block = `${start}\n${section}\n${end}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i !== -1 && j > i) text = text.slice(0, i) + block + text.slice(j + end.length);
  else text = `${text.trimEnd()}\n\n## Time to first token\n\n${block}\n`;
  writeFileSync(file, text);
  return file;
}

async function repeat<T>(runs: number, label: string, f: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  process.stderr.write(`${label} `);
  for (let i = 0; i < runs; i++) {
    out.push(await f());
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  return out;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('npm run bench:ttft --')
    .description('Time to first token of `mamba-edge generate` with the embedded default model, and where it goes.')
    .addOption(new Option('--runs <n>', 'runs of each spawned measurement').argParser(positiveInt('--runs')).default(5))
    .addOption(new Option('--backend <name>', 'pass --backend to the CLI (default: none, i.e. auto)').choices(['auto', 'reference', 'wasm', 'webgpu', 'cuda']))
    .option('--no-write', 'print only; do not write bench/results/ttft.json or BENCHMARKS.md')
    .exitOverride();
  const o = program.parse(argv).opts<{ runs: number; backend?: string; write: boolean }>();
  if (!existsSync(join(root, 'dist/cli.js')) || !existsSync(join(root, 'dist/node/index.js'))) {
    throw new UsageError('dist/ is missing: run `npm run build` first (this measures the built CLI)');
  }
  const cliArgs = [...CLI_ARGS, ...(o.backend ? ['--backend', o.backend] : [])];
  const env: Env = { ...process.env, MAMBA_EDGE_DEBUG: '', MAMBA_EDGE_CLI_WORKER: undefined };
  const envs: [string, Env][] = [['', env]];
  const caCerts = process.env.NODE_EXTRA_CA_CERTS;
  if (caCerts) envs.push([' (NODE_EXTRA_CA_CERTS unset)', { ...env, NODE_EXTRA_CA_CERTS: undefined }]);

  // Warm the file cache and check the command works before timing anything.
  const check = await timedSpawn(cliArgs, env);
  if (check.code !== 0 || check.firstByte === undefined) throw new Error(`the CLI failed (exit ${check.code}): ${check.stderr.trim()}`);

  const tmp = mkdtempSync(join(os.tmpdir(), 'mamba-edge-ttft-'));
  try {
    await measure(o, cliArgs, envs, tmp, argv, caCerts);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function measure(o: { runs: number; backend?: string; write: boolean }, cliArgs: string[], envs: [string, Env][], tmp: string, argv: string[], caCerts: string | undefined): Promise<void> {
  const emptyModule = join(tmp, 'empty.mjs');
  writeFileSync(emptyModule, 'process.stdout.write("x");\n');
  // Round robin (one run of every variant, then the next round) so that load from other
  // processes on the machine falls on all variants alike.
  const variants: { label: string; args: string[]; env: Env; runs: Timed[] }[] = [];
  for (const [suffix, e] of envs) {
    variants.push({ label: `node alone, one-line module${suffix}`, args: [emptyModule], env: e, runs: [] });
    variants.push({ label: `mamba-edge generate${suffix}`, args: cliArgs, env: e, runs: [] });
    variants.push({ label: `mamba-edge generate, model in a worker thread${suffix}`, args: cliArgs, env: { ...e, MAMBA_EDGE_CLI_WORKER: '1' }, runs: [] });
  }
  const loadBefore = os.loadavg()[0];
  await repeat(o.runs, `spawn measurements (${variants.length} variants per round)`, async () => {
    for (const v of variants) {
      const r = await timedSpawn(v.args, v.env);
      if (r.code !== 0 || r.firstByte === undefined) throw new Error(`${v.label} failed (exit ${r.code}): ${r.stderr.trim()}`);
      v.runs.push(r);
    }
  });
  const rows = variants.map((v) => ({ label: v.label, firstByte: stats(v.runs.map((r) => r.firstByte!)), exit: stats(v.runs.map((r) => r.exit)) }));

  // A file, not `node --input-type=module -e`: that flag is inherited by worker threads and
  // breaks any CommonJS worker source a backend evaluates.
  // The split runs in the last environment: without NODE_EXTRA_CA_CERTS where it is set.
  const [probeSuffix, probeEnv] = envs[envs.length - 1];
  const script = join(tmp, 'probe.mjs');
  writeFileSync(script, inProcessScript(o.backend));
  const inProcess = await repeat(o.runs, 'in-process split', async () => {
    const r = await timedSpawn([script], { ...probeEnv, MAMBA_EDGE_TTFT_T0: String(performance.timeOrigin + performance.now()) });
    if (r.code !== 0) throw new Error(`in-process probe failed (exit ${r.code}): ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as InProcess;
  });
  const breakdowns = await repeat(o.runs, 'loadModel steps', async () => {
    const r = await timedSpawn(['--import', 'tsx', join(root, 'bench/ttft.ts'), '--breakdown', o.backend ?? 'auto'], probeEnv);
    if (r.code !== 0) throw new Error(`breakdown failed (exit ${r.code}): ${r.stderr.trim()}`);
    return JSON.parse(r.stdout) as { backend: string; steps: Record<string, number> };
  });

  const loadAfter = os.loadavg()[0];
  const m = machine();
  const machineLine = `${m.cpu}, ${m.cores} cores, ${humanBytes(m.ramBytes)} RAM, Node ${m.node}, ${m.platform}`;
  const loadLine = `1-minute load average ${loadBefore.toFixed(2)} before the spawn measurements, ${loadAfter.toFixed(2)} at the end`;
  const command = `node ${cliArgs.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}`;
  const backend = `${inProcess[0].backend} (${inProcess[0].threads} thread${inProcess[0].threads === 1 ? '' : 's'})`;

  const spawnRows = rows.map((r) => [r.label, ms(r.firstByte!.median), ms(r.firstByte!.min), ms(r.firstByte!.max), ms(r.exit.median)]);
  const spawnHeaders = ['spawn → …', 'first byte (median)', 'min', 'max', 'exit (median)'];
  const part = (k: keyof InProcess) => stats(inProcess.map((x) => x[k] as number));
  const splitRows = [
    cellsOf('node start → script runs', part('start')),
    cellsOf('import dist/node/index.js', part('import')),
    cellsOf('loadModel() (default model)', part('load')),
    cellsOf(`generate: first token (prefill ${PROMPT.length} tokens + sample)`, part('firstToken')),
    cellsOf('total: spawn → first token', part('total')),
  ];
  const stepNames = Object.keys(breakdowns[0].steps);
  const stepRows = stepNames.map((k) => cellsOf(k, stats(breakdowns.map((b) => b.steps[k]))));
  const headers = ['', 'median', 'min', 'max'];

  const cliMedian = rows[1].firstByte!.median;
  const verdict = cliMedian <= TARGET_MS
    ? `within the ${TARGET_MS} ms target`
    : `over the ${TARGET_MS} ms target by ${Math.round(cliMedian - TARGET_MS)} ms`;
  console.log(`\n${table(spawnHeaders, spawnRows, ['left', 'right', 'right', 'right', 'right'])}`);
  console.log(`\nin-process, fresh node${probeSuffix}, ${backend}:\n${table(headers, splitRows, ['left', 'right', 'right', 'right'])}`);
  console.log(`\nloadModel() step by step (${breakdowns[0].backend}):\n${table(headers, stepRows, ['left', 'right', 'right', 'right'])}`);
  console.log(`\nCLI first byte: median ${ms(cliMedian)}, ${verdict}.\nmachine: ${machineLine}; ${loadLine}\ncommand: ${command} (${o.runs} runs each)`);
  if (caCerts) console.log(`NODE_EXTRA_CA_CERTS=${caCerts} is set here: every node process pays for it at startup (rows marked "unset" run without it).`);

  if (!o.write) return;
  const date = new Date().toISOString().slice(0, 10);
  const out = join(root, 'bench', 'results', 'ttft.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date, command, runs: o.runs, machine: m, loadavg: [loadBefore, loadAfter], nodeExtraCaCerts: caCerts ?? null, spawn: rows, inProcess, breakdowns }, null, 2)}\n`);
  const section = [
    `Measured ${date} with \`npm run bench:ttft${argv.length > 2 ? ` -- ${argv.slice(2).join(' ')}` : ''}\` on ${machineLine}; ${o.runs} runs each.`,
    `${loadLine[0].toUpperCase()}${loadLine.slice(1)} (other work on the machine inflates every number).`,
    `Command: \`${command}\` with the embedded default model on ${backend}; "first byte" is spawn → the first byte on stdout.`,
    `CLI first byte: **${ms(cliMedian)}**, ${verdict}.`,
    ...(caCerts ? [`This machine sets NODE_EXTRA_CA_CERTS, which every node process loads at startup; rows marked "unset" run without it.`] : []),
    '',
    markdownTable(spawnHeaders, spawnRows, ['left', 'right', 'right', 'right', 'right']),
    '',
    `In-process (a fresh \`node\` importing dist/node/index.js${probeSuffix ? ', NODE_EXTRA_CA_CERTS unset' : ''}):`,
    '',
    markdownTable(headers, splitRows, ['left', 'right', 'right', 'right']),
    '',
    `Inside \`loadModel()\`, step by step and cold (src/ under tsx, ${breakdowns[0].backend} backend):`,
    '',
    markdownTable(headers, stepRows, ['left', 'right', 'right', 'right']),
  ].join('\n');
  console.log(`wrote ${out} and ${rewriteBenchmarksMd(section)}`);
}

const breakdownAt = process.argv.indexOf('--breakdown');
(breakdownAt !== -1 ? breakdown(process.argv[breakdownAt + 1] ?? 'auto') : main(process.argv)).catch((e) => {
  if (e instanceof UsageError) { console.error(`error: ${e.message}`); process.exit(2); }
  if (e && typeof e === 'object' && 'exitCode' in e) process.exit((e as { exitCode: number }).exitCode === 0 ? 0 : 2);
  console.error(e);
  process.exit(1);
});
