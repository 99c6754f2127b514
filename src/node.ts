/// <reference types="@webgpu/types" />
/**
 * Node entry: everything in the browser entry, plus loading from local directories
 * (`loadModel('./my-model')`) and the embedded default model (`loadModel()`).
 */
import { fileURLToPath } from 'node:url';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setPathResolver, setRemoteCacheResolver } from './api/load.js';
import { directorySource } from './formats/source-node.js';
import type { FileSource } from './formats/source.js';
import { defaultCacheDir, directoryCache } from './formats/remote/cache-node.js';
import { setPoolFactory } from './backends/wasm/factory.js';
import { WorkerPool } from '../workers/pool.js';
import { dawnFlagsFromEnv, setGpuProvider } from './backends/webgpu/device.js';
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

/**
 * A folder path reads the folder; a path to a file (a .gguf) reads that one file (its magic
 * decides). A folder without config.json that holds exactly one .gguf file reads that file.
 */
function pathSource(path: string): FileSource {
  let kind: 'file' | 'dir' | undefined;
  try {
    const st = statSync(path);
    kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : undefined;
  } catch {
    // missing or unreadable: the directory source reports it with the OS reason
  }
  if (kind === 'file') return Object.assign(directorySource(dirname(path)), { entry: basename(path) });
  if (kind === 'dir' && !existsSync(join(path, 'config.json'))) {
    const ggufs = readdirSync(path).filter((n) => n.toLowerCase().endsWith('.gguf'));
    if (ggufs.length === 1) return Object.assign(directorySource(path), { entry: ggufs[0] });
  }
  return directorySource(path);
}

setPathResolver(pathSource, () => directorySource(defaultModelDir()));
// Remote sources (hf:…, https://…) keep their files in a directory: the cache option, else $MAMBA_EDGE_CACHE or ~/.cache/mamba-edge.
setRemoteCacheResolver((dir) => directoryCache(dir ?? defaultCacheDir()));
setPoolFactory((memory, modules, threads) => WorkerPool.create(memory, modules, threads), () => availableParallelism());
// WebGPU in Node through the optional `webgpu` package (Dawn), loaded only when a GPU backend is asked for.
setGpuProvider(async () => {
  let dawn: { create(flags: string[]): GPU };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (e) {
    return { unavailable: `the optional package "webgpu" (Dawn for Node) is not installed or failed to load: ${(e as Error).message}` };
  }
  // $MAMBA_EDGE_DAWN_FLAGS: Dawn toggles for A/B runs (device.ts, dawnFlagsFromEnv), e.g. enable-dawn-features=skip_validation.
  let flags: string[];
  try {
    flags = dawnFlagsFromEnv(process.env.MAMBA_EDGE_DAWN_FLAGS);
  } catch (e) {
    return { unavailable: (e as Error).message };
  }
  const gpu = dawn.create(flags);
  return { gpu, keepAlive: gpu }; // keep dawn's instance referenced while its device lives (DESIGN.md)
});
// The CUDA addon is optional: without a build, a driver or a GPU, `create` returns the reason and 'auto' moves on.
registerBackend({ name: 'cuda', create: () => createCudaBackend() });

export { defaultCacheDir } from './formats/remote/cache-node.js';
export * from './index.js';
// Serving the HTTP handler from node:http (Node 20 has no fetch-style server).
export { nodeListener } from './server/node-http.js';
