/**
 * The worker bundle for Node (worker_threads), in two roles chosen by workerData.role; each
 * exposes its control API over comlink on its parent port (nothing else goes over it: ops run
 * through the shared control block, workers/protocol.ts):
 *   'watcher'  the thread that owns the kernel workers and reports their deaths: WatcherApi
 *              (workers/watcher.ts), called by the pool (workers/pool.ts)
 *   'kernel'   a kernel worker: createKernelWorkerApi() (workers/barrier.ts), called by the
 *              watcher: init (instantiate the kernels on the shared memory), then serve ops until QUIT
 * Bundled into src/backends/wasm/worker.generated.ts by `npm run build:wasm`.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort, workerData } from 'node:worker_threads';
import { createKernelWorkerApi } from './barrier.js';
import { createWatcherApi } from './watcher.js';

const role = (workerData as { role: 'watcher' | 'kernel' }).role;
Comlink.expose(role === 'watcher' ? createWatcherApi() : createKernelWorkerApi(), nodeEndpoint(parentPort!));
