/**
 * The worker pool seen from the coordinating thread: an Executor whose `run` splits a
 * kernel's work range over `threads` (the coordinator takes share 0, each worker one more)
 * and joins them on an Atomics barrier. Node worker_threads; the worker code is the bundle
 * in src/backends/wasm/worker.generated.ts, so nothing needs a file path at run time.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Worker } from 'node:worker_threads';
import { fail } from '../src/errors.js';
import type { Executor } from '../src/backends/wasm/executor.js';
import { instantiateKernels, type KernelModules, type KernelName } from '../src/backends/wasm/kernels.js';
import { CONTROL_BASE } from '../src/backends/wasm/arena.js';
import { KERNEL_WORKER_SOURCE } from '../src/backends/wasm/worker.generated.js';
import { Barrier } from './barrier.js';
import type { KernelWorkerApi } from './kernel-worker.js';

export { MIN_SHARED_WORK } from './barrier.js';

interface PoolWorker {
  worker: Worker;
  api: Comlink.Remote<KernelWorkerApi>;
  serving: Promise<void>;
  exited: string | null;
}

export class WorkerPool implements Executor {
  private readonly barrier: Barrier;

  private constructor(memory: WebAssembly.Memory, private readonly workers: PoolWorker[], mods: KernelModules) {
    this.barrier = new Barrier(memory, instantiateKernels(mods, memory, 0), workers.length, CONTROL_BASE, () => workers.find((w) => w.exited)?.exited ?? null);
  }

  get threads(): number {
    return this.barrier.threads;
  }

  static async create(memory: WebAssembly.Memory, modules: KernelModules, threads: number): Promise<WorkerPool> {
    const workers: PoolWorker[] = [];
    try {
      for (let t = 1; t < threads; t++) {
        const worker = new Worker(KERNEL_WORKER_SOURCE, {
          eval: true,
          name: `mamba-edge kernel ${t}`,
          // The parent's flags (e.g. --input-type=module) would make Node misread the CommonJS bundle.
          execArgv: [],
        });
        const api = Comlink.wrap<KernelWorkerApi>(nodeEndpoint(worker));
        const pw: PoolWorker = { worker, api, serving: Promise.resolve(), exited: null };
        worker.on('exit', (code) => { pw.exited = `kernel worker ${t} exited with code ${code}`; });
        worker.on('error', (e) => { pw.exited = `kernel worker ${t} failed: ${e.message}`; });
        await api.init({ memory, modules, thread: t, threads, controlBase: CONTROL_BASE });
        workers.push(pw);
      }
    } catch (e) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw fail('E_BACKEND', `could not start the wasm worker pool: ${(e as Error).message}`, { cause: e });
    }
    const pool = new WorkerPool(memory, workers, modules);
    pool.barrier.open();
    for (const w of workers) {
      w.serving = w.api.serve().catch((e: Error) => { w.exited ??= `kernel worker failed: ${e.message}`; });
      // A worker parked in the data plane must not keep Node alive on its own.
      w.worker.unref();
    }
    return pool;
  }

  run(kernel: KernelName, args: number[], n: number, work?: number): void {
    this.barrier.run(kernel, args, n, work);
  }

  prepare(kernel: KernelName, args: number[], n: number, work?: number): () => void {
    return this.barrier.prepare(kernel, args, n, work);
  }

  /** Test hook: end one worker as a crash would, to check that the pending call fails cleanly. */
  async killWorkerForTest(index = 0): Promise<void> {
    await this.workers[index].worker.terminate();
  }

  /** Test hook: the worker itself, to end it at a moment of the test's choosing (without awaiting). */
  workerForTest(index = 0): Worker {
    return this.workers[index].worker;
  }

  /** Test hook: shorten how long an op waits for a worker that may have died (Barrier.stallMs). */
  setStallMsForTest(ms: number): void {
    this.barrier.stallMs = ms;
  }

  async dispose(): Promise<void> {
    if (!this.barrier.close()) return;
    await Promise.all(this.workers.map(async (w) => {
      if (!w.exited) {
        // Cleared afterwards: a pending timer would keep the process alive up to a second past dispose.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([w.serving, new Promise((r) => { timer = setTimeout(r, 1000); })]);
        clearTimeout(timer);
      }
      w.api[Comlink.releaseProxy]();
      await w.worker.terminate();
    }));
  }
}
