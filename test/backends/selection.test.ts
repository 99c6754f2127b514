/**
 * Backend selection: an explicit backend lacking an op the model needs is E_BACKEND naming
 * the op; 'auto' passes over it to the next backend that supports every op, and says why.
 * The partial backend here is the real reference backend with one op withdrawn.
 */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import { registerBackend } from '../../src/backends/registry.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import type { OpName } from '../../src/backends/backend.js';
import { randomModelFiles } from '../../tools/random-model.js';

class WithoutSsd extends ReferenceBackend {
  override supportsOp(op: OpName): boolean {
    return op !== 'ssdChunkScan' && super.supportsOp(op);
  }
}
registerBackend({ name: 'wasm', create: async () => Object.assign(new WithoutSsd(), { name: 'wasm', info: { name: 'wasm', threads: 1 } }) as never });

const mamba2 = randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 16, numLayers: 1, stateSize: 4, headDim: 8 });
const mamba1 = randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 16, numLayers: 1, stateSize: 4 });

describe('backend selection', () => {
  it('explicit backend without a needed op → E_BACKEND naming the op', async () => {
    const err = await loadModel(mamba2, { backend: 'wasm' }).catch((e) => e);
    expect(err.code).toBe('E_BACKEND');
    expect(err.message).toMatch(/ssdChunkScan/);
  });

  it("'auto' skips it for a model that needs the op, and says why", async () => {
    const m = await loadModel(mamba2);
    expect(m.backend).toBe('reference');
    expect(m.backendInfo.fallbackReason).toMatch(/wasm: does not support op "ssdChunkScan"/);
    expect(m.backendInfo.fallbackReason).toMatch(/webgpu/);
  });

  it("'auto' takes it for a model whose ops it has", async () => {
    const m = await loadModel(mamba1);
    expect(m.backend).toBe('wasm');
  });

  it('backends that are not built are E_BACKEND', async () => {
    for (const backend of ['cuda'] as const) {
      const err = await loadModel(mamba1, { backend }).catch((e) => e);
      expect(err.code).toBe('E_BACKEND');
      expect(err.message).toMatch(/not part of this build/);
    }
  });

  it('webgpu where the runtime has no WebGPU (the browser entry in Node) is E_BACKEND saying why', async () => {
    const err = await loadModel(mamba1, { backend: 'webgpu' }).catch((e) => e);
    expect(err.code).toBe('E_BACKEND');
    expect(err.message).toMatch(/webgpu" is unavailable: this runtime has no WebGPU/);
  });
});
