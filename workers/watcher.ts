/**
 * The pool's watcher (Node): a small thread that owns the kernel workers. It exists because the
 * thread that coordinates ops cannot see a worker die: it blocks in Atomics.wait for the op's
 * shares, and a Worker's 'exit' / 'error' events are delivered to the event loop of the thread
 * that created it. This thread's event loop is always free, so a death (killed, crashed, out of
 * memory) reaches it at once; its KernelSupervisor (workers/supervisor.ts, shared with the
 * browser pool) writes that into the shared control block (LIVE bit cleared, exit code, EPOCH and
 * DONE bumped, DONE notified: workers/protocol.ts), which wakes the waiting coordinator, and starts
 * a replacement on the same thread index (which takes over once it is serving).
 *
 * Control is comlink, both ways, as everywhere in the pool (per-op data never is):
 *   pool → watcher    this file's WatcherApi, exposed on the watcher's parent port:
 *                     start (resolves once every kernel worker serves), quit, kill (tests)
 *   watcher → pool    SupervisorReports (ready / died / gaveUp), which the pool exposes on a
 *                     MessagePort it hands to start()
 *   watcher → kernel  each kernel worker's createKernelWorkerApi() (init, serve), on its own port
 *
 * Bundled with the kernel worker (workers/kernel-worker.ts picks the role from workerData), so
 * it needs no file at run time either.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Worker, type MessagePort } from 'node:worker_threads';
import { controlBlock, type KernelWorkerApi } from './barrier.js';
import { HELD, type WorkerInit } from './protocol.js';
import { KernelSupervisor, type Spawner, type SupervisorReports } from './supervisor.js';

export interface WatcherStart {
  /** The worker bundle's own source: each kernel worker runs it with role 'kernel'. */
  source: string;
  init: Omit<WorkerInit, 'thread'>;
  maxRestarts: number;
  /** The port on which the pool exposes its SupervisorReports (transferred). */
  reports: MessagePort;
}

/** Kernel workers as worker_threads running the bundle's 'kernel' role; their exit and error events feed the supervisor. */
export function nodeSpawner(source: string): Spawner {
  return (t, on) => {
    const worker = new Worker(source, {
      eval: true,
      name: `mamba-edge kernel ${t}`,
      // The parent's flags (e.g. --input-type=module) would make Node misread the CommonJS bundle.
      execArgv: [],
      workerData: { role: 'kernel' },
    });
    worker.on('error', (e) => on.error(e instanceof Error ? e.message : String(e)));
    worker.on('exit', (code) => on.exit(code));
    return { api: Comlink.wrap<KernelWorkerApi>(nodeEndpoint(worker)), end: () => { void worker.terminate(); } };
  };
}

/** The watcher's control API, exposed over comlink to the pool (workers/pool.ts). */
export function createWatcherApi() {
  let supervisor: KernelSupervisor | undefined;
  let ctl: Int32Array | undefined;

  return {
    /** Starts the kernel workers; resolves once all serve, rejects with why one did not start. */
    async start({ source, init, maxRestarts, reports }: WatcherStart): Promise<void> {
      ctl = controlBlock(init.memory, init.controlBase);
      supervisor = new KernelSupervisor(nodeSpawner(source), init, Comlink.wrap<SupervisorReports>(nodeEndpoint(reports)), maxRestarts);
      await supervisor.startAll();
    },

    /** After QUIT is set: resolves once every kernel worker is gone (one stuck inside an op is ended after a grace period). */
    quit(): Promise<void> {
      return supervisor?.quit() ?? Promise.resolve();
    },

    /**
     * Fault injection (tests): end kernel worker `thread` now, or with `whenHeld` once it holds
     * inside an op (FAULT_HOLD, set by the pool), so that the kill lands mid-op for certain.
     */
    kill(thread: number, whenHeld: boolean): void {
      if (!whenHeld) { supervisor?.end(thread); return; }
      const poll = setInterval(() => {
        if (Atomics.load(ctl!, HELD) !== 1 + thread) return;
        clearInterval(poll);
        Atomics.store(ctl!, HELD, 0);
        supervisor?.end(thread);
      }, 1);
    },
  };
}

export type WatcherApi = ReturnType<typeof createWatcherApi>;
