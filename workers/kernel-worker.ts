/**
 * The worker bundle for Node (worker_threads), in two roles chosen by workerData.role:
 *   'watcher'  the thread that owns the kernel workers and reports their deaths (workers/watcher.ts)
 *   'kernel'   a kernel worker: instantiate the kernels on the shared memory from workerData, say
 *              'ready', then serve ops from the control block until QUIT (workers/barrier.ts);
 *              the thread then ends by itself. No control-plane calls after start: everything a
 *              worker needs is in workerData, so the watcher can start a replacement on its own.
 * Bundled into src/backends/wasm/worker.generated.ts by `npm run build:wasm`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createKernelWorkerApi } from './barrier.js';
import { watch, type WatcherInit } from './watcher.js';
import type { WorkerInit } from './protocol.js';

const data = workerData as WatcherInit | (WorkerInit & { role: 'kernel' });
if (data.role === 'watcher') {
  watch(data);
} else {
  const api = createKernelWorkerApi();
  api.init(data);
  parentPort!.postMessage('ready');
  api.serve();
}
