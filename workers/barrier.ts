/**
 * The pool's two halves that do not care what a thread is (worker_threads in Node, Web
 * Workers in browsers): the coordinator's `run` (post one op in the control block, run
 * share 0, join on the Atomics barrier) and the worker's `init`/`serve` loop. Each pool is
 * then a thin adapter that only starts workers and carries comlink's control plane over
 * its own message port: workers/browser/pool.ts + workers/browser/kernel-worker.ts today.
 *
 * The data plane is workers/protocol.ts; this file is its only implementation on both sides.
 * No Node or DOM imports: it is bundled for every runtime.
 */
import { fail } from '../src/errors.js';
import { SCRATCH, withThreadArgs } from '../src/backends/wasm/executor.js';
import { scratchFor } from '../src/backends/wasm/arena.js';
import { instantiateKernels, type KernelName, type KernelTable } from '../src/backends/wasm/kernels.js';
import { ARGS_OFFSET, DONE, ERROR, KERNEL, KERNEL_NAMES, MAX_ARGS, N, NARGS, QUIT, SEQ, SPIN_POLLS, shareOf, type WorkerInit } from './protocol.js';

/** Ops below this many multiply-adds (≈ 50 µs on one thread, vs a 26–90 µs barrier) run on the calling thread alone. */
export const MIN_SHARED_WORK = 1 << 20;

/** No op takes this long: past it, a worker is presumed dead and the call fails. */
export const STALL_MS = 60_000;

/**
 * The coordinating thread's side of the barrier. `workerFailure` names a worker that has
 * died (its adapter learns that from its own error/exit events), or returns null.
 */
export class Barrier {
  private readonly ctl: Int32Array;
  /** The control block's argument words (a shared memory's old buffers stay valid when it grows). */
  private readonly args: Float64Array;
  private broken: string | null = null;
  private disposed = false;
  /**
   * How long the coordinator waits for the workers' shares of one op. A worker that dies mid-op
   * cannot say so (its exit event waits for the event loop this thread is blocking), so this
   * bound is what turns a death into an error instead of a hang. Tests shorten it.
   */
  stallMs = STALL_MS;

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly kernels: KernelTable,
    /** Worker threads, not counting the coordinator. */
    private readonly others: number,
    /** Byte offset of the control block (arena.ts's CONTROL_BASE, also sent in every WorkerInit). */
    private readonly controlBase: number,
    private readonly workerFailure: () => string | null,
  ) {
    this.ctl = controlBlock(memory, controlBase);
    this.args = new Float64Array(memory.buffer, controlBase + ARGS_OFFSET, MAX_ARGS);
  }

  get threads(): number {
    return this.others + 1;
  }

  /** Before the workers' serve() calls go out: clear QUIT so they stay in the loop. */
  open(): void {
    Atomics.store(this.ctl, QUIT, 0);
  }

  run(kernel: KernelName, args: number[], n: number, work = Infinity): void {
    if (n <= 0) return;
    this.prepare(kernel, args, n, work)();
  }

  /**
   * One op made ready to repeat: the split decision, this thread's arguments and share, and the
   * f64 arguments the workers read are worked out here, once; the returned function posts and joins.
   */
  prepare(kernel: KernelName, args: number[], n: number, work = Infinity): () => void {
    if (n <= 0) return () => undefined;
    const fn = this.kernels[kernel];
    // Too little work to share: the barrier would cost more than it saves.
    if (n < this.threads || work < MIN_SHARED_WORK) {
      const all = [...withThreadArgs(args, 0), 0, n];
      return () => {
        this.check();
        fn.apply(undefined, all);
      };
    }
    if (args.length > MAX_ARGS) throw fail('E_BACKEND', `kernel ${kernel}: ${args.length} arguments exceed the control block's ${MAX_ARGS}`);
    const posted = Float64Array.from(args), index = KERNEL_NAMES.indexOf(kernel);
    const [start, end] = shareOf(n, 0, this.threads);
    const own = [...withThreadArgs(args, 0), start, end];
    return () => {
      this.check();
      const ctl = this.ctl;
      this.args.set(posted);
      Atomics.store(ctl, KERNEL, index);
      Atomics.store(ctl, N, n);
      Atomics.store(ctl, NARGS, posted.length);
      Atomics.store(ctl, DONE, 0);
      Atomics.add(ctl, SEQ, 1);
      Atomics.notify(ctl, SEQ);
      fn.apply(undefined, own);
      this.join(kernel);
    };
  }

  private check(): void {
    if (this.disposed) throw fail('E_BACKEND', 'the wasm worker pool has been disposed');
    const dead = this.broken ?? this.workerFailure();
    if (dead) {
      this.broken = dead;
      throw fail('E_BACKEND', `the wasm worker pool is broken: ${dead}; dispose the model and load it again`);
    }
  }

  /** Waits (spin, then Atomics.wait) until every worker has done its share of the posted op. */
  private join(kernel: KernelName): void {
    const ctl = this.ctl, others = this.others;
    let polls = 0;
    const began = Date.now();
    for (let done = Atomics.load(ctl, DONE); done < others; done = Atomics.load(ctl, DONE)) {
      if (++polls > SPIN_POLLS) {
        Atomics.wait(ctl, DONE, done, 1000);
        polls = 0;
        if (Date.now() - began > this.stallMs) {
          this.broken = `a kernel worker did not finish ${kernel} within ${this.stallMs / 1000} s (it may have died mid-op)`;
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

  /** Sets QUIT and wakes every worker: their serve() calls return. Later runs fail. Returns false if already closed. */
  close(): boolean {
    if (this.disposed) return false;
    this.disposed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    return true;
  }
}

/** The control block's Int32 words. A shared memory's old buffers stay valid when it grows, so one view lasts. */
function controlBlock(memory: WebAssembly.Memory, base: number): Int32Array {
  return new Int32Array(memory.buffer, base, 16);
}

/**
 * The worker's side, as the object comlink exposes:
 *   init(WorkerInit)  instantiate the kernels on the shared memory, set this thread's stack
 *   serve()           run ops from the control block until QUIT (resolves then)
 * While serving, the worker's event loop is parked in the data plane, so it answers no
 * comlink call until QUIT: the coordinator switches phases explicitly.
 */
export function createKernelWorkerApi() {
  let init: WorkerInit | undefined;
  let kernels: KernelTable | undefined;
  /** The last op sequence number this worker has seen. Read at init, before any op can be posted:
   *  reading it when serve() starts would race the coordinator's first op and miss it. */
  let seen = 0;

  return {
    init(msg: WorkerInit): void {
      init = msg;
      kernels = instantiateKernels(msg.modules, msg.memory, msg.thread);
      seen = Atomics.load(controlBlock(msg.memory, msg.controlBase), SEQ);
    },

    serve(): void {
      if (!init || !kernels) throw new Error('kernel worker: serve() before init()');
      const { memory, thread, threads, controlBase: base } = init;
      const ctl = controlBlock(memory, base);
      // A shared memory's buffers stay valid when it grows, so one view of the arguments lasts.
      const words = new Float64Array(memory.buffer, base + ARGS_OFFSET, MAX_ARGS);
      const scratch = scratchFor(thread), call: number[] = [];
      for (;;) {
        let polls = 0;
        while (Atomics.load(ctl, SEQ) === seen) {
          if (++polls > SPIN_POLLS) { Atomics.wait(ctl, SEQ, seen); polls = 0; }
        }
        seen = Atomics.load(ctl, SEQ);
        if (Atomics.load(ctl, QUIT)) return;
        try {
          const nargs = Atomics.load(ctl, NARGS);
          const [start, end] = shareOf(Atomics.load(ctl, N), thread, threads);
          if (end > start) {
            // One reused argument array per worker: no allocation per op.
            call.length = nargs + 2;
            for (let i = 0; i < nargs; i++) call[i] = words[i] === SCRATCH ? scratch : words[i];
            call[nargs] = start;
            call[nargs + 1] = end;
            kernels[KERNEL_NAMES[Atomics.load(ctl, KERNEL)]].apply(undefined, call);
          }
        } catch {
          Atomics.store(ctl, ERROR, 1 + thread);
        }
        Atomics.add(ctl, DONE, 1);
        Atomics.notify(ctl, DONE);
      }
    },
  };
}

export type KernelWorkerApi = ReturnType<typeof createKernelWorkerApi>;
