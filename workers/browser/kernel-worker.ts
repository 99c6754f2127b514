/**
 * A kernel worker in a browser (a Web Worker started by workers/browser/pool.ts from a Blob
 * URL): createKernelWorkerApi() (workers/barrier.ts, the same as the Node kernel worker's) exposed
 * over comlink on the worker's own postMessage, driven by the pool's KernelSupervisor
 * (workers/supervisor.ts). Bundled into src/browser/kernel-worker.generated.ts by
 * `npm run build:wasm`, so pages never configure a worker URL.
 */
import * as Comlink from 'comlink';
import { createKernelWorkerApi } from '../barrier.js';

Comlink.expose(createKernelWorkerApi());
