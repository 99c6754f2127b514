/**
 * The worker pool seen from the coordinating thread: an Executor whose `run` splits a
 * kernel's work range over `threads` (the coordinator takes share 0, each worker one more)
 * and joins them on an Atomics barrier (workers/barrier.ts). Node worker_threads; the worker
 * code is the bundle in src/backends/wasm/worker.generated.ts, so nothing needs a file path at
 * run time.
 *
 * The kernel workers are started and owned by a watcher thread (workers/watcher.ts), not by
 * this one: this thread blocks in Atomics.wait during every op and would see a worker's death
 * only when it next returns to its event loop. The watcher flags a death in shared memory at
 * once (the pending op fails with E_WORKER within milliseconds) and starts a replacement; this
 * side only starts the watcher, keeps its reports, and stops it on dispose — all over comlink
 * (the watcher's WatcherApi; this side exposes SupervisorReports on a MessageChannel for it).
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { fail } from '../src/errors.js';
import type { Executor } from '../src/backends/wasm/executor.js';
import { instantiateKernels, type KernelModules, type KernelName } from '../src/backends/wasm/kernels.js';
import { CONTROL_BASE } from '../src/backends/wasm/arena.js';
import { KERNEL_WORKER_SOURCE } from '../src/backends/wasm/worker.generated.js';
import { Barrier, clearControlBlock } from './barrier.js';
import { FAULT_HOLD, FAULT_THROW } from './protocol.js';
import { MAX_RESTARTS, QUIT_GRACE_MS, START_MS, eventLog } from './supervisor.js';
import type { WatcherApi, WatcherStart } from './watcher.js';

export { MIN_SHARED_WORK } from './barrier.js';
export { MAX_RESTARTS } from './supervisor.js';

/** The watcher itself answers start within this (its kernel workers each have START_MS). */
const WATCHER_START_MS = START_MS + 5000;

export class WorkerPool implements Executor {
  private readonly barrier: Barrier;
  /** Why the pool cannot go on besides the barrier's own reasons: the watcher thread itself ended. */
  private failure: string | null = null;
  private watcherExited = false;

  private constructor(
    memory: WebAssembly.Memory, threads: number, mods: KernelModules,
    private readonly watcher: Worker,
    private readonly control: Comlink.Remote<WatcherApi>,
    /** Where this side exposes the watcher's reports. */
    private readonly reportsPort: MessagePort,
    /** What the watcher reported, oldest first: each death and restart, for diagnostics and tests. */
    readonly events: string[],
  ) {
    this.barrier = new Barrier(memory, instantiateKernels(mods, memory, 0), threads - 1, CONTROL_BASE, () => this.failure);
    watcher.on('error', (e) => { this.failure ??= `the pool's watcher thread failed: ${e.message}`; });
    watcher.on('exit', (code) => {
      this.watcherExited = true;
      this.failure ??= `the pool's watcher thread exited with code ${code}`;
    });
  }

  get threads(): number {
    return this.barrier.threads;
  }

  /** Kernel workers serving now: `threads − 1`, or fewer while a replacement starts (ops then run on the calling thread). */
  get liveWorkers(): number {
    return this.barrier.liveWorkers;
  }

  static async create(memory: WebAssembly.Memory, modules: KernelModules, threads: number): Promise<WorkerPool> {
    clearControlBlock(memory, CONTROL_BASE);
    const watcher = new Worker(KERNEL_WORKER_SOURCE, { eval: true, name: 'mamba-edge pool watcher', execArgv: [], workerData: { role: 'watcher' } });
    const control = Comlink.wrap<WatcherApi>(nodeEndpoint(watcher));
    const events: string[] = [];
    const { port1, port2 } = new MessageChannel();
    Comlink.expose(eventLog(events), nodeEndpoint(port1));
    // The reports port must not keep Node alive on its own (nor, below, the watcher).
    port1.unref();
    let onError: (e: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const start: WatcherStart = {
        source: KERNEL_WORKER_SOURCE, maxRestarts: MAX_RESTARTS, reports: port2,
        init: { memory, modules, threads, controlBase: CONTROL_BASE },
      };
      await Promise.race([
        control.start(Comlink.transfer(start, [port2])),
        new Promise<never>((_, reject) => {
          onError = reject;
          onExit = (code) => reject(new Error(`the pool's watcher thread exited with code ${code}`));
          watcher.on('error', onError).on('exit', onExit);
          timer = setTimeout(() => reject(new Error(`the kernel workers did not start within ${WATCHER_START_MS / 1000} s`)), WATCHER_START_MS);
        }),
      ]);
    } catch (e) {
      control[Comlink.releaseProxy]();
      port1.close();
      await watcher.terminate();
      throw fail('E_BACKEND', `could not start the wasm worker pool: ${(e as Error).message}`, { cause: e });
    } finally {
      clearTimeout(timer);
      watcher.off('error', onError).off('exit', onExit);
    }
    const pool = new WorkerPool(memory, threads, modules, watcher, control, port1, events);
    // A pool parked between ops must not keep Node alive on its own.
    watcher.unref();
    return pool;
  }

  run(kernel: KernelName, args: number[], n: number, work?: number): void {
    this.barrier.run(kernel, args, n, work);
  }

  prepare(kernel: KernelName, args: number[], n: number, work?: number): () => void {
    return this.barrier.prepare(kernel, args, n, work);
  }

  /**
   * Test hook (fault injection): end kernel worker `thread` as a kill would — now (wherever it is,
   * usually idle between ops), or with `midOp` inside the next op shared with it (the worker
   * holds there until the watcher ends it, so the kill lands mid-op for certain).
   */
  killWorkerForTest(thread = 1, opts: { midOp?: boolean } = {}): void {
    if (opts.midOp) this.barrier.injectFault(thread, FAULT_HOLD);
    // comlink posts the call now, before this thread next blocks in an op.
    void this.control.kill(thread, opts.midOp ?? false);
  }

  /** Test hook (fault injection): kernel worker `thread` throws out of its serve loop inside the next op shared with it (a crash). */
  crashWorkerForTest(thread = 1): void {
    this.barrier.injectFault(thread, FAULT_THROW);
  }

  /** Test hook: shorten how long an op waits for a live worker that does not finish (Barrier.stallMs). */
  setStallMsForTest(ms: number): void {
    this.barrier.stallMs = ms;
  }

  async dispose(): Promise<void> {
    if (!this.barrier.close()) return;
    if (!this.watcherExited) {
      // Workers leave their loop at QUIT; the watcher ends them (a stuck one after QUIT_GRACE_MS).
      // Cleared afterwards: a pending timer would keep the process alive past dispose.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.control.quit(),
        new Promise((r) => this.watcher.once('exit', r)),
        new Promise((r) => { timer = setTimeout(r, QUIT_GRACE_MS + 2000); }),
      ]);
      clearTimeout(timer);
    }
    this.control[Comlink.releaseProxy]();
    this.reportsPort.close();
    await this.watcher.terminate();
  }
}
