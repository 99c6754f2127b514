/**
 * Where this code runs, as small pure probes (the browser entry decides with them whether the
 * runtime runs in place or in a coordinator worker).
 */

/** A dedicated/shared/service worker scope (not Node's worker_threads, which have no WorkerGlobalScope). */
export function isWorkerScope(): boolean {
  const g = globalThis as { WorkerGlobalScope?: abstract new () => unknown };
  return typeof g.WorkerGlobalScope === 'function' && globalThis instanceof g.WorkerGlobalScope;
}

/** A page's main thread (browsers, webviews, Electron renderers): Atomics.wait is forbidden here. */
export function isWindowScope(): boolean {
  const g = globalThis as { window?: unknown; document?: unknown };
  return !isWorkerScope() && typeof g.window === 'object' && g.window === globalThis && typeof g.document === 'object';
}

/** Web Workers from Blob URLs can be started here. */
export function canStartWebWorkers(): boolean {
  return typeof Worker === 'function' && typeof Blob === 'function' && typeof URL === 'function' && typeof URL.createObjectURL === 'function';
}
