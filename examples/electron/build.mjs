#!/usr/bin/env node
/**
 * Builds the Electron app into out/ with esbuild (what `npm start` runs before `electron .`):
 *
 *   out/main.mjs     main.mjs + model-host.ts + the library (Node entry), ESM; only 'electron',
 *                    the optional native 'webgpu' package
 *                    and Node built-ins stay external
 *   out/preload.cjs  preload.mjs + bridge.ts, CommonJS (sandboxed preloads are one CJS file
 *                    that may require only 'electron')
 *   out/renderer.js  renderer.ts for the window, a classic script
 *   out/index.html   the window's page
 *
 *   node examples/electron/build.mjs [--out DIR]
 */
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export async function buildApp(out = join(here, 'out')) {
  await mkdir(out, { recursive: true });
  const common = { absWorkingDir: here, bundle: true, target: 'es2022', logLevel: 'warning', external: ['electron', 'webgpu'], metafile: true };
  // 'webgpu' (Dawn) is an optional native package: it loads dawn.node from node_modules at run time, so it is never bundled.
  const [main, preload, renderer] = await Promise.all([
    build({
      ...common, entryPoints: ['main.mjs'], outfile: join(out, 'main.mjs'), platform: 'node', format: 'esm',
      // CommonJS dependencies inside an ESM bundle call require() for Node built-ins.
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    }),
    build({ ...common, entryPoints: ['preload.mjs'], outfile: join(out, 'preload.cjs'), platform: 'node', format: 'cjs' }),
    build({ ...common, entryPoints: ['renderer.ts'], outfile: join(out, 'renderer.js'), platform: 'browser', format: 'iife' }),
  ]);
  await copyFile(join(here, 'index.html'), join(out, 'index.html'));
  return { out, main: main.metafile, preload: preload.metafile, renderer: renderer.metafile };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--out');
  const { out } = await buildApp(i > 0 ? resolve(process.argv[i + 1]) : undefined);
  console.log(`built ${out}`);
}
