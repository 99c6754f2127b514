/**
 * Node entry: everything in the browser entry, plus loading from local directories
 * (`loadModel('./my-model')`) and the embedded default model (`loadModel()`).
 */
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { setPathResolver } from './api/load.js';
import { directorySource } from './formats/source-node.js';
import { setPoolFactory } from './backends/wasm/factory.js';
import { WorkerPool } from '../workers/pool.js';
import { registerBackend } from './backends/registry.js';
import { createCudaBackend } from './backends/cuda/factory.js';

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
setPoolFactory((memory, modules, threads) => WorkerPool.create(memory, modules, threads), () => availableParallelism());
// The CUDA addon is optional: without a build, a driver or a GPU, `create` returns the reason and 'auto' moves on.
registerBackend({ name: 'cuda', create: () => createCudaBackend() });

export * from './index.js';
