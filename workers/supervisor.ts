/**
 * The part of a pool that owns the kernel workers — starts them, sees them die, replaces them —
 * written once for both runtimes: in Node the pool's watcher thread runs it (workers/watcher.ts),
 * in browsers the Web Worker pool runs it itself (workers/browser/pool.ts). Only how a thread is
 * started and ended differs, given as a `Spawner`.
 *
 * Control goes over comlink: every kernel worker exposes createKernelWorkerApi()
 * (workers/barrier.ts) on its port and the supervisor calls `init` (the worker instantiates the
 * kernels and sets its LIVE bit), then `serve`, which stays pending while the worker serves ops
 * from the shared control block (the data plane, workers/protocol.ts: no op goes over comlink)
 * and settles when it leaves that loop: at QUIT, or by an exception.
 *
 * A worker is gone when its runtime says so (Node: its `exit` event; browsers have none, so when
 * the supervisor has ended it). Why, for the report: the first of its serve() rejecting (its
 * loop threw: a crash, a JS heap out of memory), an `error` event, serve() returning without
 * QUIT, no answer to init within START_MS, else its exit code. Then, unless the pool is closing:
 * markDead (the op in flight fails with E_WORKER at once), a report, and a replacement on the same
 * thread index (it takes over once it serves). It gives up instead (GAVE_UP: the pool reports
 * itself broken) when the worker died before it started, or at the (MAX_RESTARTS + 1)th death.
 *
 * No Node or DOM imports: bundled for every runtime.
 */
import * as Comlink from 'comlink';
import { controlBlock, markDead, type KernelWorkerApi } from './barrier.js';
import { GAVE_UP, QUIT, type WorkerInit } from './protocol.js';

/** A worker that has not answered init in this long did not start (blocked script, no memory). */
export const START_MS = 30_000;
/** Deaths restarted in one pool's life; past them the pool is broken (a crash loop). */
export const MAX_RESTARTS = 16;
/** How long dispose lets a worker still inside an op (it leaves its loop at QUIT) go on before ending it. */
export const QUIT_GRACE_MS = 1000;

/**
 * What the supervisor tells its pool. Node: the pool exposes this object over comlink and the
 * watcher thread calls it; browsers: a plain call. Reports are for diagnostics: the coordinator
 * learns of a death from the control block, at once, whether or not it has heard the report.
 */
export interface SupervisorReports {
  /** Worker `thread` answered init and serves; `restart`: it replaces one that died. */
  ready(thread: number, restart: boolean): void;
  /** Worker `thread` died (`reason` says how); its replacement is starting. */
  died(thread: number, reason: string): void;
  /** Worker `thread` died and will not be replaced (GAVE_UP is set): the pool is broken. */
  gaveUp(thread: number, reason: string): void;
}

/** Reports as the pools keep them (`pool.events`): each death and restart, oldest first. */
export function eventLog(events: string[]): SupervisorReports {
  return {
    ready: (t, restart) => { if (restart) events.push(`kernel worker ${t} restarted`); },
    died: (_t, reason) => { events.push(reason); },
    gaveUp: (_t, reason) => { events.push(reason); },
  };
}

/** A started kernel worker, as its runtime's Spawner returns it. */
export interface KernelThread {
  /** The worker's createKernelWorkerApi(), over comlink. */
  api: Comlink.Remote<KernelWorkerApi>;
  /** Ends the thread (harmless twice or after it ended by itself); ThreadEvents.exit follows. */
  end(): void;
}

/** What a Spawner reports about the thread it started. */
export interface ThreadEvents {
  /** An uncaught error in the worker (its `error` event). */
  error(message: string): void;
  /** The thread is gone — ended by itself or by `end()` — with its exit code (browsers: ERRORED). Once. */
  exit(code: number): void;
}

/** Starts kernel worker `t` (the runtime's kind of thread, running the kernel worker bundle). */
export type Spawner = (t: number, on: ThreadEvents) => KernelThread;

interface Member {
  thread: KernelThread;
  ready: boolean;
  /** Why it is going, once known (see the header). */
  why: string;
  /** Fails the start() that started it, if still pending. */
  startFailed(e: Error): void;
}

export class KernelSupervisor {
  private readonly ctl: Int32Array;
  private readonly members = new Map<number, Member>();
  private deaths = 0;
  private quitting = false;
  private allGone: (() => void) | null = null;
  private quitted: Promise<void> | undefined;

  constructor(
    private readonly spawn: Spawner,
    /** What every worker's init gets, less its thread index. */
    private readonly init: Omit<WorkerInit, 'thread'>,
    private readonly reports: SupervisorReports,
    private readonly maxRestarts = MAX_RESTARTS,
  ) {
    this.ctl = controlBlock(init.memory, init.controlBase);
  }

  /** Starts workers 1 … threads − 1: resolves once all serve; rejects with the first failure to start (then call quit(0)). */
  async startAll(): Promise<void> {
    await Promise.all(Array.from({ length: this.init.threads - 1 }, (_, i) => this.start(i + 1, false)));
  }

  /** Ends worker `t` now, wherever it is (a kill: fault injection in tests). */
  end(t: number): void {
    this.members.get(t)?.thread.end();
  }

  /**
   * After the pool has set QUIT (Barrier.close): resolves once every worker is gone. Workers leave
   * their loop at QUIT and are then ended; one still inside an op after `graceMs` is ended there.
   */
  quit(graceMs = QUIT_GRACE_MS): Promise<void> {
    if (this.quitted) return this.quitted;
    this.quitting = true;
    if (this.members.size === 0) return (this.quitted = Promise.resolve());
    return this.quitted = new Promise((resolve) => {
      const timer = setTimeout(() => { for (const m of this.members.values()) m.thread.end(); }, graceMs);
      this.allGone = () => { clearTimeout(timer); resolve(); };
      // One still starting will not serve: end it now.
      for (const m of this.members.values()) if (!m.ready) m.thread.end();
    });
  }

  private closing(): boolean {
    return this.quitting || Atomics.load(this.ctl, QUIT) !== 0;
  }

  /** Starts worker `t` (or its replacement) and drives it over comlink: init, then serve until it leaves its loop. */
  private async start(t: number, restart: boolean): Promise<void> {
    let startFailed!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => { startFailed = reject; });
    failed.catch(() => undefined); // rejected on any death; only a pending start() listens
    const m: Member = { thread: undefined as unknown as KernelThread, ready: false, why: '', startFailed };
    try {
      m.thread = this.spawn(t, {
        error: (msg) => { m.why ||= `crashed (${msg})`; m.thread.end(); },
        exit: (code) => this.gone(t, m, code),
      });
    } catch (e) {
      // The runtime could not even create the thread (no resources, a blocked script URL).
      this.giveUp(t, `kernel worker ${t} did not start: ${(e as Error).message}`, null);
      throw e;
    }
    this.members.set(t, m);
    const timer = setTimeout(() => { m.why ||= `no answer to init within ${START_MS / 1000} s`; m.thread.end(); }, START_MS);
    try {
      // An init that throws (the kernels do not instantiate there) is a death before start: end the thread, then fail as gone() says.
      const answered = m.thread.api.init({ ...this.init, thread: t }).then(() => true, (e: unknown) => {
        m.why ||= `its init threw (${message(e)})`;
        m.thread.end();
        return false;
      });
      if (!(await Promise.race([answered, failed]))) await failed;
    } finally {
      clearTimeout(timer);
    }
    // Gone between init's answer and here: gone() has already reported it.
    if (this.members.get(t) !== m) throw new Error(`kernel worker ${t} ${m.why || 'ended'} as it started`);
    m.ready = true;
    this.reports.ready(t, restart);
    m.thread.api.serve().then(
      () => { if (!this.closing()) m.why ||= 'left its loop'; m.thread.end(); },
      (e: unknown) => { m.why ||= `crashed (${message(e)})`; m.thread.end(); },
    );
  }

  /** Worker `t` is gone: say so in the control block (if it has not), report, start a replacement or give up. */
  private gone(t: number, m: Member, code: number): void {
    if (this.members.get(t) !== m) return;
    this.members.delete(t);
    m.thread.api[Comlink.releaseProxy]();
    if (this.closing()) {
      m.startFailed(new Error(`kernel worker ${t} ended: the pool is closing`));
      if (this.members.size === 0) this.allGone?.();
      return;
    }
    const why = m.why || `exited with code ${code}`;
    if (!m.ready) {
      m.startFailed(new Error(this.giveUp(t, `kernel worker ${t} did not start: ${why}`, code)));
    } else if (++this.deaths > this.maxRestarts) {
      this.giveUp(t, `kernel worker ${t} ${why}, the ${this.deaths}th death in this pool (at most ${this.maxRestarts} are restarted)`, code);
    } else {
      markDead(this.ctl, t, code);
      this.reports.died(t, `kernel worker ${t} ${why}`);
      this.start(t, true).catch(() => undefined); // a replacement that does not start gives up (above)
    }
  }

  private giveUp(t: number, reason: string, code: number | null): string {
    // GAVE_UP first: the op failing on this death then says no replacement is coming.
    Atomics.store(this.ctl, GAVE_UP, 1 + t);
    markDead(this.ctl, t, code);
    this.reports.gaveUp(t, reason);
    return reason;
  }
}

/** An error's message, whatever was thrown (comlink rethrows a worker's Error as an Error). */
function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
