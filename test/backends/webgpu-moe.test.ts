/**
 * The webgpu mixture of experts (WebGpuBackend.mixtureOfExperts: moe_route / moe_bucket /
 * moe_matvec / moe_matmul / moe_combine) against the reference backend, beyond the shared op
 * suite's one few-row case:
 * - the tiled path (more than 8 tokens) and the matrix-vector path, odd sizes, batch > 1, top-1 /
 *   top-3 / top-E, with and without renormalisation, f32 / f16 / q8_0 expert weights;
 * - exact ties in the router (every expert equally likely: the lowest indices win, as the reference);
 * - weights split across bindings and inputs run in groups of rows (a backend with 4 KiB bindings);
 * - T step calls equal one call over T (decode and prefill paths agree);
 * - a Jamba model's run-ahead decode (the token sampled on the GPU) gives the tokens of wasm.
 *
 * Tolerance 1e-4 relative to max(1, |value|), as the rest of the webgpu suite: f32 accumulation in
 * a different order than the reference's, and the router's softmax in f32 (the reference's is f64
 * rounded to f32) — the random routers here keep the top-k choices far from ties except where the
 * ties are exact, so the same experts are picked and only rounding differs.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import type { Backend, WeightDType } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { expectClose } from './op-suite.js';
import { seeded } from '../helpers/sequences.js';
import { adapterMissing } from '../helpers/webgpu.js';
import { HYBRID_DIR } from '../hybrid/fixtures.js';
import type { Model, Session } from '../../src/api/types.js';

const created = await createWebGpuBackend({ allowFallback: true });
const reason = adapterMissing('webgpu mixture-of-experts tests', created);
const gpu = (reason ? null : created) as WebGpuBackend | null;
const TOL = 1e-4;
vi.setConfig({ testTimeout: 180_000 });

interface Case { shape: number[]; D: number; I: number; E: number; topK: number; normalize: boolean; dtype: WeightDType; zeroRouter?: boolean }

/** Random inputs for a case, and the same mixture run on a backend. */
function moeCase(c: Case, seed: number) {
  const r = seeded(seed);
  const rows = c.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const x = r.array(rows * c.D, 2);
  const router = c.zeroRouter ? new Float32Array(c.E * c.D) : r.array(c.E * c.D, 2);
  const W = Array.from({ length: c.E }, () => [r.array(c.I * c.D, 0.3), r.array(c.I * c.D, 0.3), r.array(c.D * c.I, 0.3)]);
  const run = (b: Backend, weights: Float32Array[][] = W) => b.read(b.mixtureOfExperts({
    x: b.upload(x, c.shape), router: b.upload(router, [c.E, c.D]), topK: c.topK, normalize: c.normalize,
    gate: weights.map(([w]) => b.upload(w, [c.I, c.D], c.dtype)),
    up: weights.map(([, w]) => b.upload(w, [c.I, c.D], c.dtype)),
    down: weights.map(([, , w]) => b.upload(w, [c.D, c.I], c.dtype)),
  }));
  return Object.assign(run, { W });
}

/** W as the GPU stores it in `dtype` (read back through an identity matmul), for the reference's input. */
async function asStored(b: WebGpuBackend, w: Float32Array, M: number, K: number, dtype: WeightDType): Promise<Float32Array> {
  if (dtype === 'f32') return w;
  const eye = new Float32Array(K * K);
  for (let k = 0; k < K; k++) eye[k * K + k] = 1;
  const wt = await b.read(b.matmul(b.upload(eye, [K, K]), b.upload(w, [M, K], dtype))); // [K, M] = Wᵀ
  const out = new Float32Array(M * K);
  for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) out[m * K + k] = wt[k * M + m];
  return out;
}

describe.skipIf(reason !== null)('webgpu mixture of experts', () => {
  const ref = new ReferenceBackend();
  afterAll(async () => { await gpu?.dispose(); });

  const CASES: Case[] = [
    { shape: [1, 1, 29], D: 29, I: 37, E: 7, topK: 2, normalize: false, dtype: 'f32' }, // decode
    { shape: [3, 1, 29], D: 29, I: 37, E: 7, topK: 3, normalize: true, dtype: 'f32' }, // batched decode
    { shape: [1, 8, 13], D: 13, I: 5, E: 3, topK: 3, normalize: false, dtype: 'f32' }, // top-E, last few-row size
    { shape: [1, 9, 29], D: 29, I: 37, E: 7, topK: 2, normalize: false, dtype: 'f32' }, // first tiled size
    { shape: [2, 67, 29], D: 29, I: 70, E: 5, topK: 1, normalize: false, dtype: 'f32' }, // batch > 1, two column tiles
    { shape: [1, 300, 21], D: 21, I: 70, E: 3, topK: 2, normalize: false, dtype: 'f32' }, // ~200 rows an expert: several row tiles each
    { shape: [2, 40, 64], D: 64, I: 96, E: 6, topK: 2, normalize: true, dtype: 'f16' },
    { shape: [1, 3, 64], D: 64, I: 96, E: 6, topK: 2, normalize: false, dtype: 'q8_0' },
    { shape: [1, 70, 64], D: 64, I: 96, E: 6, topK: 2, normalize: false, dtype: 'q8_0' },
  ];
  for (const [i, c] of CASES.entries()) {
    it(`x [${c.shape}], ${c.E} experts of ${c.I}, top-${c.topK}${c.normalize ? ' renormalised' : ''}, ${c.dtype} weights`, async () => {
      const run = moeCase(c, 100 + i);
      const got = await run(gpu!);
      // The oracle runs on the weights as the GPU stores them (f16 / q8_0 rounding is not under test here).
      const W = await Promise.all(run.W.map(async ([g, u, d]) =>
        [await asStored(gpu!, g, c.I, c.D, c.dtype), await asStored(gpu!, u, c.I, c.D, c.dtype), await asStored(gpu!, d, c.D, c.I, c.dtype)]));
      const want = await moeCase({ ...c, dtype: 'f32' }, 100 + i)(ref, W);
      expectClose(got, want, TOL, 'mixture of experts');
      expect(Math.max(...got.map(Math.abs))).toBeGreaterThan(0.05);
    });
  }

  it('exact ties in the router go to the lowest expert indices, as the reference (decode and tiled paths)', async () => {
    for (const T of [1, 20]) {
      const c: Case = { shape: [1, T, 13], D: 13, I: 11, E: 5, topK: 2, normalize: false, dtype: 'f32', zeroRouter: true };
      const run = moeCase(c, 7);
      expectClose(await run(gpu!), await run(ref), TOL, `ties, T=${T}`);
    }
  });

  it('expert weights split across bindings, inputs in groups of rows (4 KiB bindings)', async () => {
    const small = await createWebGpuBackend({ allowFallback: true, maxBindingBytes: 4096 });
    if ('unavailable' in small) throw new Error(small.unavailable);
    try {
      // I·D·4 = 5,600 bytes per expert matrix: two parts each; [rows·K, I] blocks fit 4096 bytes for 10 rows at a time.
      for (const T of [3, 36]) { // 36 tokens: groups of 10, 10, 10 (tiled) and 6 (matrix-vector); the input itself still fits
        const c: Case = { shape: [1, T, 28], D: 28, I: 50, E: 4, topK: 2, normalize: false, dtype: 'f32' };
        const run = moeCase(c, 11 + T);
        expectClose(await run(small), await run(ref), TOL, `split, T=${T}`);
      }
    } finally {
      await small.dispose();
    }
  });

  it('T one-token calls equal one call over T tokens (the decode and prefill paths agree)', async () => {
    const c: Case = { shape: [2, 17, 21], D: 21, I: 19, E: 6, topK: 2, normalize: true, dtype: 'f32' };
    const r = seeded(5);
    const x = r.array(2 * 17 * 21, 2), router = r.array(6 * 21, 2);
    const W = Array.from({ length: c.E }, () => [r.array(c.I * c.D, 0.3), r.array(c.I * c.D, 0.3), r.array(c.D * c.I, 0.3)]);
    const b = gpu!;
    const weights = {
      router: b.upload(router, [c.E, c.D]), topK: c.topK, normalize: c.normalize,
      gate: W.map(([w]) => b.upload(w, [c.I, c.D])), up: W.map(([, w]) => b.upload(w, [c.I, c.D])), down: W.map(([, , w]) => b.upload(w, [c.D, c.I])),
    };
    const whole = await b.read(b.mixtureOfExperts({ x: b.upload(x, c.shape), ...weights }));
    const steps = new Float32Array(whole.length);
    for (let bt = 0; bt < 2; bt++) {
      for (let t = 0; t < 17; t++) {
        const at = (bt * 17 + t) * c.D;
        steps.set(await b.read(b.mixtureOfExperts({ x: b.upload(x.subarray(at, at + c.D), [1, 1, c.D]), ...weights })), at);
      }
    }
    expectClose(steps, whole, 1e-5, 'steps vs whole');
  });

  it('bad input: more experts than moe_bucket groups is a typed error', () => {
    const D = 4, E = 1025;
    const w = gpu!.upload(new Float32Array(D), [1, D]);
    expect(() => gpu!.mixtureOfExperts({
      x: gpu!.upload(new Float32Array(D), [1, 1, D]), router: gpu!.upload(new Float32Array(E * D), [E, D]), topK: 1, normalize: false,
      gate: Array(E).fill(w), up: Array(E).fill(w), down: Array(E).fill(gpu!.upload(new Float32Array(D), [D, 1])),
    })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
  });

  describe('Jamba (Mamba-1 + attention + mixture of experts), session generate', () => {
    let webgpu: Model, wasm: Model;
    afterAll(async () => { await webgpu?.dispose(); await wasm?.dispose(); });

    async function tokens(s: Session, prompt: number[], opts: Record<string, unknown>): Promise<number[]> {
      const ids: number[] = [];
      for await (const t of s.generate(prompt, { maxTokens: 24, ignoreEos: true, ...opts })) ids.push(t.id);
      return ids;
    }

    it('run-ahead decode on the GPU gives the tokens of wasm (greedy and seeded top-k)', async () => {
      webgpu = await loadModel(`${HYBRID_DIR}jamba`, { backend: 'webgpu' });
      wasm = await loadModel(`${HYBRID_DIR}jamba`, { backend: 'wasm', threads: 1 });
      const backend = (webgpu as unknown as { parts: { backend: Backend } }).parts.backend;
      expect(backend.name).toBe('webgpu');
      expect(backend.deviceSampling).toBeDefined();
      for (const opts of [{ temperature: 0 }, { temperature: 0.9, topK: 8, seed: 3 }]) {
        const [sg, sw] = [webgpu.createSession(), wasm.createSession()];
        const g = await tokens(sg, [5, 17, 33, 2, 90, 11, 4, 60, 61, 62, 3], opts);
        expect(g).toHaveLength(24);
        expect(g).toEqual(await tokens(sw, [5, 17, 33, 2, 90, 11, 4, 60, 61, 62, 3], opts));
        // and continuing from the carried state (SSM states, KV caches) stays in step
        expect(await tokens(sg, [7, 8], { ...opts, seed: undefined, maxTokens: 9 })).toEqual(await tokens(sw, [7, 8], { ...opts, seed: undefined, maxTokens: 9 }));
        await Promise.all([sg.dispose(), sw.dispose()]);
      }
    });
  });
});
