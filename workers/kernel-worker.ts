/**
 * A kernel worker (worker_threads in Node): the protocol's worker side (workers/barrier.ts)
 * with comlink over the parent port. Bundled into src/backends/wasm/worker.generated.ts by
 * `npm run build:wasm`.
 */
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { parentPort } from 'node:worker_threads';
import { createKernelWorkerApi } from './barrier.js';

const api = createKernelWorkerApi();
export type KernelWorkerApi = typeof api;
Comlink.expose(api, nodeEndpoint(parentPort!));
