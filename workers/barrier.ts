/**
 * The pool's two halves that do not care what a thread is (worker_threads in Node, Web
 * Workers in browsers): the coordinator's `run` (post one op in the control block, run
 * share 0, join on the Atomics barrier) and the worker's `init`/`serve` loop, which each kernel
 * worker exposes over comlink (the control plane). Starting, watching and replacing the workers is
 * workers/supervisor.ts, also shared; each pool (workers/pool.ts with workers/watcher.ts in Node,
 * workers/browser/pool.ts) only says how its runtime starts and ends a thread.
 *
 * The data plane is workers/protocol.ts; this file is its only implementation on both sides.
 * No Node or DOM imports: it is bundled for every runtime.
 */
import { fail, type MambaEdgeError } from '../src/errors.js';
import { SCRATCH, withThreadArgs } from '../src/backends/wasm/executor.js';
import { scratchFor } from '../src/backends/wasm/arena.js';
import { instantiateKernels, type KernelName, type KernelTable } from '../src/backends/wasm/kernels.js';
import {
  ARGS_OFFSET, CONTROL_WORDS, DONE, DONE_SEQ, EPOCH, ERROR, EXIT_CODE, FAULT, FAULT_HOLD, FAULT_THROW, GAVE_UP, HELD, KERNEL, KERNEL_NAMES,
  LIVE, MAX_ARGS, N, NARGS, QUIT, SEQ, SPIN_POLLS, shareOf, type WorkerInit,
} from './protocol.js';

/** Ops below this many multiply-adds (≈ 50 µs on one thread, vs a 26–90 µs barrier) run on the calling thread alone. */
export const MIN_SHARED_WORK = 1 << 20;

/** No op takes this long: past it, a worker that is alive but not finishing is presumed hung and the pool is broken. */
export const STALL_MS = 60_000;

/**
 * How long one Atomics.wait of the coordinator lasts before it looks again. Wake-ups come by
 * notify (a worker's DONE, or the watcher's when a worker dies); the slice only bounds how
 * stale the stall clock can get.
 */
const WAIT_SLICE_MS = 100;

/** EXIT_CODE of a worker whose serve loop ended by an exception (it wrote this itself before unwinding). */
export const THREW = -1;
/** EXIT_CODE of a browser worker that fired an error event. */
export const ERRORED = -2;

/**
 * Worker `t` is gone: no longer live, its EPOCH bumped, the coordinator woken. `exitCode` is
 * recorded unless the worker already said it threw. Called by whoever sees the death first: the
 * worker itself (its loop threw), the watcher (Node), the pool (browsers); twice is harmless.
 */
export function markDead(ctl: Int32Array, t: number, exitCode: number | null): void {
  if (exitCode !== null && Atomics.load(ctl, EXIT_CODE + t) !== THREW) Atomics.store(ctl, EXIT_CODE + t, exitCode);
  Atomics.and(ctl, LIVE, ~(1 << t));
  Atomics.add(ctl, EPOCH + t, 1);
  Atomics.add(ctl, DONE, 1);
  Atomics.notify(ctl, DONE);
}

/**
 * The coordinating thread's side of the barrier. `workerFailure` returns why the pool cannot go
 * on (its adapter's own permanent failure, e.g. the watcher thread died), or null.
 *
 * A kernel worker that dies (killed, crashed, out of memory) is seen at once, whatever this
 * thread is doing: the watcher (the thread that owns the workers, whose event loop is free)
 * bumps the worker's EPOCH and DONE (workers/protocol.ts). Then:
 *   - the op in flight, if the dead worker had not finished its share, fails with E_WORKER
 *     (which worker, which op) once every surviving worker has finished its own share, so no
 *     thread writes to memory after the call has failed;
 *   - later ops run on this thread alone until the replacement the watcher starts is serving
 *     (LIVE complete again): the model stays usable, slower for the ~50 ms a worker takes to start.
 * What the failed op had half-written is the caller's to discard: a session whose state was
 * mid-update rolls back to its snapshot or refuses to continue (src/api/session.ts).
 */
export class Barrier {
  private readonly ctl: Int32Array;
  /** The control block's argument words (a shared memory's old buffers stay valid when it grows). */
  private readonly args: Float64Array;
  private broken: string | null = null;
  private disposed = false;
  private readonly allLive: number;
  /** Each worker's EPOCH when the op in flight was posted. */
  private readonly epochs: Int32Array;
  /**
   * How long the coordinator waits for a live worker's share of one op. Deaths are seen at
   * once (above); this bounds a worker that is alive but stuck. Tests shorten it.
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
    let mask = 0;
    for (let t = 1; t <= others; t++) mask |= 1 << t;
    this.allLive = mask;
    this.epochs = new Int32Array(others + 1);
  }

  get threads(): number {
    return this.others + 1;
  }

  /** Worker threads serving now (fewer than `threads − 1` while a replacement starts). */
  get liveWorkers(): number {
    let n = 0;
    for (let live = Atomics.load(this.ctl, LIVE) & this.allLive; live; live &= live - 1) n++;
    return n;
  }

  /** Test hook (fault injection): worker `t` holds inside its next op (to be killed there), or throws out of its loop there. */
  injectFault(t: number, mode: typeof FAULT_HOLD | typeof FAULT_THROW): void {
    Atomics.store(this.ctl, HELD, 0);
    Atomics.store(this.ctl, FAULT, (mode << 8) | t);
  }

  run(kernel: KernelName, args: number[], n: number, work = Infinity): void {
    if (n <= 0) return;
    this.prepare(kernel, args, n, work)();
  }

  /**
   * One op made ready to repeat (planned decode steps): the split decision, this thread's arguments
   * and share, and the f64 arguments the workers read are worked out here, once; the returned
   * function checks the pool, posts, runs share 0 and joins.
   */
  prepare(kernel: KernelName, args: number[], n: number, work = Infinity): () => void {
    if (n <= 0) return () => undefined;
    const fn = this.kernels[kernel];
    const whole = [...withThreadArgs(args, 0), 0, n];
    // Too little work to share: the barrier would cost more than it saves.
    if (n < this.threads || work < MIN_SHARED_WORK) {
      return () => {
        this.check();
        fn.apply(undefined, whole);
      };
    }
    if (args.length > MAX_ARGS) throw fail('E_BACKEND', `kernel ${kernel}: ${args.length} arguments exceed the control block's ${MAX_ARGS}`);
    const posted = Float64Array.from(args), index = KERNEL_NAMES.indexOf(kernel);
    const [start, end] = shareOf(n, 0, this.threads);
    const own = [...withThreadArgs(args, 0), start, end];
    return () => {
      this.check();
      const ctl = this.ctl;
      // A worker is being replaced: run the whole range here.
      if ((Atomics.load(ctl, LIVE) & this.allLive) !== this.allLive) {
        fn.apply(undefined, whole);
        return;
      }
      this.args.set(posted);
      Atomics.store(ctl, KERNEL, index);
      Atomics.store(ctl, N, n);
      Atomics.store(ctl, NARGS, posted.length);
      for (let t = 1; t <= this.others; t++) this.epochs[t] = Atomics.load(ctl, EPOCH + t);
      const seq = (Atomics.add(ctl, SEQ, 1) + 1) | 0;
      Atomics.notify(ctl, SEQ);
      fn.apply(undefined, own);
      this.join(kernel, seq);
      const err = Atomics.load(ctl, ERROR);
      if (err) {
        Atomics.store(ctl, ERROR, 0);
        throw fail('E_BACKEND', `kernel ${kernel} failed in worker thread ${err - 1}`);
      }
    };
  }

  /** Throws when the pool is disposed or broken (a worker that could not be restarted, or stuck). */
  private check(): void {
    if (this.disposed) throw fail('E_BACKEND', 'the wasm worker pool has been disposed');
    const gaveUp = Atomics.load(this.ctl, GAVE_UP);
    if (gaveUp && !this.broken) this.broken = `kernel worker ${gaveUp - 1} could not be restarted`;
    const dead = this.broken ?? this.workerFailure();
    if (dead) {
      this.broken = dead;
      throw fail('E_BACKEND', `the wasm worker pool is broken: ${dead}; dispose the model and load it again`);
    }
  }

  /** Waits until every worker has finished op `seq`; a worker dead before finishing fails it (after the survivors finish). */
  private join(kernel: KernelName, seq: number): void {
    const ctl = this.ctl;
    let polls = 0;
    let began = 0;
    for (;;) {
      const wake = Atomics.load(ctl, DONE);
      let running = 0;
      let diedInOp = 0;
      for (let t = 1; t <= this.others; t++) {
        if (Atomics.load(ctl, DONE_SEQ + t) === seq) continue;
        if (Atomics.load(ctl, EPOCH + t) !== this.epochs[t]) diedInOp |= 1 << t;
        else running++;
      }
      if (running === 0) {
        if (diedInOp === 0) return;
        throw this.died(kernel, diedInOp);
      }
      if (++polls > SPIN_POLLS) {
        began ||= Date.now();
        Atomics.wait(ctl, DONE, wake, WAIT_SLICE_MS);
        polls = 0;
        if (Date.now() - began > this.stallMs) {
          this.broken = `a kernel worker did not finish ${kernel} within ${this.stallMs / 1000} s (alive but stuck)`;
          throw fail('E_BACKEND', `the wasm worker pool is broken: ${this.broken}; dispose the model and load it again`);
        }
      }
    }
  }

  private died(kernel: KernelName, mask: number): MambaEdgeError {
    const which: number[] = [];
    for (let t = 1; t <= this.others; t++) if (mask & (1 << t)) which.push(t);
    const t = which[0];
    const code = Atomics.load(this.ctl, EXIT_CODE + t);
    const how = code === THREW ? 'its loop threw: crashed or out of memory'
      : code === ERRORED ? 'an error event: crashed or out of memory' : `exit code ${code}: killed, crashed or out of memory`;
    const after = Atomics.load(this.ctl, GAVE_UP)
      ? 'the pool will not restart it (see the next call\'s error)'
      : 'the pool is starting a replacement and the model stays usable';
    return fail('E_WORKER',
      `kernel worker ${which.join(', ')} (of ${this.others}) died during ${kernel} (${how}); this call failed and what it was computing is lost; ${after}`,
      { worker: t, op: kernel });
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

/** Before any worker starts: zero the control words (QUIT included) a previous pool on this memory may have left. */
export function clearControlBlock(memory: WebAssembly.Memory, base: number): void {
  const ctl = controlBlock(memory, base);
  ctl.fill(0, 0, ARGS_OFFSET / 4);
  ctl.fill(0, DONE_SEQ, CONTROL_WORDS);
}

/** The control block's Int32 words. A shared memory's old buffers stay valid when it grows, so one view lasts. */
export function controlBlock(memory: WebAssembly.Memory, base: number): Int32Array {
  return new Int32Array(memory.buffer, base, CONTROL_WORDS);
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
      const ctl = controlBlock(msg.memory, msg.controlBase);
      seen = Atomics.load(ctl, SEQ);
      // Serving from here (a replacement takes over thread t): the coordinator shares ops again once
      // every LIVE bit is set, and any op it posts from then on has a SEQ after `seen`.
      Atomics.store(ctl, EXIT_CODE + msg.thread, 0);
      Atomics.or(ctl, LIVE, 1 << msg.thread);
    },

    serve(): void {
      if (!init || !kernels) throw new Error('kernel worker: serve() before init()');
      const { memory, thread, controlBase: base } = init;
      const ctl = controlBlock(memory, base);
      try {
        serveOps(ctl);
      } catch (e) {
        // Out of the loop by an exception (a kernel's own errors are caught below): say so in the
        // shared block at once, as the watcher would for a killed thread, so the op fails now.
        Atomics.store(ctl, EXIT_CODE + thread, THREW);
        markDead(ctl, thread, null);
        throw e;
      }
    },
  };

  function serveOps(ctl: Int32Array): void {
    const { memory, thread, threads, controlBase: base } = init!;
    const table = kernels!;
    // A shared memory's buffers stay valid when it grows, so one view of the arguments lasts; one
    // reused argument array: no allocation per op.
    const words = new Float64Array(memory.buffer, base + ARGS_OFFSET, MAX_ARGS);
    const scratch = scratchFor(thread), call: number[] = [];
    for (;;) {
      let polls = 0;
      while (Atomics.load(ctl, SEQ) === seen) {
        if (++polls > SPIN_POLLS) { Atomics.wait(ctl, SEQ, seen); polls = 0; }
      }
      seen = Atomics.load(ctl, SEQ);
      if (Atomics.load(ctl, QUIT)) return;
      if (Atomics.load(ctl, FAULT) !== 0) injectedFault(ctl, thread);
      try {
        const nargs = Atomics.load(ctl, NARGS);
        const [start, end] = shareOf(Atomics.load(ctl, N), thread, threads);
        if (end > start) {
          call.length = nargs + 2;
          for (let i = 0; i < nargs; i++) call[i] = words[i] === SCRATCH ? scratch : words[i];
          call[nargs] = start;
          call[nargs + 1] = end;
          table[KERNEL_NAMES[Atomics.load(ctl, KERNEL)]].apply(undefined, call);
        }
      } catch {
        Atomics.store(ctl, ERROR, 1 + thread);
      }
      Atomics.store(ctl, DONE_SEQ + thread, seen);
      Atomics.add(ctl, DONE, 1);
      Atomics.notify(ctl, DONE);
    }
  }
}

/**
 * Fault injection (tests only; FAULT is 0 otherwise and this is never called): thread `t` named
 * in FAULT either holds here, inside the op, until the watcher kills it (HELD tells it when), or
 * throws out of the serve loop (an uncaught error: the worker crashes mid-op).
 */
function injectedFault(ctl: Int32Array, thread: number): void {
  const fault = Atomics.load(ctl, FAULT);
  if ((fault & 0xff) !== thread) return;
  Atomics.store(ctl, FAULT, 0);
  if (fault >> 8 === FAULT_THROW) throw new Error(`kernel worker ${thread}: injected crash`);
  if (fault >> 8 === FAULT_HOLD) {
    Atomics.store(ctl, HELD, 1 + thread);
    for (;;) Atomics.wait(ctl, FAULT, 0, 1000); // until terminated
  }
}

export type KernelWorkerApi = ReturnType<typeof createKernelWorkerApi>;
