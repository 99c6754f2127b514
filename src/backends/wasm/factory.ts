/**
 * Creating the CPU backend: probe the runtime, compile the kernels, make the one
 * memory, and start the pool when threads are possible. Each probe is a small pure
 * function so a page, an edge function or a test can ask the same question.
 */
import { fail } from '../../errors.js';
import type { Backend } from '../backend.js';
import { MAX_THREADS, PAGE } from './arena.js';
import { compileKernels, instantiateKernels, type KernelModules } from './kernels.js';
import { SingleThreadExecutor, type Executor } from './executor.js';
import { WasmBackend, INITIAL_PAGES } from './index.js';

/** Starts a pool of `threads` (the caller included) on a shared memory; installed by the Node entry. */
export type PoolFactory = (memory: WebAssembly.Memory, modules: KernelModules, threads: number) => Promise<Executor>;
let poolFactory: PoolFactory | undefined;
let hostThreads: (() => number) | undefined;
/** Installed by an entry that can run workers; `threads` reports the host's hardware threads. */
export function setPoolFactory(f: PoolFactory, threads?: () => number): void {
  poolFactory = f;
  hostThreads = threads;
}

// A 1-page module using one v128 op: compiles only where SIMD128 is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

export function supportsWasmSimd(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Threads need SharedArrayBuffer and, in pages, cross-origin isolation (COOP/COEP). */
export function supportsThreads(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const g = globalThis as { crossOriginIsolated?: boolean };
  return g.crossOriginIsolated !== false;
}

export function hardwareThreads(): number {
  if (hostThreads) return hostThreads();
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof n === 'number' && n > 0 ? n : 1;
}

/**
 * Whether `mods` (LoadOptions.wasmModules) link against a plain memory (the single-thread
 * build) — found by instantiating on `plain`, which is then the backend's memory. The import's
 * sharedness is not reflected by WebAssembly.Module.imports, so linking is the one test.
 */
function linksToPlainMemory(mods: KernelModules, plain: WebAssembly.Memory): boolean {
  try {
    instantiateKernels(mods, plain, 0);
    return true;
  } catch (e) {
    if (e instanceof WebAssembly.LinkError) return false;
    throw e;
  }
}

export async function createWasmBackend(opts: { threads?: number; wasmModules?: KernelModules }): Promise<Backend | { unavailable: string }> {
  if (typeof WebAssembly !== 'object') return { unavailable: 'this runtime has no WebAssembly' };
  if (!supportsWasmSimd()) return { unavailable: 'this runtime lacks WebAssembly SIMD128' };
  if (opts.threads !== undefined && opts.threads > 1024) {
    throw fail('E_ARGUMENT', `threads = ${opts.threads} is absurd; use at most ${MAX_THREADS}`, { field: 'threads' });
  }
  const notes: string[] = [];
  let threads = opts.threads ?? Math.min(hardwareThreads(), 8);
  if (threads > MAX_THREADS) {
    notes.push(`threads capped from ${threads} to ${MAX_THREADS}`);
    threads = MAX_THREADS;
  }
  if (threads > 1 && !supportsThreads()) { notes.push('single-threaded: SharedArrayBuffer is unavailable (pages need COOP/COEP headers)'); threads = 1; }
  if (threads > 1 && !poolFactory) { notes.push('single-threaded: no worker pool in this build for this runtime'); threads = 1; }

  const descriptor = (shared: boolean) => ({ initial: INITIAL_PAGES, maximum: 65536, shared } as WebAssembly.MemoryDescriptor);
  let modules: KernelModules;
  let memory: WebAssembly.Memory;
  if (opts.wasmModules) {
    // Precompiled by the platform (edge runtimes that refuse to compile at run time): instantiate only.
    modules = opts.wasmModules;
    const plain = new WebAssembly.Memory(descriptor(false));
    if (linksToPlainMemory(modules, plain)) {
      memory = plain;
      if (threads > 1) { notes.push('single-threaded: wasmModules are the single-thread build (kernels-*-st.wasm)'); threads = 1; }
    } else if (supportsThreads()) {
      memory = new WebAssembly.Memory(descriptor(true));
    } else {
      throw fail('E_BACKEND', 'wasmModules import a shared memory (the threaded build, kernels-as.wasm / kernels-c.wasm), but this runtime has no SharedArrayBuffer: pass the single-thread build, kernels-as-st.wasm and kernels-c-st.wasm', { field: 'wasmModules' });
    }
  } else {
    const shared = supportsThreads();
    modules = await compileKernels(shared);
    memory = new WebAssembly.Memory(descriptor(shared));
  }
  let exec: Executor;
  if (threads > 1) exec = await poolFactory!(memory, modules, threads);
  else {
    try {
      exec = new SingleThreadExecutor(instantiateKernels(modules, memory, 0));
    } catch (e) {
      if (!opts.wasmModules || !(e instanceof WebAssembly.LinkError)) throw e;
      throw fail('E_BACKEND', `wasmModules: the two kernel modules do not link to one memory (${e.message}); pass kernels-as and kernels-c of the same build (both -st, or neither)`, { field: 'wasmModules', cause: e });
    }
  }
  return new WasmBackend(memory, exec, {
    threads: exec.threads,
    device: `cpu: WebAssembly SIMD128, ${exec.threads} thread${exec.threads > 1 ? 's' : ''}`,
    ...(notes.length ? { note: notes.join('; ') } : {}),
  });
}

export { PAGE };
