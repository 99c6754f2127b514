/**
 * mamba-edge as an edge function: the OpenAI-compatible handler (POST /v1/completions,
 * POST /v1/chat/completions, GET /v1/models) in a module for runtimes with no threads, no
 * SharedArrayBuffer, and no compiling WebAssembly from bytes at run time (Cloudflare Workers,
 * Vercel Edge). The platform compiles the two kernel .wasm files at deploy time and hands them
 * over as WebAssembly.Modules; loadModel only instantiates them (`wasmModules`). The model's
 * files are bundled with the function as bytes.
 *
 * Build: node examples/edge-function/build.mjs   (see README.md)
 */
import { createHandler, loadModel, type Handler } from '../../src/index.js';
// In an app: import kernelsAs from 'mamba-edge/wasm/kernels-as-st.wasm' (the same files).
import kernelsAs from '../../wasm/dist/kernels-as-st.wasm';
import kernelsC from '../../wasm/dist/kernels-c-st.wasm';
// build.mjs makes this module from a model folder (default: models/default): { 'config.json': bytes, ... }.
import modelFiles from 'edge-model-files';

let ready: Promise<Handler> | undefined;

/** The model loads on the first request (platforms limit work at module scope) and stays for the isolate's life. */
function handler(): Promise<Handler> {
  ready ??= loadModel(modelFiles, { backend: 'wasm', threads: 1, wasmModules: { as: kernelsAs, c: kernelsC } })
    .then((model) => createHandler(model, { cors: true }));
  ready.catch(() => { ready = undefined; }); // a failed load is retried by the next request
  return ready;
}

export default {
  async fetch(request: Request): Promise<Response> {
    let h: Handler;
    try {
      h = await handler();
    } catch (e) {
      const err = e as { message?: string; code?: string };
      return new Response(JSON.stringify({ error: { message: `the model did not load: ${err.message}`, type: 'server_error', param: null, code: err.code ?? 'load_failed' } }), {
        status: 503, headers: { 'content-type': 'application/json' },
      });
    }
    return h(request);
  },
};
