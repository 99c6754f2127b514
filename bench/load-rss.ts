/**
 * Peak RSS of loadModel: a random mamba-130m-shaped model (tools/random-model.ts, d_model 768,
 * 24 layers, vocab 50280) as a Hugging Face folder, loaded on the wasm backend (1 thread) in a
 * fresh child process per run; runs of the given source trees alternate, so two checkouts
 * (before / after a change) meet the same machine load.
 *
 *   npx tsx bench/load-rss.ts [--roots /work/main,.] [--file-dtype F32|F16] [--dtype f32|f16|q8_0] [--runs 3] [--model DIR|FILE.gguf]
 *
 * Reports the child's peak RSS (getrusage maxrss: loading included), its RSS right after
 * loadModel resolved and after a forced gc, and the RSS before loading (the runtime itself);
 * the JS heap after that gc, the weights' bytes (model.info.weightBytes), and overMiB: the peak
 * above the runtime minus (weights + 64 MiB), issue 4's target (≤ 0: met).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };

if (args[0] === '--child') {
  const [, root, dir, dtype] = args;
  const mib = (b: number) => +(b / 2 ** 20).toFixed(1);
  const before = process.memoryUsage().rss;
  const { loadModel } = await import(pathToFileURL(join(root, 'src/node.ts')).href);
  const t0 = performance.now();
  const model = await loadModel(dir, { backend: 'wasm', threads: 1, dtype });
  const loadMs = performance.now() - t0;
  const after = process.memoryUsage().rss;
  const peak = process.resourceUsage().maxRSS * 1024;
  (globalThis as { gc?: () => void }).gc?.();
  const { rss: afterGc, heapUsed } = process.memoryUsage();
  const weights = model.info.weightBytes as number;
  await model.dispose();
  // The issue's target: peak ≤ weights + 64 MiB above the runtime's own RSS (negative: met by that much).
  const overMiB = mib(peak - before - weights) - 64;
  console.log(JSON.stringify({ beforeMiB: mib(before), peakMiB: mib(peak), afterLoadMiB: mib(after), afterGcMiB: mib(afterGc), heapAfterGcMiB: mib(heapUsed), weightsMiB: mib(weights), overMiB: +overMiB.toFixed(1), loadMs: Math.round(loadMs) }));
  process.exit(0);
}

const fileDType = opt('--file-dtype', 'F32') as 'F32' | 'F16';
const dtype = opt('--dtype', 'f32');
const runs = +opt('--runs', '3');
const roots = opt('--roots', '.').split(',').map((r) => resolve(r));
const dir = opt('--model', '') || join(tmpdir(), `mamba-edge-rss-mamba-130m-${fileDType}`); // --model DIR: any HF folder instead
if (!dir.endsWith('.gguf') && !existsSync(join(dir, 'model.safetensors'))) {
  const { randomModelFiles } = await import('../tools/random-model.js');
  mkdirSync(dir, { recursive: true });
  const files = randomModelFiles({ modelType: 'mamba', vocabSize: 50280, hiddenSize: 768, numLayers: 24, stateSize: 16, expand: 2, convKernel: 4, seed: 1, dtype: fileDType });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
}
console.log(`${opt('--model', '') || `mamba-130m-shaped random model, ${fileDType} file`}, load dtype ${dtype}, wasm 1 thread; 1-minute load average ${loadavg()[0].toFixed(2)}`);
const results = new Map<string, Record<string, number>[]>(roots.map((r) => [r, []]));
for (let i = 0; i < runs; i++) {
  for (const root of roots) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', resolve(import.meta.dirname, 'load-rss.ts'), '--child', root, dir, dtype], { cwd: root, encoding: 'utf8' });
    const line = out.trim().split('\n').pop()!;
    results.get(root)!.push(JSON.parse(line));
  }
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
for (const [root, rs] of results) {
  const keys = Object.keys(rs[0]);
  const range = (k: string) => `${Math.min(...rs.map((r) => r[k]))}..${Math.max(...rs.map((r) => r[k]))}`;
  console.log(`${root}: median of ${rs.length}: ${keys.map((k) => `${k} ${med(rs.map((r) => r[k]))}`).join(', ')}; peakMiB range ${range('peakMiB')}, overMiB range ${range('overMiB')}`);
}
