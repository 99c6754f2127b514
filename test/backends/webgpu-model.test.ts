/**
 * The webgpu backend under whole models: f16 and q8_0 weights, 'auto' selection, device loss.
 * f16: the same model loaded with dtype 'f16' on webgpu and on the reference backend (which stores
 * the same rounded f16 weights) must agree as closely as f32 does — 1e-4 of the logit scale.
 * q8_0: the weights are quantized exactly as ggml (and the wasm backend) does; wasm also quantizes
 * the activations, we dequantize weights into f32 dot products. So the GPU's distance to the f32
 * model must be > 0 (really quantized) and no larger than the wasm q8_0 model's distance (measured:
 * equal to 1e-6 on Mamba-1 goldens, 30–60% smaller on Mamba-2, whose norms amplify activation rounding).
 */
import { describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import { MambaEdgeError } from '../../src/errors.js';
import { acquireDevice } from '../../src/backends/webgpu/device.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import { goldenCases, maxAbsDiff } from '../helpers/goldens.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { AUTO_WEBGPU_MIN_PARAMETERS, selectBackend } from '../../src/backends/registry.js';
import { mamba } from '../../src/models/mamba.js';
import { adapterMissing } from '../helpers/webgpu.js';
import { cudaUnavailable } from '../cuda/available.js';

vi.setConfig({ testTimeout: 180_000 });
const probe = await acquireDevice({ allowFallback: true });
const reason = adapterMissing('webgpu model tests', probe);
const isFallback = 'unavailable' in probe ? false : probe.isFallback;
if (!('unavailable' in probe)) probe.device.destroy();

describe.skipIf(reason !== null)('webgpu models', () => {
  const cases = goldenCases().filter((c) => c.name === 'm1-tied' || c.name === 'm2-g2-noconvbias');

  for (const c of cases) {
    it(`${c.name}: f16 weights match the reference backend's f16 model`, async () => {
      const gpu = await loadModel(c.dir, { backend: 'webgpu', dtype: 'f16' });
      const ref = await loadModel(c.dir, { backend: 'reference', dtype: 'f16' });
      const a = await gpu.forward(c.inputIds);
      const b = await ref.forward(c.inputIds);
      const { diff, scale } = maxAbsDiff(a.logits, b.logits);
      expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
      await gpu.dispose();
    });

    it(`${c.name}: q8_0 weights stay within the quantization error of f32`, async () => {
      const q = await loadModel(c.dir, { backend: 'webgpu', dtype: 'q8_0' });
      const f = await loadModel(c.dir, { backend: 'webgpu' });
      const w = await loadModel(c.dir, { backend: 'wasm', dtype: 'q8_0', threads: 1 });
      const a = await q.forward(c.inputIds);
      const b = await f.forward(c.inputIds);
      const ours = maxAbsDiff(a.logits, b.logits);
      const wasms = maxAbsDiff((await w.forward(c.inputIds)).logits, b.logits);
      expect(ours.diff).toBeGreaterThan(1e-4 * ours.scale); // really quantized
      expect(ours.diff).toBeLessThanOrEqual(wasms.diff * 1.01 + 1e-5 * ours.scale);
      await q.dispose();
      await f.dispose();
      await w.dispose();
    });
  }

  const files = randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 16, numLayers: 2, stateSize: 4 });

  // 'auto' prefers cuda to webgpu (registry.ts PREFERENCE): where the addon and an NVIDIA GPU are present,
  // it is chosen for every model it can run, so the webgpu half of the choice is checked where cuda is not.
  const cudaHere = cudaUnavailable === null;
  it.runIf(cudaHere)("'auto' picks cuda before webgpu where the addon and a GPU are present", async () => {
    const m = await loadModel(files, { backend: 'auto' });
    expect(m.backend).toBe('cuda');
    await m.dispose();
  });

  it.skipIf(cudaHere)("'auto' leaves small models on the CPU without probing the GPU, and says so", async () => {
    const m = await loadModel(files, { backend: 'auto' });
    expect(m.backend).toBe('wasm');
    expect(m.backendInfo.fallbackReason).toMatch(/webgpu: not tried for a model of \d+ parameters/);
    await m.dispose();
    const named = await loadModel(files, { backend: 'webgpu' });
    expect(named.backend).toBe('webgpu');
    expect(named.backendInfo.device).toBeTruthy();
    await named.dispose();
  });

  it.skipIf(cudaHere)(`'auto' for a large model ${isFallback ? 'passes over a software fallback adapter and says so' : 'picks the hardware adapter'}`, async () => {
    const need = { ops: mamba.requiredOps, dtype: 'f32' as const, parameters: AUTO_WEBGPU_MIN_PARAMETERS };
    const b = await selectBackend('auto', need, { threads: 1 });
    try {
      if (isFallback) {
        expect(b.name).toBe('wasm');
        expect(b.info.fallbackReason).toMatch(/webgpu: only a software fallback adapter is present/);
      } else {
        expect(b.name).toBe('webgpu');
      }
    } finally {
      await b.dispose();
    }
  });

  it('lineage models need ops webgpu lacks: named → E_BACKEND naming the op; auto → wasm', async () => {
    const dir = new URL('../fixtures/lineage/gru/', import.meta.url).pathname;
    const err = await loadModel(dir, { backend: 'webgpu' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'E_BACKEND' });
    expect(err.message).toMatch(/does not support op "recurrentScan/);
    const m = await loadModel(dir, { backend: 'auto' });
    expect(m.backend).toBe('wasm');
    await m.dispose();
  });

  it('generation reads back only the sampled candidates and picks the same tokens as from full logits', async () => {
    const m = await loadModel(files, { backend: 'webgpu' });
    const full = await loadModel(files, { backend: 'webgpu' });
    const fullBackend = (full as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
    Object.defineProperty(fullBackend, 'readTopK', { value: undefined }); // force whole-row reads
    Object.defineProperty(fullBackend, 'deviceSampling', { value: undefined }); // and the host's sampler on every token
    const backend = (m as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
    let bytesRead = 0;
    const read = backend.read.bind(backend);
    backend.read = async (t) => { const v = await read(t); bytesRead += v.byteLength; return v; };
    for (const opts of [{ temperature: 0 }, { temperature: 0.9, topK: 5, seed: 3 }, { temperature: 1.2, topK: 40, topP: 0.9, seed: 4 }]) {
      bytesRead = 0;
      const a = await m.createSession().generate([1, 2, 3], { ...opts, maxTokens: 12, ignoreEos: true }).finished;
      // The state snapshot an abortable prompt takes (for rollback), then k candidates per token, never 256 logits.
      expect(bytesRead).toBeLessThanOrEqual(m.info.stateBytes + 12 * 4 * (1 + 2 * (opts.topK ?? 1)));
      const b = await full.createSession().generate([1, 2, 3], { ...opts, maxTokens: 12, ignoreEos: true }).finished;
      expect(a.text).toBe(b.text);
    }
    // topK 0 (all tokens) needs the whole distribution: the full row is read.
    bytesRead = 0;
    await m.createSession().generate([1, 2, 3], { temperature: 1, topK: 0, seed: 1, maxTokens: 2 }).finished;
    expect(bytesRead).toBeGreaterThanOrEqual(2 * 256 * 4);
    await m.dispose();
    await full.dispose();
  });

  it('an abort while the next token logits are being read keeps the full row, not the top-k subset', async () => {
    const m = await loadModel(files, { backend: 'webgpu' });
    const backend = (m as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
    const ac = new AbortController();
    let calls = 0;
    const topK = backend.readTopK.bind(backend);
    backend.readTopK = async (t, row, k) => { if (++calls === 5) ac.abort(); return topK(t, row, k); }; // abort lands mid-consume
    Object.defineProperty(backend, 'deviceSampling', { value: undefined }); // the read-back-per-token path (run-ahead: webgpu-runahead.test.ts)
    const s = m.createSession();
    const gen = s.generate([1, 2, 3], { temperature: 0.7, topK: 3, seed: 1, maxTokens: 50, ignoreEos: true, signal: ac.signal });
    const r = await gen.finished;
    expect(r.finishReason).toBe('abort');
    expect(r.completionTokens).toBe(4);
    const held = (s as unknown as { lastLogits: Float32Array | null }).lastLogits!;
    expect(held.length).toBe(256);
    expect(held.every(Number.isFinite)).toBe(true); // the whole distribution, read back on abort
    await m.dispose();
  });

  for (const modelType of ['mamba', 'mamba2'] as const) {
    it(`${modelType}: a 2,100-token prefill (past the 2,048-token GPU forward) matches the reference`, async () => {
      const f = randomModelFiles({ modelType, vocabSize: 256, hiddenSize: 16, numLayers: 2, stateSize: 8, headDim: 8, chunkSize: 64, seed: 9 });
      const ids = Array.from({ length: 2100 }, (_, i) => (i * 37 + 11) % 256);
      const gpuModel = await loadModel(f, { backend: 'webgpu' });
      const refModel = await loadModel(f, { backend: 'reference' });
      const a = await gpuModel.createSession().prefill(ids);
      const b = await refModel.createSession().prefill(ids);
      const { diff, scale } = maxAbsDiff(a, b);
      expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
      await gpuModel.dispose();
    });
  }

  it('device loss during generation fails the pending call with E_DEVICE_LOST, and later calls too', async () => {
    const m = await loadModel(files, { backend: 'webgpu' });
    const s = m.createSession();
    await s.prefill([1, 2, 3]);
    const backend = (m as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
    const gen = s.generate([4, 5], { maxTokens: 50, temperature: 0, ignoreEos: true });
    const got: number[] = [];
    let err: unknown = null;
    try {
      for await (const t of gen) {
        got.push(t.id);
        if (got.length === 3) backend.loseDeviceForTesting();
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MambaEdgeError);
    expect((err as MambaEdgeError).code).toBe('E_DEVICE_LOST');
    expect(got.length).toBeGreaterThanOrEqual(3);
    expect(got.length).toBeLessThan(50);
    await expect(s.step(1)).rejects.toMatchObject({ code: 'E_DEVICE_LOST' });
    await m.dispose();
  });
});
