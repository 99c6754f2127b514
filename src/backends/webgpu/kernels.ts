/// <reference types="@webgpu/types" />
/**
 * Compute pipelines, built once per (kernel, variant) and cached — never per dispatch.
 * A kernel's source is gpu/wgsl/common.wgsl + (a weight loader) + (constants) + gpu/wgsl/<kernel>.wgsl:
 * variants differ by the loader they read weights through (f32 / f16 / q8_0) and by the state size
 * NS where a kernel keeps the state row in registers.
 */
import { fail } from '../../errors.js';
import { WGSL } from './shaders.generated.js';

export type WeightLoader = 'f32' | 'f16' | 'q8_0';

export interface KernelVariant {
  weights?: WeightLoader;
  /** Compile-time state size (kernels that hold a state row in registers). */
  NS?: number;
  /** Compile-time row quads per thread of a register-tiled product (ssd_chunk_state / ssd_chunk_out: 4·RQ rows × 4 columns). */
  RQ?: number;
}

/** KernelVariant's compile-time u32 constants, declared before the kernel's text and part of its cache key. */
const CONSTANTS = ['NS', 'RQ'] as const;

export class Kernels {
  private readonly cache = new Map<string, GPUComputePipeline>();
  /** Shader compile / pipeline errors, checked at the next read. */
  readonly errors: Promise<GPUError | null>[] = [];

  constructor(private readonly device: GPUDevice) {}

  get(name: string, v: KernelVariant = {}): GPUComputePipeline {
    const key = [name, v.weights ?? '', ...CONSTANTS.map((c) => v[c] ?? '')].join('|');
    let p = this.cache.get(key);
    if (p) return p;
    const body = WGSL[name];
    if (!body) throw fail('E_BACKEND', `webgpu: no kernel named ${name}`);
    const parts = [WGSL.common];
    if (v.weights) parts.push(WGSL[`weights_${v.weights}`]);
    for (const c of CONSTANTS) if (v[c] !== undefined) parts.push(`const ${c}: u32 = ${v[c]}u;`);
    parts.push(body);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ label: key, code: parts.join('\n') });
    p = this.device.createComputePipeline({ label: key, layout: 'auto', compute: { module, entryPoint: 'main' } });
    this.errors.push(this.device.popErrorScope());
    this.cache.set(key, p);
    return p;
  }
}
