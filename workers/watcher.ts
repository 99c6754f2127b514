/**
 * The pool's watcher (Node): a small thread that owns the kernel workers. It exists because the
 * thread that coordinates ops cannot see a worker die: it blocks in Atomics.wait for the op's
 * shares, and a Worker's 'exit' / 'error' events are delivered to the event loop of the thread
 * that created it. This thread's event loop is always free, so a death (killed, crashed, out of
 * memory) reaches it at once; it writes that into the shared control block (LIVE bit cleared,
 * exit code, EPOCH and DONE bumped, DONE notified: workers/protocol.ts), which wakes the waiting
 * coordinator, and starts a replacement on the same thread index (which takes over once it is
 * serving). It gives up (GAVE_UP) when a worker dies before it started or after MAX_RESTARTS deaths.
 *
 * Messages to the pool (workers/pool.ts):  {type:'ready', thread, restart} | {type:'died', thread, reason}
 *                                          | {type:'gave-up', thread, reason}
 * Messages from the pool:                  {type:'quit'} (after QUIT is set) | {type:'kill', thread, whenHeld} (tests)
 *
 * Bundled with the kernel worker (workers/kernel-worker.ts picks the role from workerData), so
 * it needs no file at run time either.
 */
import { parentPort, Worker } from 'node:worker_threads';
import { controlBlock, markDead } from './barrier.js';
import { GAVE_UP, HELD, QUIT, type WorkerInit } from './protocol.js';

export interface WatcherInit {
  role: 'watcher';
  /** The worker bundle's own source: each kernel worker runs it with role 'kernel'. */
  source: string;
  init: Omit<WorkerInit, 'thread'>;
  maxRestarts: number;
}

export type WatcherMessage =
  | { type: 'ready'; thread: number; restart: boolean }
  | { type: 'died'; thread: number; reason: string }
  | { type: 'gave-up'; thread: number; reason: string };

export type PoolMessage = { type: 'quit' } | { type: 'kill'; thread: number; whenHeld: boolean };

export function watch({ source, init, maxRestarts }: WatcherInit): void {
  const port = parentPort!;
  const ctl = controlBlock(init.memory, init.controlBase);
  const workers = new Map<number, Worker>();
  let quitting = false;
  let deaths = 0;
  const post = (m: WatcherMessage) => port.postMessage(m);
  const finishIfDone = () => { if (quitting && workers.size === 0) process.exit(0); };

  const start = (t: number, restart: boolean) => {
    const w = new Worker(source, {
      eval: true,
      name: `mamba-edge kernel ${t}`,
      // The parent's flags (e.g. --input-type=module) would make Node misread the CommonJS bundle.
      execArgv: [],
      workerData: { role: 'kernel', ...init, thread: t } satisfies WorkerInit & { role: 'kernel' },
    });
    workers.set(t, w);
    let ready = false;
    let crash = '';
    w.on('message', (m) => {
      if (m !== 'ready') return;
      ready = true;
      post({ type: 'ready', thread: t, restart });
    });
    w.on('error', (e) => { crash = e instanceof Error ? e.message : String(e); });
    w.on('exit', (code) => {
      if (workers.get(t) === w) workers.delete(t);
      if (quitting || Atomics.load(ctl, QUIT)) { finishIfDone(); return; }
      const why = crash ? `crashed (${crash})` : `exited with code ${code}`;
      if (!ready || ++deaths > maxRestarts) {
        Atomics.store(ctl, GAVE_UP, 1 + t);
        markDead(ctl, t, code);
        post({ type: 'gave-up', thread: t, reason: !ready ? `kernel worker ${t} ${why} before it started` : `kernel worker ${t} ${why}, the ${deaths}th death in this pool (at most ${maxRestarts} are restarted)` });
        return;
      }
      markDead(ctl, t, code);
      post({ type: 'died', thread: t, reason: `kernel worker ${t} ${why}` });
      start(t, true);
    });
  };

  port.on('message', (m: PoolMessage) => {
    if (m.type === 'quit') {
      quitting = true;
      finishIfDone();
      // Workers leave their loop at QUIT; one stuck inside an op is ended after a grace period.
      setTimeout(() => { for (const w of workers.values()) void w.terminate(); }, 1000).unref();
    } else if (m.type === 'kill') {
      const kill = () => { void workers.get(m.thread)?.terminate(); };
      if (!m.whenHeld) { kill(); return; }
      // Fault injection: the worker holds inside an op (FAULT_HOLD); end it there, mid-op.
      const poll = setInterval(() => {
        if (Atomics.load(ctl, HELD) !== 1 + m.thread) return;
        clearInterval(poll);
        Atomics.store(ctl, HELD, 0);
        kill();
      }, 1);
    }
  });

  for (let t = 1; t < init.threads; t++) start(t, false);
}
