/// <reference types="@webgpu/types" />
/**
 * Finding a WebGPU device: `navigator.gpu` in browsers and workers, the `webgpu` npm package
 * (Dawn) in Node — installed as an optional dependency and loaded with a dynamic import from
 * src/node.ts, so an install without it still works (wasm is then the fallback).
 *
 * dawn.node 0.6.2 crashes the process when the object `create()` returned is garbage-collected
 * while a device made from it is alive, and the process does not exit while that object is
 * referenced (DESIGN.md, toolchain notes): the provider hands it back as `keepAlive`, the
 * backend holds it for the device's life and drops it on dispose.
 */

import { MambaEdgeError } from '../../errors.js';

/** Where GPU adapters come from, plus whatever must stay referenced while a device lives. */
export type GpuProvider = () => Promise<{ gpu: GPU; keepAlive: unknown } | { unavailable: string }>;

let nodeProvider: GpuProvider | null = null;

/** The Node entry installs the Dawn provider here (browsers use navigator.gpu). */
export function setGpuProvider(p: GpuProvider): void {
  nodeProvider = p;
}

/** Feature probe: is there a WebGPU entry point here at all (not yet whether an adapter exists)? */
export function supportsWebGPU(): boolean {
  return nodeProvider !== null || (typeof navigator !== 'undefined' && 'gpu' in navigator && !!(navigator as Navigator).gpu);
}

async function provide(): Promise<{ gpu: GPU; keepAlive: unknown } | { unavailable: string }> {
  if (nodeProvider) return nodeProvider();
  if (typeof navigator !== 'undefined' && (navigator as Navigator).gpu) return { gpu: (navigator as Navigator).gpu, keepAlive: null };
  return { unavailable: 'this runtime has no WebGPU (navigator.gpu is missing)' };
}

export interface GpuContext {
  adapter: GPUAdapter;
  device: GPUDevice;
  /** dawn.node's create() result: referenced until dispose (see the file comment). */
  keepAlive: unknown;
  isFallback: boolean;
  /** e.g. "nvidia hopper (NVIDIA H100 80GB HBM3)". */
  description: string;
  /** The adapter has shader-f16 (and the device was created with it). */
  shaderF16: boolean;
  maxBindingBytes: number;
  maxBufferBytes: number;
  minUniformAlign: number;
}

/**
 * dawn.node's `create()` flags from `$MAMBA_EDGE_DAWN_FLAGS` (Node only; space-separated), e.g.
 * `enable-dawn-features=skip_validation` (Dawn skips its command validation: less host time per
 * dispatch, but an invalid command is no longer reported — for benchmarks and A/B runs, not a default)
 * or `enable-dawn-features=disable_robustness` (no bounds clamps in the generated shaders). Each flag
 * must be `name=value` with a dawn.node option name (`enable-dawn-features`, `disable-dawn-features`,
 * `backend`, `adapter`) and a comma list of toggle names; anything else is a typed error, not ignored.
 */
export function dawnFlagsFromEnv(value: string | undefined): string[] {
  const flags = (value ?? '').split(/\s+/).filter(Boolean);
  for (const f of flags) {
    if (!/^(enable-dawn-features|disable-dawn-features|backend|adapter)=[A-Za-z0-9_.,: -]+$/.test(f)) {
      throw new MambaEdgeError('E_ARGUMENT', `MAMBA_EDGE_DAWN_FLAGS: "${f}" is not a dawn.node flag; expected enable-dawn-features=<toggle,...>, disable-dawn-features=<toggle,...>, backend=<name> or adapter=<name>`, { field: 'MAMBA_EDGE_DAWN_FLAGS' });
    }
  }
  return flags;
}

/** Storage buffers the widest kernel binds (selective_scan_out / _step: 10). */
export const STORAGE_BUFFERS_NEEDED = 10;

/** Whether devices made from now on ask for 'timestamp-query' where the adapter has it (requestTimestampQueries). */
let timestampQueries = false;
/**
 * @internal Benchmarks (bench/webgpu-decode-profile.ts): ask for the 'timestamp-query' feature on the
 * devices acquired after this call, where the adapter offers it (off by default: nothing else uses it).
 */
export function requestTimestampQueries(on: boolean): void {
  timestampQueries = on;
}

export interface AcquireOptions {
  /** Accept a software fallback adapter (lavapipe, SwiftShader): only when webgpu was asked for by name. */
  allowFallback: boolean;
}

export async function acquireDevice(opts: AcquireOptions): Promise<GpuContext | { unavailable: string }> {
  const p = await provide();
  if ('unavailable' in p) return p;
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await p.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { unavailable: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { unavailable: 'no WebGPU adapter was found (no GPU driver, or no Vulkan/Metal/D3D12 driver Dawn accepts)' };
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const isFallback = !!(info?.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const description = [info?.vendor, info?.architecture, info?.description ? `(${info.description})` : ''].filter(Boolean).join(' ') || 'unknown adapter';
  if (isFallback && !opts.allowFallback) {
    return { unavailable: `only a software fallback adapter is present (${description}); ask for backend 'webgpu' to use it` };
  }
  const lim = adapter.limits;
  if (lim.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS_NEEDED) {
    return { unavailable: `the adapter allows ${lim.maxStorageBuffersPerShaderStage} storage buffers per shader stage; the scan kernels need ${STORAGE_BUFFERS_NEEDED}` };
  }
  const shaderF16 = adapter.features.has('shader-f16');
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredFeatures: [
        ...(shaderF16 ? ['shader-f16' as const] : []),
        ...(timestampQueries && adapter.features.has('timestamp-query') ? ['timestamp-query' as const] : []),
      ],
      // Ask for the adapter's real limits (the defaults cap storage bindings at 128 MiB).
      requiredLimits: {
        maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
        maxBufferSize: lim.maxBufferSize,
        maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
        maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
      },
    });
  } catch (e) {
    return { unavailable: `requestDevice failed on ${description}: ${(e as Error).message}` };
  }
  return {
    adapter, device, keepAlive: p.keepAlive, isFallback, description, shaderF16,
    maxBindingBytes: Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize),
    maxBufferBytes: device.limits.maxBufferSize,
    minUniformAlign: device.limits.minUniformBufferOffsetAlignment,
  };
}
