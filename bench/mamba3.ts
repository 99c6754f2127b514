/**
 * `npm run bench:mamba3`: a Mamba-3 model shaped like a 130M checkpoint (SISO, and MIMO rank 4)
 * next to mamba-130m and mamba2-130m, on the same backend: prefill and decode tokens/s and the
 * bytes of carried state per session. Random weights (tools/random-model.ts; the Mamba-1/2 ones
 * are bench/run.ts's, tools/bench-models.ts); each configuration in its own process
 * (bench/child.ts, the measurement of `mamba-edge bench`: seeded prompt ids, warm-up, prefill,
 * greedy decode), --repeat times, median shown.
 *
 * mamba3-130m's shape: d_model 768, 24 layers, expand 2, headdim 64 (24 heads), d_state 128,
 * rope_fraction 0.5, 1 group, chunk 64, vocab 50280, tied — Mamba3.__init__'s defaults at
 * mamba-130m's width and depth (state-spaces published no Mamba-3 130M config at the time).
 *
 * Prints a table and rewrites the section of BENCHMARKS.md between `<!-- bench-mamba3:start -->`
 * and `<!-- bench-mamba3:end -->` (unless --no-write).
 *
 *   npm run bench:mamba3 -- --threads 1,2 --prompt-tokens 512 --gen-tokens 64 --repeat 3
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { humanBytes, markdownTable, rate, table } from '../src/cli/format.js';
import { benchModel, benchModelsRoot } from '../tools/bench-models.js';
import { randomModelFiles, type RandomModelOptions } from '../tools/random-model.js';
import type { ChildResult } from './child.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const MAMBA3: Record<string, RandomModelOptions> = {
  'mamba3-130m': {
    modelType: 'mamba3', vocabSize: 50280, hiddenSize: 768, numLayers: 24, stateSize: 128, expand: 2, headDim: 64,
    ropeFraction: 0.5, chunkSize: 64, seed: 1,
  },
  'mamba3-mimo4-130m': {
    modelType: 'mamba3', vocabSize: 50280, hiddenSize: 768, numLayers: 24, stateSize: 128, expand: 2, headDim: 64,
    ropeFraction: 0.5, isMimo: true, mimoRank: 4, chunkSize: 16, seed: 1,
  },
};
const MODELS = ['mamba-130m', 'mamba2-130m', 'mamba3-130m', 'mamba3-mimo4-130m'] as const;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : def;
}

/** The HF folder of one model (Mamba-3 ones written once into the bench cache). */
export function folder(model: (typeof MODELS)[number]): string {
  if (model === 'mamba-130m' || model === 'mamba2-130m') return benchModel(model).hf;
  const dir = join(benchModelsRoot(), `${model}-${JSON.stringify(MAMBA3[model]).length.toString(16)}-${readFileSync(join(root, 'tools/random-model.ts')).length}`);
  if (!existsSync(join(dir, 'model.safetensors'))) {
    process.stderr.write(`writing random ${model} to ${dir} ... `);
    mkdirSync(dir, { recursive: true });
    for (const [f, bytes] of Object.entries(randomModelFiles(MAMBA3[model]))) writeFileSync(join(dir, f), bytes);
    process.stderr.write('done\n');
  }
  return dir;
}

function runChild(args: string[]): Promise<ChildResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/child.ts'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) done(JSON.parse(line) as ChildResult);
      else fail(new Error(err.trim().split('\n').slice(-3).join(' ') || `exit ${code}`));
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const threads = arg('threads', '1,2').split(',').map(Number);
  const prompt = arg('prompt-tokens', '512'), gen = arg('gen-tokens', '64');
  const repeat = Number(arg('repeat', '3'));
  const rows: string[][] = [];
  const load0 = os.loadavg()[0];
  for (const model of MODELS) {
    const dir = folder(model);
    for (const t of threads) {
      const runs: ChildResult[] = [];
      for (let k = 0; k < repeat; k++) {
        process.stderr.write(`${model} wasm t${t} (${k + 1}/${repeat}) ... `);
        const r = await runChild(['--model', dir, '--backend', 'wasm', '--threads', String(t), '--dtype', 'f32', '--prompt-tokens', prompt, '--gen-tokens', gen]);
        process.stderr.write(`prefill ${rate(r.prefillTokensPerSec)} tok/s, decode ${rate(r.decodeTokensPerSec)} tok/s\n`);
        runs.push(r);
      }
      const r0 = runs[0];
      rows.push([
        model, `wasm f32, ${t} thr`, `${(r0.parameters / 1e6).toFixed(1)}M`, `${prompt}+${gen}`,
        rate(median(runs.map((r) => r.prefillTokensPerSec))), rate(median(runs.map((r) => r.decodeTokensPerSec))),
        humanBytes(r0.stateBytes), humanBytes(r0.weightBytes),
      ]);
    }
  }
  const headers = ['model', 'backend', 'params', 'prompt+gen', 'prefill tok/s', 'decode tok/s', 'state / session', 'weights'];
  console.log(table(headers, rows));
  const cpus = os.cpus();
  const machine = `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, Node ${process.version}; 1-minute load average ${load0.toFixed(1)} at the start (shared machine: numbers are noisy)`;
  const md = [
    `Machine: ${machine}. Command: \`npm run bench:mamba3 -- --threads ${threads.join(',')} --prompt-tokens ${prompt} --gen-tokens ${gen} --repeat ${repeat}\` (median of ${repeat}).`,
    '',
    markdownTable(headers, rows),
  ].join('\n');
  if (!process.argv.includes('--no-write')) {
    const file = join(root, 'BENCHMARKS.md');
    const text = readFileSync(file, 'utf8');
    const start = '<!-- bench-mamba3:start -->', end = '<!-- bench-mamba3:end -->';
    const block = `${start}\n${md}\n${end}`;
    const next = text.includes(start)
      ? text.slice(0, text.indexOf(start)) + block + text.slice(text.indexOf(end) + end.length)
      : `${text.trimEnd()}\n\n## Mamba-3 next to Mamba-1 / Mamba-2 (130M shapes)\n\nSee docs/mamba3.md; \`bench/mamba3.ts\` says how.\n\n${block}\n`;
    writeFileSync(file, next);
  }
}

// bench/mamba3-prefill.ts imports MAMBA3 and folder(): run only as the script itself.
if (process.argv[1]?.endsWith('mamba3.ts')) main().catch((e) => { console.error(e); process.exit(1); });
