/**
 * How the browser runtime is bundled (used by tools/build.mjs and examples/browser/server.ts).
 *
 *   bundleCoordinator()              src/browser/coordinator-worker.ts → one self-contained classic
 *                                    worker script (iife, minified): the whole runtime plus the Web
 *                                    Worker pool, WITHOUT the kernels' bytes: its kernels.generated.ts
 *                                    reads them from globalThis.__mambaEdgeKernels, which the page
 *                                    prepends when it starts the worker (src/browser/remote.ts).
 *   coordinatorSourcePlugin(source)  an esbuild plugin for a browser bundle of src/index.ts: replaces
 *                                    src/browser/coordinator-source.ts with that script as a string, so
 *                                    loadModel on a page can start the coordinator from a Blob URL.
 *   browserRuntimePlugin()           both at once.
 */
import * as esbuild from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const KERNELS_MODULE = /[\\/]src[\\/]backends[\\/]wasm[\\/]kernels\.generated\.ts$/;
const SOURCE_MODULE = /[\\/]src[\\/]browser[\\/]coordinator-source\.ts$/;
/** Must equal KERNELS_GLOBAL in src/browser/remote.ts. */
const KERNELS_GLOBAL = '__mambaEdgeKernels';

const kernelsFromPage = {
  name: 'kernels-from-page',
  setup(b) {
    b.onLoad({ filter: KERNELS_MODULE }, async (args) => {
      const names = [...(await readFile(args.path, 'utf8')).matchAll(/^export const (\w+)\s*=/gm)].map((m) => m[1]);
      if (names.length === 0) throw new Error(`${args.path}: no exported kernel constants found`);
      return {
        loader: 'js',
        contents:
          `const k = globalThis.${KERNELS_GLOBAL};\n` +
          `if (!k) throw new Error('mamba-edge coordinator worker: started without the kernels (globalThis.${KERNELS_GLOBAL})');\n` +
          names.map((n) => `export const ${n} = k.${n};`).join('\n'),
      };
    });
  },
};

export async function bundleCoordinator() {
  const out = await esbuild.build({
    entryPoints: [join(root, 'src/browser/coordinator-worker.ts')],
    bundle: true, write: false, platform: 'browser', format: 'iife', target: 'es2022',
    minify: true, legalComments: 'none', logLevel: 'silent', plugins: [kernelsFromPage],
  });
  return out.outputFiles[0].text;
}

export function coordinatorSourcePlugin(source) {
  return {
    name: 'coordinator-source',
    setup(b) {
      b.onLoad({ filter: SOURCE_MODULE }, () => ({
        loader: 'js',
        contents: `export const COORDINATOR_SOURCE = ${JSON.stringify(source)};\n`,
      }));
    },
  };
}

export async function browserRuntimePlugin() {
  return coordinatorSourcePlugin(await bundleCoordinator());
}
