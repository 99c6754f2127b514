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
import { withThreadArgs } from '../src/backends/wasm/executor.js';
import { instantiateKernels, type KernelModules, type KernelName, type KernelTable } from '../src/backends/wasm/kernels.js';
import { CONTROL_BASE } from '../src/backends/wasm/arena.js';
import { KERNEL_WORKER_SOURCE } from '../src/backends/wasm/worker.generated.js';
import { ARGS_OFFSET, DONE, ERROR, KERNEL, KERNEL_NAMES, MAX_ARGS, N, NARGS, QUIT, SEQ, SPIN_POLLS, shareOf } from './protocol.js';
import type { KernelWorkerApi } from './kernel-worker.js';

/** Ops below this many multiply-adds (≈ 50 µs on one thread, vs a 26–90 µs barrier) run on the calling thread alone. */
export const MIN_SHARED_WORK = 1 << 20;

/** No op takes this long: past it, a worker is presumed dead and the call fails. */
const STALL_MS = 60_000;

interface PoolWorker {
  worker: Worker;
  api: Comlink.Remote<KernelWorkerApi>;
  serving: Promise<void>;
  exited: string | null;
}

export class WorkerPool implements Executor {
  private readonly ctl: Int32Array;
  private readonly kernels: KernelTable;
  private broken: string | null = null;
  private disposed = false;

  private constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly workers: PoolWorker[],
    mods: KernelModules,
  ) {
    this.ctl = new Int32Array(memory.buffer, CONTROL_BASE, 16);
    this.kernels = instantiateKernels(mods, memory, 0);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  static async create(memory: WebAssembly.Memory, modules: KernelModules, threads: number): Promise<WorkerPool> {
    const workers: PoolWorker[] = [];
    try {
      for (let t = 1; t < threads; t++) {
        const worker = new Worker(KERNEL_WORKER_SOURCE, { eval: true, name: `mamba-edge kernel ${t}` });
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
    Atomics.store(pool.ctl, QUIT, 0);
    for (const w of workers) {
      w.serving = w.api.serve().catch((e: Error) => { w.exited ??= `kernel worker failed: ${e.message}`; });
      // A worker parked in the data plane must not keep Node alive on its own.
      w.worker.unref();
    }
    return pool;
  }

  run(kernel: KernelName, args: number[], n: number, work = Infinity): void {
    if (n <= 0) return;
    if (this.disposed) throw fail('E_BACKEND', 'the wasm worker pool has been disposed');
    const dead = this.broken ?? this.workers.find((w) => w.exited)?.exited;
    if (dead) {
      this.broken = dead;
      throw fail('E_BACKEND', `the wasm worker pool is broken: ${dead}; dispose the model and load it again`);
    }
    // Too little work to share: the barrier would cost more than it saves.
    if (n < this.threads || work < MIN_SHARED_WORK) {
      this.kernels[kernel](...withThreadArgs(args, 0), 0, n);
      return;
    }
    if (args.length > MAX_ARGS) throw fail('E_BACKEND', `kernel ${kernel}: ${args.length} arguments exceed the control block's ${MAX_ARGS}`);
    const ctl = this.ctl;
    new Float64Array(this.memory.buffer, CONTROL_BASE + ARGS_OFFSET, args.length).set(args);
    Atomics.store(ctl, KERNEL, KERNEL_NAMES.indexOf(kernel));
    Atomics.store(ctl, N, n);
    Atomics.store(ctl, NARGS, args.length);
    Atomics.store(ctl, DONE, 0);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);

    const [start, end] = shareOf(n, 0, this.threads);
    this.kernels[kernel](...withThreadArgs(args, 0), start, end);

    const others = this.workers.length;
    let polls = 0;
    const began = Date.now();
    for (let done = Atomics.load(ctl, DONE); done < others; done = Atomics.load(ctl, DONE)) {
      if (++polls > SPIN_POLLS) {
        Atomics.wait(ctl, DONE, done, 1000);
        polls = 0;
        if (Date.now() - began > STALL_MS) {
          this.broken = `a kernel worker did not finish ${kernel} within ${STALL_MS / 1000} s`;
          throw fail('E_BACKEND', `the wasm worker pool is broken: ${this.broken}`);
        }
      }
    }
    const err = Atomics.load(ctl, ERROR);
    if (err) {
      Atomics.store(ctl, ERROR, 0);
      throw fail('E_BACKEND', `kernel ${kernel} failed in worker thread ${err - 1}`);
    }
  }

  /** Test hook: end one worker as a crash would, to check that the pending call fails cleanly. */
  async killWorkerForTest(index = 0): Promise<void> {
    await this.workers[index].worker.terminate();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    await Promise.all(this.workers.map(async (w) => {
      if (!w.exited) await Promise.race([w.serving, new Promise((r) => setTimeout(r, 1000))]);
      w.api[Comlink.releaseProxy]();
      await w.worker.terminate();
    }));
  }
}
