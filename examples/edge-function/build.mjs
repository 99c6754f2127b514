#!/usr/bin/env node
/**
 * Bundles the edge function (worker.ts) into ONE ES module with esbuild, as an edge platform's
 * build would, and reports its size against the platforms' script-size limits.
 *
 *   node examples/edge-function/build.mjs [--out DIR] [--model DIR] [--target emulated|workerd]
 *
 *   DIR/worker.js           the library, the handler and the model's files (as bytes): one module
 *   DIR/kernels-*-st.wasm   the two kernel modules, uploaded beside it; the platform compiles them
 *                           at deploy time and the module imports them as WebAssembly.Modules
 *   DIR/sizes.json          bytes and gzip bytes of each, and the total
 *
 * Defaults: --out examples/edge-function/dist, --model models/default (the embedded default model),
 * --target emulated (for serve.mjs under Node, Deno, Bun). --target workerd keeps the .wasm imports
 * as imports of the worker's wasm modules and writes DIR/config.capnp for workerd, Cloudflare's runtime.
 * How the two kinds of import become values (what wrangler's CompiledWasm/Data rules do on Cloudflare):
 *   '*.wasm'            → `globalThis.__EDGE_WASM_MODULES__[name]`, set by the platform (serve.mjs) before
 *                         the module runs, from the uploaded .wasm files it compiled at deploy time
 *   'edge-model-files'  → { 'config.json': Uint8Array, ... } of the model folder, embedded (esbuild's binary loader)
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');

/** A model folder's files that loadModel reads. */
const MODEL_FILE = /^(config\.json|tokenizer\.json|tokenizer_config\.json|model(-\d+-of-\d+)?\.safetensors|model\.safetensors\.index\.json)$/;
export const WASM_FILES = ['kernels-as-st.wasm', 'kernels-c-st.wasm'];

/**
 * workerd's configuration: the bundle as an ES module and the kernels as `wasm` modules, which
 * workerd compiles when it loads the worker (as Cloudflare does at upload) and hands to the
 * import as a WebAssembly.Module. Serve: `workerd serve config.capnp --socket-addr http=127.0.0.1:8787`.
 */
const WORKERD_CONFIG = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .edgeWorker)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const edgeWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "kernels-as-st.wasm", wasm = embed "kernels-as-st.wasm"),
    (name = "kernels-c-st.wasm", wasm = embed "kernels-c-st.wasm"),
  ],
  compatibilityDate = "2026-11-01",
);
`;

const edgePlatform = (modelDir, target) => ({
  name: 'edge-platform',
  setup(b) {
    b.onResolve({ filter: /^edge-model-files$/ }, () => ({ path: modelDir, namespace: 'model-files' }));
    b.onLoad({ filter: /.*/, namespace: 'model-files' }, (args) => {
      const names = readdirSync(args.path).filter((n) => MODEL_FILE.test(n)).sort();
      if (!names.includes('config.json')) throw new Error(`${args.path}: no config.json, not a model folder`);
      const lines = names.map((n, i) => `import f${i} from ${JSON.stringify(`model-bytes:${join(args.path, n)}`)};`);
      lines.push(`export default { ${names.map((n, i) => `${JSON.stringify(n)}: f${i}`).join(', ')} };`);
      return { contents: lines.join('\n'), loader: 'js' };
    });
    b.onResolve({ filter: /^model-bytes:/ }, (args) => ({ path: args.path.slice('model-bytes:'.length), namespace: 'model-bytes' }));
    b.onLoad({ filter: /.*/, namespace: 'model-bytes' }, (args) => ({ contents: readFileSync(args.path), loader: 'binary' }));
    // workerd (Cloudflare's runtime): the .wasm files are modules of the worker; the import stays.
    if (target === 'workerd') b.onResolve({ filter: /\.wasm$/ }, (args) => ({ path: `./${basename(args.path)}`, external: true }));
    b.onResolve({ filter: /\.wasm$/ }, (args) => ({ path: basename(args.path), namespace: 'platform-wasm' }));
    b.onLoad({ filter: /.*/, namespace: 'platform-wasm' }, (args) => ({
      contents: `const m = globalThis.__EDGE_WASM_MODULES__?.[${JSON.stringify(args.path)}];
if (!(m instanceof WebAssembly.Module)) throw new Error(${JSON.stringify(`${args.path}: the platform did not provide this compiled module`)});
export default m;`,
      loader: 'js',
    }));
  },
});

export async function buildEdgeFunction({ out = join(here, 'dist'), model = join(root, 'models', 'default'), target = 'emulated' } = {}) {
  if (target !== 'emulated' && target !== 'workerd') throw new Error(`--target must be emulated or workerd, got ${target}`);
  mkdirSync(out, { recursive: true });
  const result = await build({
    entryPoints: [join(here, 'worker.ts')],
    outfile: join(out, 'worker.js'),
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    minify: true, legalComments: 'none', logLevel: 'warning', metafile: true,
    plugins: [edgePlatform(resolve(model), target)],
  });
  for (const f of WASM_FILES) copyFileSync(join(root, 'wasm', 'dist', f), join(out, f));
  if (target === 'workerd') writeFileSync(join(out, 'config.capnp'), WORKERD_CONFIG);
  const files = ['worker.js', ...WASM_FILES].map((name) => {
    const bytes = readFileSync(join(out, name));
    return { name, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  // What the bundle holds besides the model, for the README's breakdown.
  const inputs = Object.entries(result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].inputs);
  const modelBytes = inputs.filter(([p]) => p.startsWith('model-bytes:')).reduce((n, [, v]) => n + v.bytesInOutput, 0);
  const sizes = {
    files,
    total: { bytes: files.reduce((n, f) => n + f.bytes, 0), gzip: files.reduce((n, f) => n + f.gzip, 0) },
    modelInBundle: modelBytes,
    codeInBundle: files[0].bytes - modelBytes,
  };
  writeFileSync(join(out, 'sizes.json'), JSON.stringify(sizes, null, 2));
  return { out, sizes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name) => { const i = process.argv.indexOf(name); return i === -1 ? undefined : process.argv[i + 1]; };
  const { out, sizes } = await buildEdgeFunction({ out: arg('--out') && resolve(arg('--out')), model: arg('--model') && resolve(arg('--model')), target: arg('--target') });
  const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
  for (const f of sizes.files) console.log(`${join(out, f.name)}  ${mb(f.bytes)}  (gzip ${mb(f.gzip)})`);
  console.log(`total ${mb(sizes.total.bytes)}, gzip ${mb(sizes.total.gzip)}; of worker.js, model ${mb(sizes.modelInBundle)} and code ${mb(sizes.codeInBundle)}`);
}
