/**
 * A kernel worker (worker_threads in Node). Control plane through comlink:
 *   init(WorkerInit)  instantiate the kernels on the shared memory, set this thread's stack
 *   serve()           run ops from the control block until QUIT (resolves then)
 * While serving, the worker's event loop is parked in the data plane (workers/protocol.ts),
 * so it answers no comlink call until QUIT: the coordinator switches phases explicitly.
 * Bundled into src/backends/wasm/worker.generated.ts by `npm run build:wasm`.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';
import { instantiateKernels, type KernelTable } from '../src/backends/wasm/kernels.js';
import { ARGS_OFFSET, DONE, ERROR, KERNEL, KERNEL_NAMES, N, NARGS, QUIT, SEQ, SPIN_POLLS, shareOf, type WorkerInit } from './protocol.js';
import { withThreadArgs } from '../src/backends/wasm/executor.js';

let init: WorkerInit | undefined;
let kernels: KernelTable | undefined;
/** The last op sequence number this worker has seen. Read at init, before any op can be posted:
 *  reading it when serve() starts would race the coordinator's first op and miss it. */
let seen = 0;

const api = {
  init(msg: WorkerInit): void {
    init = msg;
    kernels = instantiateKernels(msg.modules, msg.memory, msg.thread);
    seen = Atomics.load(new Int32Array(msg.memory.buffer, msg.controlBase, 16), SEQ);
  },

  serve(): void {
    if (!init || !kernels) throw new Error('kernel worker: serve() before init()');
    const { memory, thread, threads, controlBase } = init;
    const ctl = new Int32Array(memory.buffer, controlBase, 16);
    for (;;) {
      let polls = 0;
      while (Atomics.load(ctl, SEQ) === seen) {
        if (++polls > SPIN_POLLS) { Atomics.wait(ctl, SEQ, seen); polls = 0; }
      }
      seen = Atomics.load(ctl, SEQ);
      if (Atomics.load(ctl, QUIT)) return;
      try {
        // The memory may have grown since the last op: view it afresh.
        const args = new Float64Array(memory.buffer, controlBase + ARGS_OFFSET, Atomics.load(ctl, NARGS));
        const [start, end] = shareOf(Atomics.load(ctl, N), thread, threads);
        if (end > start) kernels[KERNEL_NAMES[Atomics.load(ctl, KERNEL)]](...withThreadArgs([...args], thread), start, end);
      } catch {
        Atomics.store(ctl, ERROR, 1 + thread);
      }
      Atomics.add(ctl, DONE, 1);
      Atomics.notify(ctl, DONE);
    }
  },
};

export type KernelWorkerApi = typeof api;
Comlink.expose(api, nodeEndpoint(parentPort!));
