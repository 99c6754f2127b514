/**
 * The worker pool in browsers (and any runtime with Web Workers): an Executor over Web
 * Workers that share the backend's WebAssembly.Memory. The op barrier is workers/barrier.ts and
 * the workers' lifecycle (init and serve over comlink, deaths, replacements) is
 * workers/supervisor.ts, both shared with the Node pool; this file only says how a Web Worker is
 * started and ended. The coordinator blocks in Atomics.wait, which browsers allow in workers
 * only: in a page this pool lives in the coordinator worker (src/browser/coordinator-worker.ts),
 * and the supervisor runs on that same thread (a worker's death is handled when this thread is
 * between ops; the op it kills has failed by then, see below).
 *
 * A worker whose serve loop ends by an exception (out of memory in its JS heap, a bug) marks
 * itself dead in the shared block before it unwinds, so the op in flight fails with E_WORKER at
 * once (workers/barrier.ts); the supervisor then ends it and starts a replacement, as the Node
 * pool's watcher does. A worker ended from outside without an exception (browsers fire no event
 * for that, and only this thread could terminate it) is caught by the stall bound instead.
 */
import * as Comlink from 'comlink';
import { fail } from '../../src/errors.js';
import type { Executor } from '../../src/backends/wasm/executor.js';
import { instantiateKernels, type KernelModules, type KernelName } from '../../src/backends/wasm/kernels.js';
import { CONTROL_BASE } from '../../src/backends/wasm/arena.js';
import { BROWSER_KERNEL_WORKER_SOURCE } from '../../src/browser/kernel-worker.generated.js';
import { Barrier, ERRORED, clearControlBlock, type KernelWorkerApi } from '../barrier.js';
import { KernelSupervisor, eventLog, type Spawner } from '../supervisor.js';

/** Kernel workers as Web Workers from the bundle's Blob URL. Browsers fire no exit event: a worker is gone once ended. */
function webSpawner(url: string): Spawner {
  return (t, on) => {
    const worker = new Worker(url, { name: `mamba-edge kernel ${t}` });
    let ended = false;
    worker.addEventListener('error', (e) => on.error(e.message || 'script error'));
    return {
      api: Comlink.wrap<KernelWorkerApi>(worker),
      end: () => {
        if (ended) return;
        ended = true;
        worker.terminate();
        on.exit(ERRORED);
      },
    };
  };
}

export class BrowserWorkerPool implements Executor {
  private readonly barrier: Barrier;

  private constructor(
    memory: WebAssembly.Memory, modules: KernelModules, threads: number,
    private readonly supervisor: KernelSupervisor,
    /** The worker bundle's Blob URL, kept for the pool's life: replacements start from it. */
    private readonly url: string,
    /** Each death and restart, oldest first, for diagnostics. */
    readonly events: string[],
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
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const events: string[] = [];
    const supervisor = new KernelSupervisor(webSpawner(url), { memory, modules, threads, controlBase: CONTROL_BASE }, eventLog(events));
    try {
      await supervisor.startAll();
    } catch (e) {
      await supervisor.quit(0);
      URL.revokeObjectURL(url);
      throw fail('E_BACKEND', `could not start the wasm worker pool: ${(e as Error).message}`, { cause: e });
    }
    return new BrowserWorkerPool(memory, modules, threads, supervisor, url, events);
  }

  run(kernel: KernelName, args: number[], n: number, work?: number): void {
    this.barrier.run(kernel, args, n, work);
  }

  prepare(kernel: KernelName, args: number[], n: number, work?: number): () => void {
    return this.barrier.prepare(kernel, args, n, work);
  }

  async dispose(): Promise<void> {
    if (!this.barrier.close()) return;
    await this.supervisor.quit();
    URL.revokeObjectURL(this.url);
  }
}
