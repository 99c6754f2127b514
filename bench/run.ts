/**
 * `npm run bench`: speed and memory of mamba-edge on random-weight models shaped like
 * state-spaces/mamba-130m and mamba2-130m, on every backend available here.
 *
 * Each (model, backend) runs in its own process through `mamba-edge bench --json`
 * (so peak RSS is that run's alone), from a model directory written once to the temp
 * folder. Prints a table, writes bench/results/latest.json, and rewrites the section of
 * BENCHMARKS.md between `<!-- bench:start -->` and `<!-- bench:end -->`.
 *
 *   npm run bench -- --prompt-tokens 32 --gen-tokens 8 --backends reference --models mamba-130m
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { list, positiveInt, UsageError } from '../src/cli/args.js';
import { humanBytes, humanCount, humanSeconds, markdownTable, rate, table } from '../src/cli/format.js';
import type { BenchResult } from '../src/cli/protocol.js';
import type { BackendName, LoadDType } from '../src/api/types.js';
import { randomModelFiles, type RandomModelOptions } from '../tools/random-model.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Shapes of the published checkpoints (config.json of state-spaces/mamba-130m-hf and mamba2-130m), random weights. */
const MODELS = {
  'mamba-130m': { modelType: 'mamba', vocabSize: 50280, hiddenSize: 768, numLayers: 24, stateSize: 16, expand: 2, seed: 1 },
  'mamba2-130m': { modelType: 'mamba2', vocabSize: 50288, hiddenSize: 768, numLayers: 24, stateSize: 128, expand: 2, headDim: 64, nGroups: 1, chunkSize: 256, seed: 1 },
} satisfies Record<string, RandomModelOptions>;
type ModelName = keyof typeof MODELS;
const MODEL_NAMES = Object.keys(MODELS) as ModelName[];
const BACKENDS: BackendName[] = ['reference', 'wasm', 'webgpu', 'cuda'];

interface Row {
  model: ModelName;
  backend: BackendName;
  dtype: LoadDType;
  result?: BenchResult;
  skipped?: string;
}

/** Writes the random model once per shape into the temp folder; later runs reuse it. */
function modelDir(name: ModelName): string {
  const shape = MODELS[name];
  // Keyed by the shape and the generator's source, so a change to either writes a fresh model.
  const key = createHash('sha256').update(JSON.stringify(shape)).update(readFileSync(join(root, 'tools/random-model.ts'))).digest('hex').slice(0, 12);
  const dir = join(os.tmpdir(), 'mamba-edge-bench', `${name}-${key}`);
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  process.stderr.write(`writing random ${name} to ${dir} ... `);
  const t0 = performance.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const [file, bytes] of Object.entries(randomModelFiles(shape))) writeFileSync(join(tmp, file), bytes);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  process.stderr.write(`${humanSeconds((performance.now() - t0) / 1000)}\n`);
  return dir;
}

/** One measurement in a fresh process: the CLI's `bench --json`. */
function runOne(dir: string, backend: BackendName, dtype: LoadDType, promptTokens: number, genTokens: number): Promise<{ result?: BenchResult; error?: string }> {
  const args = ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'bench', '--model', dir, '--backend', backend, '--dtype', dtype,
    '--prompt-tokens', String(promptTokens), '--gen-tokens', String(genTokens), '--json'];
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) done({ result: JSON.parse(out) as BenchResult });
      else done({ error: err.trim().replace(/^mamba-edge: /, '') || `exit ${code}` });
    });
  });
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramBytes: os.totalmem(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
  };
}

const HEADERS = ['model', 'backend', 'dtype', 'params', 'load', 'prefill tok/s', 'decode tok/s', 'state', 'weights', 'peak RSS'];

function cells(r: Row): (string | number)[] {
  const x = r.result;
  if (!x) return [r.model, r.backend, r.dtype, '-', '-', '-', '-', '-', '-', `skipped: ${r.skipped}`];
  return [
    r.model, r.backend, r.dtype, humanCount(x.parameters), humanSeconds(x.loadMs / 1000),
    `${rate(x.prefillTokensPerSec)} (${x.promptTokens} tok)`, `${rate(x.decodeTokensPerSec)} (${x.genTokens} tok)`,
    humanBytes(x.stateBytes), humanBytes(x.weightBytes), humanBytes(x.peakRssBytes),
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

async function main(argv: string[]): Promise<void> {
  const program = new Command('npm run bench --')
    .description('Benchmark mamba-edge on random-weight models shaped like mamba-130m / mamba2-130m.')
    .addOption(new Option('--prompt-tokens <n>', 'prompt length for prefill (the reference backend is slow: keep it small)').argParser(positiveInt('--prompt-tokens')).default(32))
    .addOption(new Option('--gen-tokens <n>', 'tokens decoded one at a time').argParser(positiveInt('--gen-tokens')).default(8))
    .addOption(new Option('--backends <list>', `comma-separated, from ${BACKENDS.join(', ')}; unavailable ones are listed as skipped`).argParser(list('--backends', BACKENDS)).default(BACKENDS))
    .addOption(new Option('--models <list>', `comma-separated, from ${MODEL_NAMES.join(', ')}`).argParser(list('--models', MODEL_NAMES)).default(MODEL_NAMES))
    .addOption(new Option('--dtypes <list>', 'weight storage dtypes to measure').argParser(list('--dtypes', ['f32', 'f16'] as const)).default(['f32']))
    .addOption(new Option('--repeat <n>', 'runs per configuration; the best is kept').argParser(positiveInt('--repeat')).default(1))
    .option('--no-write', 'print only; do not write bench/results/latest.json or BENCHMARKS.md')
    .exitOverride();
  const o = program.parse(argv).opts<{
    promptTokens: number; genTokens: number; backends: BackendName[]; models: ModelName[]; dtypes: LoadDType[]; repeat: number; write: boolean;
  }>();

  const command = `npm run bench -- ${argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
  const rows: Row[] = [];
  for (const model of o.models) {
    const dir = modelDir(model);
    for (const backend of o.backends) {
      for (const dtype of o.dtypes) {
        let best: BenchResult | undefined;
        let skipped: string | undefined;
        for (let k = 0; k < o.repeat && !skipped; k++) {
          process.stderr.write(`${model} on ${backend} (${dtype}) ... `);
          const { result, error } = await runOne(dir, backend, dtype, o.promptTokens, o.genTokens);
          if (error) {
            skipped = error;
            process.stderr.write(`skipped: ${error}\n`);
          } else if (result) {
            process.stderr.write(`prefill ${rate(result.prefillTokensPerSec)} tok/s, decode ${rate(result.decodeTokensPerSec)} tok/s\n`);
            if (!best || result.decodeTokensPerSec > best.decodeTokensPerSec) best = result;
          }
        }
        rows.push({ model, backend, dtype, ...(best ? { result: best } : {}), ...(skipped ? { skipped } : {}) });
      }
    }
  }

  const m = machine();
  const machineLine = `${m.cpu}, ${m.cores} cores, ${humanBytes(m.ramBytes)} RAM, Node ${m.node}, ${m.platform}`;
  const measured = rows.filter((r) => r.result);
  const skipped = rows.filter((r) => !r.result);
  console.log(`\n${table(HEADERS, measured.map(cells), ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'])}`);
  for (const r of skipped) console.log(`skipped ${r.model} on ${r.backend}: ${r.skipped}`);
  console.log(`\nmachine: ${machineLine}\ncommand: ${command}`);

  if (!o.write) return;
  const date = new Date().toISOString().slice(0, 10);
  const json = { date, command, machine: m, promptTokens: o.promptTokens, genTokens: o.genTokens, models: MODELS, rows };
  const out = join(root, 'bench', 'results', 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  const section = [
    `Measured ${date} with \`${command}\` on ${machineLine}.`,
    `Random weights in the shapes of state-spaces/mamba-130m and mamba2-130m; prefill = one ${o.promptTokens}-token prompt of random ids,`,
    `decode = ${o.genTokens} greedy tokens one at a time; load = reading the model directory to a ready model; peak RSS = the process's high-water mark.`,
    '',
    markdownTable(HEADERS, measured.map(cells), ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right']),
    ...(skipped.length ? ['', ...skipped.map((r) => `- not measured: ${r.model} on ${r.backend} (${r.dtype}): ${r.skipped}`)] : []),
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
