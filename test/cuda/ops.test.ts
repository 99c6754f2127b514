/**
 * The cuda backend against the reference, op by op (the shared op suite), where a GPU is present.
 * Tolerance 2e-5 relative, as for wasm: the kernels accumulate in f32 (reordered sums in warp
 * reductions, cuBLAS SGEMM without TF32) where the reference accumulates in f64, and the chunked scan
 * composes per-chunk decays exp(A·ΣΔ) instead of multiplying per-step ones: each is ≲ 1e-6 over these
 * sizes, and any wrong index or missing term is O(1).
 */
import { describe, expect, it } from 'vitest';
import '../../src/node.js';
import { runOpSuite } from '../backends/op-suite.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import type { CudaBackend } from '../../src/backends/cuda/index.js';
import { cudaBackend, cudaUnavailable, skipNote } from './available.js';

skipNote('op suite');

describe.skipIf(cudaUnavailable !== null)('cuda backend', () => {
  // Every op, the attention family (rope, attention + KV cache, swiglu/relu2/MoE) included.
  runOpSuite('cuda', cudaBackend, { tolerance: 2e-5, readTopK: true });

  it('long sequences take the chunked three-pass scan and still equal the reference (Mamba-1 and Mamba-2)', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const ref = new ReferenceBackend();
    let s = 12345;
    const rnd = (n: number, scale = 1) => Float32Array.from({ length: n }, () => {
      s = (s * 1103515245 + 12345) >>> 0;
      return ((s / 2 ** 32) * 2 - 1) * scale;
    });
    // batch 1 and few channels: too few to fill the GPU, so T = 3001 is split into chunks
    const B = 1, T = 3001, I = 7, N = 16;
    const data = {
      x: rnd(B * T * I), dt: rnd(B * T * I), dtBias: rnd(I, 0.5), A: rnd(I * N).map((v) => -Math.abs(v) - 0.05),
      B: rnd(B * T * N), C: rnd(B * T * N), D: rnd(I), z: rnd(B * T * I), h0: rnd(B * I * N),
    };
    const run = async (be: typeof ref | CudaBackend) => {
      const state = be.upload(data.h0, [B, I, N]);
      const y = be.selectiveScan({
        x: be.upload(data.x, [B, T, I]), dt: be.upload(data.dt, [B, T, I]), z: be.upload(data.z, [B, T, I]),
        B: be.upload(data.B, [B, T, N]), C: be.upload(data.C, [B, T, N]),
        dtBias: be.upload(data.dtBias, [I]), A: be.upload(data.A, [I, N]), D: be.upload(data.D, [I]), state,
      });
      return { y: await be.read(y), h: await be.read(state) };
    };
    const got = await run(cuda);
    expect(cuda.lastScanChunks).toBeGreaterThan(1);
    const want = await run(ref);
    const worst = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]) / Math.max(1, Math.abs(b[i]))), 0);
    expect(worst(got.y, want.y)).toBeLessThanOrEqual(1e-4); // 3001 sequential f32 steps: 1e-4 is still ≫ rounding, ≪ any error
    expect(worst(got.h, want.h)).toBeLessThanOrEqual(1e-4);

    // Mamba-2: 2 heads × 3 dims, 2 groups, N = 128 (4 state entries per lane), dt clamped
    const H = 2, P = 3, G = 2, N2 = 128;
    const d2 = { x: rnd(T * H * P), dt: rnd(T * H, 2), dtBias: rnd(H), A: rnd(H).map((v) => -Math.abs(v) - 0.1), B: rnd(T * G * N2), C: rnd(T * G * N2), D: rnd(H) };
    const run2 = async (be: typeof ref | CudaBackend) => {
      const state = be.zeros([1, H, P, N2]);
      const y = be.ssdChunkScan({
        x: be.upload(d2.x, [1, T, H * P]), dt: be.upload(d2.dt, [1, T, H]), B: be.upload(d2.B, [1, T, G * N2]), C: be.upload(d2.C, [1, T, G * N2]),
        dtBias: be.upload(d2.dtBias, [H]), A: be.upload(d2.A, [H]), D: be.upload(d2.D, [H]),
        dtMin: 0.001, dtMax: 0.5, numHeads: H, headDim: P, nGroups: G, stateSize: N2, chunkSize: 256, state,
      });
      return { y: await be.read(y), h: await be.read(state) };
    };
    const got2 = await run2(cuda);
    expect(cuda.lastScanChunks).toBeGreaterThan(1);
    const want2 = await run2(ref);
    expect(worst(got2.y, want2.y)).toBeLessThanOrEqual(1e-4);
    expect(worst(got2.h, want2.h)).toBeLessThanOrEqual(1e-4);
    await cuda.dispose();
  });

  it('matmul takes every path (GEMV ≤ 8 rows; cuBLAS SGEMM, or tiled without cuBLAS, above) in f32, f16 and bf16, equal to the reference', async () => {
    const cuda = await cudaBackend();
    const ref = new ReferenceBackend();
    let s = 7;
    const rnd = (n: number) => Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1);
    for (const [rows, K, M] of [[1, 768, 37], [8, 130, 5], [9, 64, 1000], [300, 97, 65]]) {
      const x = rnd(rows * K), w = rnd(M * K), bias = rnd(M);
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        const [got, want] = await Promise.all([cuda, ref].map((be) => be.read(be.matmul(be.upload(x, [rows, K]), be.upload(w, [M, K], dtype), be.upload(bias, [M])))));
        const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]) / Math.max(1, Math.abs(want[i]))), 0);
        expect(worst, `${rows}x${K}x${M} ${dtype}`).toBeLessThanOrEqual(2e-5 * Math.sqrt(K / 64) + 1e-6);
      }
    }
    await cuda.dispose();
  });

  it('a read sees the tensor as of the call, not ops enqueued after it (reads wait off the event loop)', async () => {
    const cuda = await cudaBackend();
    const C = 3, K = 4;
    const before = Float32Array.from({ length: C * (K - 1) }, (_, i) => i + 1);
    const state = cuda.upload(before, [1, C, K - 1]);
    const pending = cuda.read(state);
    const x = cuda.upload(Float32Array.from([10, 20, 30]), [1, 1, C]);
    cuda.conv1dCausalStep({ x, weight: cuda.zeros([C, K]), bias: null, state, silu: false }); // shifts 10, 20, 30 into the state
    expect(Array.from(await pending)).toEqual(Array.from(before));
    expect(Array.from(await cuda.read(state))).toEqual([2, 3, 10, 5, 6, 20, 8, 9, 30]);
    await cuda.dispose();
  });

  it('out of device memory is E_MEMORY from the call, and the backend keeps working', async () => {
    const cuda = await cudaBackend();
    const err = (() => { try { cuda.zeros([1 << 20, 1 << 20]); return null; } catch (e) { return e; } })(); // 4 TiB
    expect(err).toEqual(expect.objectContaining({ code: 'E_MEMORY' }));
    const t = cuda.upload(Float32Array.from([1, 2, 3]), [3]);
    expect(Array.from(await cuda.read(cuda.add(t, t)))).toEqual([2, 4, 6]);
    await cuda.dispose();
    expect(() => cuda.zeros([1])).toThrow(expect.objectContaining({ code: 'E_BACKEND' }));
  });
});
