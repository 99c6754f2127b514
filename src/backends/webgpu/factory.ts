/**
 * Creating the webgpu backend: a device (device.ts) wrapped in the backend (index.ts), or the
 * reason there is none, for the registry to report.
 */
import type { Backend } from '../backend.js';
import { acquireDevice } from './device.js';
import { WEBGPU_ENV, WebGpuBackend, type WebGpuOptions } from './index.js';
import { checkEnv } from '../env.js';

export interface CreateWebGpuOptions extends WebGpuOptions {
  /** Accept software fallback adapters (true when 'webgpu' was named; false under 'auto'). */
  allowFallback: boolean;
}

export async function createWebGpuBackend(opts: CreateWebGpuOptions): Promise<Backend | { unavailable: string }> {
  checkEnv('MAMBA_EDGE_WEBGPU_', WEBGPU_ENV); // before a device is acquired, so a bad switch leaks none
  const ctx = await acquireDevice({ allowFallback: opts.allowFallback });
  if ('unavailable' in ctx) return ctx;
  try {
    return new WebGpuBackend(ctx, opts);
  } catch (e) { // a bad option (scan, stepOutputs): the device just acquired goes back, not left to the collector
    ctx.device.destroy();
    throw e;
  }
}
