// Child process: the edge restrictions of examples/edge-function/platform.mjs in force, then
// loadModel with or without precompiled kernels. Prints the outcome as JSON.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
// @ts-expect-error: plain JavaScript module without types
import { restrictToEdge } from '../../examples/edge-function/platform.mjs';

const root = resolve(import.meta.dirname, '../..');
const withModules = process.argv.includes('--with-modules');
const modules = {
  as: await WebAssembly.compile(await readFile(join(root, 'wasm/dist/kernels-as-st.wasm'))),
  c: await WebAssembly.compile(await readFile(join(root, 'wasm/dist/kernels-c-st.wasm'))),
};
const files: Record<string, Uint8Array> = {};
for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) files[f] = await readFile(join(root, 'models/default', f));
const restrictions = restrictToEdge();
// The browser/edge entry, as the edge bundle uses it.
const { loadModel } = await import('../../src/index.js');
try {
  const model = await loadModel(files, { backend: 'wasm', ...(withModules ? { wasmModules: modules } : {}) });
  const r = await model.createSession().generate('Once upon a time', { maxTokens: 12, temperature: 0 }).finished;
  console.log(JSON.stringify({ ok: true, restrictions, info: model.backendInfo, text: r.text }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, restrictions, error: (e as Error).message }));
}
