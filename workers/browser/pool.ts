/**
 * The worker pool in browsers (and any runtime with Web Workers): an Executor over Web
 * Workers that share the backend's WebAssembly.Memory. Starting workers and the comlink
 * control plane are all this file does; the op barrier is workers/barrier.ts, shared with
 * the worker's side. The coordinator blocks in Atomics.wait, which browsers allow in workers
 * only: in a page this pool lives in the coordinator worker (src/browser/coordinator-worker.ts).
 */
import * as Comlink from 'comlink';
import { fail } from '../../src/errors.js';
import type { Executor } from '../../src/backends/wasm/executor.js';
import { instantiateKernels, type KernelModules, type KernelName } from '../../src/backends/wasm/kernels.js';
import { CONTROL_BASE } from '../../src/backends/wasm/arena.js';
import { BROWSER_KERNEL_WORKER_SOURCE } from '../../src/browser/kernel-worker.generated.js';
import { Barrier } from '../barrier.js';
import type { BrowserKernelWorkerApi } from './kernel-worker.js';

/** A worker that has not answered init in this long did not start (blocked script, no memory). */
const START_MS = 30_000;

interface PoolWorker {
  worker: Worker;
  api: Comlink.Remote<BrowserKernelWorkerApi>;
  serving: Promise<void>;
  exited: string | null;
}

export class BrowserWorkerPool implements Executor {
  private readonly barrier: Barrier;

  private constructor(memory: WebAssembly.Memory, private readonly workers: PoolWorker[], mods: KernelModules) {
    this.barrier = new Barrier(memory, instantiateKernels(mods, memory, 0), workers.length, CONTROL_BASE, () => workers.find((w) => w.exited)?.exited ?? null);
  }

  get threads(): number {
    return this.barrier.threads;
  }

  /** `threads` counts the calling thread, which takes share 0 of every op. */
  static async create(memory: WebAssembly.Memory, modules: KernelModules, threads: number, source = BROWSER_KERNEL_WORKER_SOURCE): Promise<BrowserWorkerPool> {
    const workers: PoolWorker[] = [];
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    try {
      await Promise.all(Array.from({ length: threads - 1 }, async (_, i) => {
        const t = i + 1;
        const worker = new Worker(url, { name: `mamba-edge kernel ${t}` });
        const api = Comlink.wrap<BrowserKernelWorkerApi>(worker);
        const pw: PoolWorker = { worker, api, serving: Promise.resolve(), exited: null };
        workers.push(pw);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const failed = new Promise<never>((_, reject) => {
          worker.addEventListener('error', (e) => {
            pw.exited = `kernel worker ${t} failed: ${e.message || 'script error'}`;
            reject(new Error(pw.exited));
          });
          timer = setTimeout(() => reject(new Error(`kernel worker ${t} did not start within ${START_MS / 1000} s`)), START_MS);
        });
        failed.catch(() => undefined);
        try {
          await Promise.race([api.init({ memory, modules, thread: t, threads, controlBase: CONTROL_BASE }), failed]);
        } finally {
          clearTimeout(timer);
        }
      }));
    } catch (e) {
      for (const w of workers) w.worker.terminate();
      throw fail('E_BACKEND', `could not start the wasm worker pool: ${(e as Error).message}`, { cause: e });
    } finally {
      URL.revokeObjectURL(url);
    }
    const pool = new BrowserWorkerPool(memory, workers, modules);
    pool.barrier.open();
    for (const w of workers) w.serving = w.api.serve().catch((e: Error) => { w.exited ??= `kernel worker failed: ${e.message}`; });
    return pool;
  }

  run(kernel: KernelName, args: number[], n: number, work?: number): void {
    this.barrier.run(kernel, args, n, work);
  }

  prepare(kernel: KernelName, args: number[], n: number, work?: number): () => void {
    return this.barrier.prepare(kernel, args, n, work);
  }

  async dispose(): Promise<void> {
    if (!this.barrier.close()) return;
    await Promise.all(this.workers.map(async (w) => {
      if (!w.exited) await Promise.race([w.serving, new Promise((r) => setTimeout(r, 1000))]);
      w.api[Comlink.releaseProxy]();
      w.worker.terminate();
    }));
  }
}
