/**
 * What an edge platform does around a worker module, for running the built example under
 * Node, Deno and Bun as if it were Cloudflare Workers / Vercel Edge:
 *
 * 1. compile the uploaded .wasm files "at deploy time" (before any of the module's code runs)
 *    and hand them to the module (globalThis.__EDGE_WASM_MODULES__, see build.mjs);
 * 2. take away what those isolates lack or refuse: SharedArrayBuffer and Worker (no threads),
 *    and every way to compile WebAssembly from bytes at run time — WebAssembly.compile,
 *    compileStreaming, instantiate(bytes), instantiateStreaming, new WebAssembly.Module(bytes).
 *    Only WebAssembly.instantiate(module) and new WebAssembly.Instance(module) still work.
 *
 * Plain JavaScript that runs unchanged on Node, Deno and Bun (node:fs is available on all three).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const REFUSED = 'WebAssembly code generation from bytes is disallowed by this embedder (edge platform emulation)';

/** Step 1: compile the module's .wasm files from `dir` and publish them to the module. */
export async function provideWasmModules(dir, names) {
  const modules = {};
  for (const name of names) modules[name] = await WebAssembly.compile(await readFile(join(dir, name)));
  globalThis.__EDGE_WASM_MODULES__ = modules;
  return modules;
}

/** Step 2: the edge restrictions. Returns what a self-check found (every refusal really refuses). */
export function restrictToEdge() {
  // Node loads its fetch implementation (undici) on first use of Request/Response/fetch, and that
  // compiles undici's own HTTP parser from bytes: platform code, not the module's. Load it first.
  void new Response('').arrayBuffer();
  void globalThis.fetch;
  const W = globalThis.WebAssembly;
  const refuse = () => { throw new W.CompileError(REFUSED); };
  const original = { instantiate: W.instantiate.bind(W), Module: W.Module };
  W.compile = async () => refuse();
  W.compileStreaming = async () => refuse();
  W.instantiateStreaming = async () => refuse();
  W.instantiate = async (source, imports) => {
    if (source instanceof original.Module) return original.instantiate(source, imports);
    return refuse();
  };
  // `instanceof WebAssembly.Module` and WebAssembly.Module.imports() keep working; construction does not.
  W.Module = new Proxy(original.Module, { construct: refuse });
  delete globalThis.SharedArrayBuffer;
  delete globalThis.Worker;
  return selfCheck();
}

function selfCheck() {
  const W = globalThis.WebAssembly;
  const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
  const throws = (f) => { try { f(); return false; } catch { return true; } };
  return {
    compileRefused: throws(() => new W.Module(empty)),
    sharedArrayBuffer: typeof globalThis.SharedArrayBuffer !== 'undefined',
    worker: typeof globalThis.Worker !== 'undefined',
  };
}

/** Also checks the async refusals (they reject rather than throw). */
export async function asyncRefusals() {
  const W = globalThis.WebAssembly;
  const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
  const rejects = async (p) => { try { await p; return false; } catch { return true; } };
  return { compile: await rejects(W.compile(empty)), instantiateBytes: await rejects(W.instantiate(empty)) };
}
