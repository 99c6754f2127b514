/**
 * In a Web Worker scope (the coordinator worker, or a user's own worker) the wasm backend's
 * pool is Web Workers: install it. Elsewhere nothing happens (Node installs worker_threads in
 * src/node.ts; a page's main thread gets no pool, since its coordinator lives in a worker).
 */
import { setPoolFactory } from '../backends/wasm/factory.js';
import { BrowserWorkerPool } from '../../workers/browser/pool.js';
import { canStartWebWorkers, isWorkerScope } from './context.js';

export function installBrowserPool(): boolean {
  if (!isWorkerScope() || !canStartWebWorkers()) return false;
  setPoolFactory((memory, modules, threads) => BrowserWorkerPool.create(memory, modules, threads));
  return true;
}
