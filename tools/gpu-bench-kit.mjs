#!/usr/bin/env node
/**
 * Bundles the WebGPU benchmarks for a GPU machine that has a Node binary (carried there) and a
 * checkout of this repository but not its node_modules: each bench script becomes one ESM file with
 * only `webgpu` (Dawn's native package, carried separately) left external.
 *
 *   node tools/gpu-bench-kit.mjs OUTDIR     writes OUTDIR/bench/{webgpu,context,soak}.mjs and
 *                                           OUTDIR/bench/transformers_mamba.py
 *
 * On the GPU machine, copy OUTDIR/bench/* into the checkout's bench/ (the bundles find models/default
 * and node_modules/webgpu from there, as the sources do) and run tools/gpu-bench-run.sh's steps.
 */
import { build } from 'esbuild';
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
if (!process.argv[2]) { console.error('usage: node tools/gpu-bench-kit.mjs OUTDIR'); process.exit(2); }
const out = resolve(process.argv[2]);
mkdirSync(join(out, 'bench'), { recursive: true });
const common = {
  bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning', external: ['webgpu'],
  // esbuild's ESM output has no require(); the cuda addon loader uses createRequire
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};
const names = ['webgpu', 'context', 'soak'];
for (const name of names) {
  await build({ ...common, entryPoints: [join(root, `bench/${name}.ts`)], outfile: join(out, `bench/${name}.mjs`) });
}
cpSync(join(root, 'bench/transformers_mamba.py'), join(out, 'bench/transformers_mamba.py'));
console.log(`wrote ${out}/bench/{${names.join(',')}}.mjs and transformers_mamba.py`);
