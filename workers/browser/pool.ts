/**
 * The worker pool in browsers (and any runtime with Web Workers): an Executor over Web
 * Workers that share the backend's WebAssembly.Memory. Starting workers and the comlink
 * control plane are all this file does; the op barrier is workers/barrier.ts, shared with
 * the worker's side. The coordinator blocks in Atomics.wait, which browsers allow in workers
 * only: in a page this pool lives in the coordinator worker (src/browser/coordinator-worker.ts).
 *
 * A worker whose serve loop ends by an exception (out of memory in its JS heap, a bug) marks
 * itself dead in the shared block before it unwinds, so the op in flight fails with E_WORKER at
 * once (workers/barrier.ts); this side then ends it and starts a replacement, as the Node pool's
 * watcher does. A worker ended from outside without an exception (browsers fire no event for
 * that, and only this thread could terminate it) is caught by the stall bound instead.
 */
import * as Comlink from 'comlink';
import { fail } from '../../src/errors.js';
import type { Executor } from '../../src/backends/wasm/executor.js';
import { instantiateKernels, type KernelModules, type KernelName } from '../../src/backends/wasm/kernels.js';
import { CONTROL_BASE } from '../../src/backends/wasm/arena.js';
import { BROWSER_KERNEL_WORKER_SOURCE } from '../../src/browser/kernel-worker.generated.js';
import { Barrier, ERRORED, clearControlBlock, controlBlock, markDead } from '../barrier.js';
import { GAVE_UP } from '../protocol.js';
import type { BrowserKernelWorkerApi } from './kernel-worker.js';

/** A worker that has not answered init in this long did not start (blocked script, no memory). */
const START_MS = 30_000;
/** Deaths restarted in one pool's life; past them the pool is broken (a crash loop). */
const MAX_RESTARTS = 16;

interface PoolWorker {
  worker: Worker;
  api: Comlink.Remote<BrowserKernelWorkerApi>;
  serving: Promise<void>;
  exited: string | null;
}

export class BrowserWorkerPool implements Executor {
  private readonly barrier: Barrier;
  private disposed = false;
  private deaths = 0;
  private readonly workers: PoolWorker[] = [];
  /** Each death and restart, oldest first, for diagnostics. */
  readonly events: string[] = [];

  private constructor(
    private readonly memory: WebAssembly.Memory, private readonly modules: KernelModules,
    threads: number, private readonly url: string,
  ) {
    this.barrier = new Barrier(memory, instantiateKernels(modules, memory, 0), threads - 1, CONTROL_BASE, () => null);
  }

  get threads(): number {
    return this.barrier.threads;
  }

  get liveWorkers(): number {
    return this.barrier.liveWorkers;
  }

  /** `threads` counts the calling thread, which takes share 0 of every op. */
  static async create(memory: WebAssembly.Memory, modules: KernelModules, threads: number, source = BROWSER_KERNEL_WORKER_SOURCE): Promise<BrowserWorkerPool> {
    clearControlBlock(memory, CONTROL_BASE);
    // Kept for the pool's life: replacements start from it.
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const pool = new BrowserWorkerPool(memory, modules, threads, url);
    try {
      await Promise.all(Array.from({ length: threads - 1 }, (_, i) => pool.start(i + 1)));
    } catch (e) {
      for (const w of pool.workers) w?.worker.terminate();
      URL.revokeObjectURL(url);
      throw fail('E_BACKEND', `could not start the wasm worker pool: ${(e as Error).message}`, { cause: e });
    }
    return pool;
  }

  /** Starts kernel worker `t` (or its replacement): init over comlink (which sets its LIVE bit), then serve. */
  private async start(t: number): Promise<void> {
    const worker = new Worker(this.url, { name: `mamba-edge kernel ${t}` });
    const api = Comlink.wrap<BrowserKernelWorkerApi>(worker);
    const pw: PoolWorker = { worker, api, serving: Promise.resolve(), exited: null };
    this.workers[t - 1] = pw;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const failed = new Promise<never>((_, reject) => {
      worker.addEventListener('error', (e) => {
        pw.exited = `kernel worker ${t} failed: ${e.message || 'script error'}`;
        reject(new Error(pw.exited));
        this.died(t, pw);
      });
      timer = setTimeout(() => reject(new Error(`kernel worker ${t} did not start within ${START_MS / 1000} s`)), START_MS);
    });
    failed.catch(() => undefined);
    try {
      await Promise.race([api.init({ memory: this.memory, modules: this.modules, thread: t, threads: this.threads, controlBase: CONTROL_BASE }), failed]);
    } finally {
      clearTimeout(timer);
    }
    pw.serving = api.serve().then(
      () => { if (!this.disposed) { pw.exited ??= `kernel worker ${t} left its loop`; this.died(t, pw); } },
      (e: Error) => { pw.exited ??= `kernel worker ${t} crashed: ${e.message}`; this.died(t, pw); },
    );
  }

  /** Worker `t` is gone: make sure the shared block says so, end it, start a replacement (or give up). */
  private died(t: number, pw: PoolWorker): void {
    if (this.disposed || this.workers[t - 1] !== pw) return;
    const ctl = controlBlock(this.memory, CONTROL_BASE);
    markDead(ctl, t, ERRORED);
    this.events.push(pw.exited ?? `kernel worker ${t} died`);
    pw.api[Comlink.releaseProxy]();
    pw.worker.terminate();
    if (++this.deaths > MAX_RESTARTS) { Atomics.store(ctl, GAVE_UP, 1 + t); return; }
    this.start(t).then(
      () => this.events.push(`kernel worker ${t} restarted`),
      (e: Error) => { this.events.push(e.message); Atomics.store(ctl, GAVE_UP, 1 + t); },
    );
  }

  run(kernel: KernelName, args: number[], n: number, work?: number): void {
    this.barrier.run(kernel, args, n, work);
  }

  prepare(kernel: KernelName, args: number[], n: number, work?: number): () => void {
    return this.barrier.prepare(kernel, args, n, work);
  }

  async dispose(): Promise<void> {
    if (!this.barrier.close()) return;
    this.disposed = true;
    await Promise.all(this.workers.map(async (w) => {
      if (!w.exited) await Promise.race([w.serving, new Promise((r) => setTimeout(r, 1000))]);
      w.api[Comlink.releaseProxy]();
      w.worker.terminate();
    }));
    URL.revokeObjectURL(this.url);
  }
}
