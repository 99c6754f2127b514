/**
 * The benchmark models: random weights (tools/random-model.ts, one seed) in the shapes of
 * state-spaces/mamba-130m and mamba2-130m, written once into a cache folder as
 *   hf/config.json + hf/model.safetensors   (what mamba-edge loads)
 *   model-f32.gguf, model-q8_0.gguf          (the same weights for llama.cpp peers;
 *                                             tools/gguf-writer.ts)
 * The folder name hashes the shape and the generators' sources, so a change to either
 * writes fresh files; later runs reuse them.
 *
 *   npx tsx tools/bench-models.ts [--models mamba-130m,mamba2-130m]   prints the folders
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, toFloat32 } from '../src/formats/safetensors.js';
import { hfMambaToGguf, type HfMambaConfig, type HfTensor } from './gguf-writer.js';
import { randomModelFiles } from './random-model.js';
import { BENCH_MODELS, BENCH_MODEL_NAMES, type BenchModelName } from './bench-shapes.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export { BENCH_MODELS, BENCH_MODEL_NAMES, type BenchModelName } from './bench-shapes.js';

export interface BenchModelFiles {
  dir: string;
  /** Hugging Face folder for mamba-edge. */
  hf: string;
  gguf: { f32: string; q8_0: string };
}

export function benchModelsRoot(): string {
  return process.env.MAMBA_EDGE_BENCH_CACHE ?? join(os.tmpdir(), 'mamba-edge-bench');
}

/** Writes (once) and returns the files of one benchmark model. */
export function benchModel(name: BenchModelName, log: (s: string) => void = (s) => process.stderr.write(s)): BenchModelFiles {
  const shape = BENCH_MODELS[name];
  const hash = createHash('sha256').update(JSON.stringify(shape));
  for (const f of ['tools/random-model.ts', 'tools/gguf-writer.ts', 'tools/bench-models.ts']) hash.update(readFileSync(join(root, f)));
  const dir = join(benchModelsRoot(), `${name}-${hash.digest('hex').slice(0, 12)}`);
  const files: BenchModelFiles = { dir, hf: join(dir, 'hf'), gguf: { f32: join(dir, 'model-f32.gguf'), q8_0: join(dir, 'model-q8_0.gguf') } };
  if (existsSync(join(dir, 'complete'))) return files;

  log(`writing random ${name} (HF + GGUF f32 + GGUF q8_0) to ${dir} ... `);
  const t0 = performance.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'hf'), { recursive: true });
  const hf = randomModelFiles(shape);
  for (const [file, bytes] of Object.entries(hf)) writeFileSync(join(tmp, 'hf', file), bytes);

  // The GGUFs are made from the safetensors just written: the same f32 values, bit for bit.
  const st = parseSafetensors(hf['model.safetensors'], 'model.safetensors');
  const get = (n: string): HfTensor | undefined => {
    const e = st.tensors.get(n);
    return e ? { shape: e.shape, data: toFloat32(e) } : undefined;
  };
  // random-model writes Infinity literals (time_step_limit); the conversion does not read them.
  const config = JSON.parse(new TextDecoder().decode(hf['config.json']).replace(/\bInfinity\b/g, '1e999')) as HfMambaConfig;
  for (const dtype of ['f32', 'q8_0'] as const) writeFileSync(join(tmp, `model-${dtype}.gguf`), hfMambaToGguf(config, get, dtype, `random-${name}`));
  writeFileSync(join(tmp, 'complete'), '');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  renameSync(tmp, dir);
  log(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return files;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--models');
  const names = (i > 0 ? process.argv[i + 1].split(',') : BENCH_MODEL_NAMES) as BenchModelName[];
  for (const n of names) {
    if (!(n in BENCH_MODELS)) { console.error(`unknown model ${n}; known: ${BENCH_MODEL_NAMES.join(', ')}`); process.exit(2); }
    console.log(JSON.stringify({ model: n, ...benchModel(n) }));
  }
}
