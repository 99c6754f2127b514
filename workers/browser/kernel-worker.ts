/**
 * A kernel worker in a browser (a Web Worker started by workers/browser/pool.ts from a Blob
 * URL). Same protocol as the Node worker (workers/protocol.ts, workers/barrier.ts); comlink
 * runs over the worker's own postMessage. Bundled into src/browser/kernel-worker.generated.ts
 * by `npm run build:wasm`, so pages never configure a worker URL.
 */
import * as Comlink from 'comlink';
import { createKernelWorkerApi } from '../barrier.js';

const api = createKernelWorkerApi();
export type BrowserKernelWorkerApi = typeof api;
Comlink.expose(api);
