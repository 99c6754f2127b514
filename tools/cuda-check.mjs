#!/usr/bin/env node
/**
 * Bundles the cuda test files (test/cuda/*.test.ts, which run the shared op suite and golden suite)
 * into one standalone ESM script, with `vitest` replaced by tools/cuda-check/vitest-shim.ts, for a
 * GPU machine that has Node (or a Node binary carried there) but not this repository's node_modules.
 * Also bundles bench/cuda.ts, the cuda benchmark.
 *
 *   node tools/cuda-check.mjs [OUTDIR]       writes OUTDIR/test/check/cuda-check.mjs,
 *                                            OUTDIR/test/check/cuda-bench.mjs and OUTDIR/test/fixtures/{goldens,hybrid}
 *                                            (default OUTDIR: .dev-cuda)
 *   MAMBA_EDGE_CUDA_ADDON=…/mamba_edge_cuda.node node OUTDIR/test/check/cuda-check.mjs [NAME_REGEX]
 *
 * The bundle sits two folders below OUTDIR so that test/helpers/goldens.ts finds ../fixtures/goldens
 * next to it, as it does in the repository. Prints one line per test and "N passed, N failed, N skipped".
 */
import { build } from 'esbuild';
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, '.dev-cuda'));
mkdirSync(join(out, 'test', 'check'), { recursive: true });
const common = {
  bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning',
  alias: { vitest: join(root, 'tools/cuda-check/vitest-shim.ts') },
  // esbuild's ESM output has no require(); the addon loader uses createRequire, comlink's node adapter may need it
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};
await build({ ...common, entryPoints: [join(root, 'tools/cuda-check/entry.ts')], outfile: join(out, 'test/check/cuda-check.mjs') });
// webgpu (Dawn's .node) stays external: --backend webgpu finds node_modules/webgpu beside the bundle at run time.
await build({ ...common, external: ['webgpu'], entryPoints: [join(root, 'bench/cuda.ts')], outfile: join(out, 'test/check/cuda-bench.mjs') });
cpSync(join(root, 'test/fixtures/goldens'), join(out, 'test/fixtures/goldens'), { recursive: true });
cpSync(join(root, 'test/fixtures/hybrid'), join(out, 'test/fixtures/hybrid'), { recursive: true });
console.log(`wrote ${out}/test/check/cuda-check.mjs, cuda-bench.mjs and test/fixtures/{goldens,hybrid}`);
