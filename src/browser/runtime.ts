/**
 * loadModel as the browser entry exports it. On a page's main thread (browsers, webviews,
 * Electron renderers) the runtime moves into a dedicated coordinator worker, because the
 * pool's barrier blocks in Atomics.wait and pages may not; the page gets a Model whose calls
 * go to that worker (remote.ts). In a worker, an edge function or Node, it runs in place.
 * Without SharedArrayBuffer (pages without COOP/COEP) the coordinator runs the kernels on one
 * thread and `model.backendInfo.note` says so.
 *
 * @example
 * // a page: the model loads and generates in a worker; tokens stream back as they come
 * const model = await loadModel({ 'config.json': cfg, 'model.safetensors': weights, 'tokenizer.json': tok });
 * for await (const { text } of model.createSession().generate('Once', { maxTokens: 64 })) out.textContent += text;
 */
import type { LoadOptions, Model, ModelSource } from '../api/types.js';
import { loadModel as loadInPlace } from '../api/load.js';
import { COORDINATOR_SOURCE } from './coordinator-source.js';
import { canStartWebWorkers, isWindowScope } from './context.js';
import { installBrowserPool } from './install.js';
import { loadRemoteModel } from './remote.js';

installBrowserPool();

/** True where loadModel starts a coordinator worker (a page's main thread, with a bundled coordinator). */
export function loadsInWorker(): boolean {
  return COORDINATOR_SOURCE !== null && isWindowScope() && canStartWebWorkers();
}

/**
 * Load a model (see src/api/load.ts for sources and options). On a page's main thread the
 * model lives in a dedicated worker; everywhere else it runs in place.
 */
export function loadModel(source?: ModelSource, opts: LoadOptions = {}): Promise<Model> {
  if (loadsInWorker()) return loadRemoteModel(COORDINATOR_SOURCE!, source, opts);
  return loadInPlace(source, opts);
}
