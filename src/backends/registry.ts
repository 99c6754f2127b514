/**
 * Backend selection. `'auto'` walks the preference order (cuda > webgpu > wasm > reference),
 * takes the first backend that is available here AND supports every op the model needs
 * (no per-op mixing), and records why it passed over the faster ones.
 */
import type { BackendChoice, BackendName } from '../api/types.js';
import { fail } from '../errors.js';
import type { Backend, OpName, WeightDType } from './backend.js';
import { ReferenceBackend } from './reference/index.js';
import { createWasmBackend } from './wasm/factory.js';
import { createWebGpuBackend } from './webgpu/factory.js';
import type { KernelModules } from './wasm/kernels.js';

export interface BackendOptions {
  threads?: number;
  /** Precompiled wasm kernels (LoadOptions.wasmModules). */
  wasmModules?: KernelModules;
  /** Set by selectBackend under 'auto' (GPU backends then skip software fallback adapters). */
  auto?: boolean;
}

/** A backend the build knows about: `create` returns it, or a reason it cannot run here. */
export interface BackendFactory {
  name: BackendName;
  create(opts: BackendOptions): Promise<Backend | { unavailable: string }>;
}

const factories = new Map<BackendName, BackendFactory>();

/** Backends add themselves here (the Node entry can add native ones). */
export function registerBackend(f: BackendFactory): void {
  factories.set(f.name, f);
}

registerBackend({ name: 'reference', create: async () => new ReferenceBackend() });
registerBackend({ name: 'wasm', create: (opts) => createWasmBackend(opts) });
// Hardware adapters under 'auto'; software fallback adapters (lavapipe, SwiftShader) only when named.
registerBackend({ name: 'webgpu', create: (opts) => createWebGpuBackend({ allowFallback: !opts.auto }) });

const PREFERENCE: BackendName[] = ['cuda', 'webgpu', 'wasm', 'reference'];
const NOT_BUILT: Record<BackendName, string> = {
  cuda: 'the cuda backend is not part of this build (an N-API addon that only the Node entry registers)',
  webgpu: 'the webgpu backend is not part of this build yet',
  wasm: 'the wasm backend is not part of this build yet',
  reference: '',
};

/** What a model needs of a backend. */
export interface Requirements {
  ops: readonly OpName[];
  dtype: WeightDType;
  /** The model's parameter count, when known: 'auto' leaves small models on the CPU. */
  parameters?: number;
}

/**
 * 'auto' considers webgpu from this many parameters up. Below it the CPU is faster: a GPU decode
 * step costs one submission of ~270 dispatches plus a read-back whatever the model's size (about
 * 7 ms per token on an H100 through Dawn, BENCHMARKS.md), while the wasm backend streams a 16M-
 * parameter f32 model (64 MB) per token in ~2 ms at 35 GB/s. It also keeps the probe (loading Dawn,
 * enumerating Vulkan drivers) off the start-up path of small models such as the default one.
 */
export const AUTO_WEBGPU_MIN_PARAMETERS = 16_000_000;

/** Why `b` cannot run the model, or null when it can. */
function lacks(b: Backend, need: Requirements): string | null {
  const op = need.ops.find((o) => !b.supportsOp(o));
  if (op) return `does not support op "${op}", which this model needs`;
  if (!b.supportsDType(need.dtype)) return `cannot store ${need.dtype} weights`;
  return null;
}

export async function selectBackend(choice: BackendChoice, need: Requirements, opts: BackendOptions): Promise<Backend> {
  if (choice !== 'auto') {
    if (!PREFERENCE.includes(choice as BackendName)) {
      throw fail('E_ARGUMENT', `backend must be one of auto, ${PREFERENCE.join(', ')}; got "${String(choice)}"`, { field: 'backend' });
    }
    const f = factories.get(choice);
    if (!f) throw fail('E_BACKEND', `backend "${choice}" is unavailable: ${NOT_BUILT[choice]}`, { field: 'backend' });
    const b = await f.create(opts);
    if ('unavailable' in b) throw fail('E_BACKEND', `backend "${choice}" is unavailable: ${b.unavailable}`, { field: 'backend' });
    const why = lacks(b, need);
    if (why) {
      await b.dispose();
      throw fail('E_BACKEND', `backend "${choice}" ${why}`, { field: 'backend' });
    }
    return b;
  }
  const passedOver: string[] = [];
  for (const name of PREFERENCE) {
    const f = factories.get(name);
    if (!f) { passedOver.push(`${name}: ${NOT_BUILT[name]}`); continue; }
    if (name === 'webgpu' && need.parameters !== undefined && need.parameters < AUTO_WEBGPU_MIN_PARAMETERS) {
      passedOver.push(`webgpu: not tried for a model of ${need.parameters} parameters, which runs faster on the CPU (auto uses webgpu from ${AUTO_WEBGPU_MIN_PARAMETERS}; ask for backend 'webgpu' to use it anyway)`);
      continue;
    }
    const b = await f.create({ ...opts, auto: true });
    if ('unavailable' in b) { passedOver.push(`${name}: ${b.unavailable}`); continue; }
    const why = lacks(b, need);
    if (why) { passedOver.push(`${name}: ${why}`); await b.dispose(); continue; }
    if (passedOver.length) (b.info as { fallbackReason?: string }).fallbackReason = passedOver.join('; ');
    return b;
  }
  throw fail('E_BACKEND', `no backend can run this model: ${passedOver.join('; ')}`);
}
