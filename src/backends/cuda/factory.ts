/**
 * Creating the cuda backend: load the addon (addon.ts), ask it whether a usable GPU is here, open a
 * device context. Every "no" is an `{ unavailable }` reason, never a throw, so `backend: 'auto'` can
 * pass over cuda and say why.
 */
import type { Backend } from '../backend.js';
import { loadAddon } from './addon.js';
import { CUDA_ENV, CudaBackend } from './index.js';
import { checkEnv } from '../env.js';

export interface CudaOptions {
  /** Addon files to try instead of the default locations (tests). */
  addonPaths?: readonly string[];
}

export async function createCudaBackend(opts: CudaOptions = {}): Promise<Backend | { unavailable: string }> {
  checkEnv('MAMBA_EDGE_CUDA_', CUDA_ENV); // a misspelt A/B switch is an error, not the default measured under its name
  const loaded = loadAddon(opts.addonPaths);
  if ('unavailable' in loaded) return loaded;
  const probe = loaded.addon.probe();
  if (!probe.available) return { unavailable: probe.reason };
  let dev;
  try {
    dev = new loaded.addon.Device();
  } catch (e) {
    return { unavailable: (e as Error).message };
  }
  const d = dev.info;
  const gib = (d.totalBytes / 2 ** 30).toFixed(1);
  return new CudaBackend(dev, {
    threads: 1,
    device: `cuda: ${d.name} (compute ${d.computeCapability}, ${d.multiprocessors} SMs, ${gib} GiB), ${d.cublas}`,
    ...(d.cublasLoaded ? {} : { note: d.cublas }),
  }, loaded.addon.attention);
}

