/**
 * The two kernel modules (wasm/ABI.md) and their instantiation on a shared memory.
 * The .wasm bytes are embedded (kernels.generated.ts, written by `npm run build:wasm`)
 * so users never configure a URL, in Node, browsers or edge functions alike.
 */
import { fail } from '../../errors.js';
import { KERNELS_AS_BASE64, KERNELS_AS_ST_BASE64, KERNELS_C_BASE64, KERNELS_C_ST_BASE64 } from './kernels.generated.js';
import { stackTop } from './arena.js';

export type KernelName =
  | 'matmul_f32' | 'matmul_f16' | 'matmul_q8_0'
  | 'embed_f32' | 'embed_f16' | 'embed_q8_0'
  | 'quantize_q8_0' | 'f32_to_f16'
  | 'rmsNorm' | 'gatedRmsNorm' | 'add' | 'conv1dCausal' | 'selectiveScan' | 'ssdChunkScan' | 'ssdStep'
  | 'recurrentCell' | 'ltiScan' | 'glu' | 'mamba3Scan'
  | 'rope' | 'attention' | 'swiglu' | 'relu2'
  | 'widen_f16' | 'matmul_f16_finite' | 'f16_find_special'
  | 'mamba3ChunkScan';

export type KernelFn = (...args: number[]) => void;
export type KernelTable = Record<KernelName, KernelFn>;

export interface KernelModules {
  as: WebAssembly.Module;
  c: WebAssembly.Module;
}

function decodeBase64(b64: string): Uint8Array {
  if (typeof atob === 'function') {
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  throw fail('E_BACKEND', 'wasm backend: no base64 decoder (atob) in this runtime');
}

const compiled = new Map<boolean, Promise<KernelModules>>();

/** The kernels for a shared memory (threads) or for a plain one (no SharedArrayBuffer). */
export function compileKernels(shared = true): Promise<KernelModules> {
  let p = compiled.get(shared);
  if (!p) {
    p = (async () => ({
      as: await WebAssembly.compile(decodeBase64(shared ? KERNELS_AS_BASE64 : KERNELS_AS_ST_BASE64) as BufferSource),
      c: await WebAssembly.compile(decodeBase64(shared ? KERNELS_C_BASE64 : KERNELS_C_ST_BASE64) as BufferSource),
    }))().catch((e: unknown) => {
      compiled.delete(shared);
      // Edge runtimes (Cloudflare Workers, Vercel Edge) refuse to compile WebAssembly from bytes at run time.
      throw fail('E_BACKEND', `wasm backend: this runtime would not compile the kernels (${(e as Error)?.message ?? e}). `
        + 'Where WebAssembly may only be instantiated from modules the platform compiled at deploy time, pass them: '
        + "loadModel(source, { wasmModules: { as, c } }) with mamba-edge/wasm/kernels-as-st.wasm and kernels-c-st.wasm", { field: 'wasmModules', cause: e });
    });
    compiled.set(shared, p);
  }
  return p;
}

function importsFor(module: WebAssembly.Module, memory: WebAssembly.Memory): WebAssembly.Imports {
  const env: Record<string, WebAssembly.ImportValue> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.kind === 'memory') env[imp.name] = memory;
    else if (imp.name === 'abort') {
      // AssemblyScript's assertion hook: kernels never reach it on valid input.
      env.abort = () => { throw fail('E_BACKEND', 'a wasm kernel aborted (internal assertion)'); };
    } else throw fail('E_BACKEND', `wasm kernels import an unknown ${imp.kind} "${imp.module}.${imp.name}"`);
  }
  return { env };
}

/** Instantiate both modules on `memory` for one thread; sets that thread's C stack. */
export function instantiateKernels(mods: KernelModules, memory: WebAssembly.Memory, thread: number): KernelTable {
  const as = new WebAssembly.Instance(mods.as, importsFor(mods.as, memory)).exports;
  const c = new WebAssembly.Instance(mods.c, importsFor(mods.c, memory)).exports;
  const sp = c.__stack_pointer as WebAssembly.Global | undefined;
  if (sp) sp.value = stackTop(thread);
  const table = {} as KernelTable;
  for (const [name, fn] of [...Object.entries(as), ...Object.entries(c)]) {
    if (typeof fn === 'function') (table as Record<string, KernelFn>)[name] = fn as KernelFn;
  }
  return table;
}
