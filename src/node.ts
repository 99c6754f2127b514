/**
 * Node entry: everything in the browser entry, plus loading from local directories
 * (`loadModel('./my-model')`) and the embedded default model (`loadModel()`).
 */
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { setPathResolver, setRemoteCacheResolver } from './api/load.js';
import { directorySource } from './formats/source-node.js';
import { defaultCacheDir, directoryCache } from './formats/remote/cache-node.js';
import { setPoolFactory } from './backends/wasm/factory.js';
import { WorkerPool } from '../workers/pool.js';

/** models/default inside the installed package (dist/… and src/… both sit one level below the package root). */
export function defaultModelDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'models', 'default');
    if (existsSync(join(candidate, 'config.json'))) return candidate;
    dir = dirname(dir);
  }
  return join(dirname(dirname(fileURLToPath(import.meta.url))), 'models', 'default');
}

setPathResolver(directorySource, () => directorySource(defaultModelDir()));
// Remote sources (hf:…, https://…) keep their files in a directory: the cache option, else $MAMBA_EDGE_CACHE or ~/.cache/mamba-edge.
setRemoteCacheResolver((dir) => directoryCache(dir ?? defaultCacheDir()));
setPoolFactory((memory, modules, threads) => WorkerPool.create(memory, modules, threads), () => availableParallelism());

export { defaultCacheDir } from './formats/remote/cache-node.js';
export * from './index.js';
// Serving the HTTP handler from node:http (Node 20 has no fetch-style server).
export { nodeListener } from './server/node-http.js';
