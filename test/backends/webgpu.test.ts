/**
 * The WebGPU backend against the reference, op by op (the shared op suite) and on long and odd
 * sequences (T = 1, 2, 127, 1000 and the scans' chunk boundaries 63/64/65), with f32, f16 and q8_0
 * weights, with weights split across bindings, and on device loss.
 *
 * Runs on whatever adapter Dawn finds — on CI a software Vulkan driver (Mesa lavapipe from
 * bookworm-backports, .ci/run). Under CI=true a missing adapter FAILS the suite instead of skipping.
 *
 * Tolerance 1e-4 relative (to max(1, |value|)): kernels accumulate in f32 where the reference
 * accumulates in f64, and WGSL's exp() may be off by 3 + 2·|x| ulp; the chunked scans reorder the
 * recurrence (exp(A·ΣΔ) instead of Πexp(A·Δ)), which over 1000 steps measures ≲ 1e-5.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import type { ScanMode, WebGpuBackend } from '../../src/backends/webgpu/index.js';
import type { Backend } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { runOpSuite, expectClose } from './op-suite.js';
import { rand, rng } from '../helpers/sequences.js';
import { adapterMissing } from '../helpers/webgpu.js';

const created = await createWebGpuBackend({ allowFallback: true });
const reason = adapterMissing('webgpu tests', created);
const gpu = (reason ? null : created) as WebGpuBackend | null;
const TOL = 1e-4;
// Software adapters compile each pipeline through LLVM on first use (seconds on a 2-core machine).
vi.setConfig({ testTimeout: 120_000 });

if (gpu) {
  afterAll(async () => { await gpu.dispose(); });
  describe(`webgpu on ${gpu.info.device}`, () => {
    it('reports the adapter', () => {
      console.log(`webgpu adapter: ${gpu.info.device}`);
      expect(gpu.info.name).toBe('webgpu');
    });

    it('MAMBA_EDGE_WEBGPU_SCAN: sequential selects the walk; the removed subgroup modes are E_ARGUMENT naming the modes there are', async () => {
      const was = process.env.MAMBA_EDGE_WEBGPU_SCAN;
      try {
        process.env.MAMBA_EDGE_WEBGPU_SCAN = 'sequential';
        const b = await createWebGpuBackend({ allowFallback: true }) as WebGpuBackend;
        expect(b.scanMode).toBe('sequential');
        await b.dispose();
        for (const mode of ['subgroup', 'subgroup-chain']) {
          process.env.MAMBA_EDGE_WEBGPU_SCAN = mode;
          await expect(createWebGpuBackend({ allowFallback: true })).rejects.toMatchObject({
            code: 'E_ARGUMENT', message: `MAMBA_EDGE_WEBGPU_SCAN=${JSON.stringify(mode)}: expected one of chunked / chunked-v1 / sequential`,
          });
        }
      } finally { if (was === undefined) delete process.env.MAMBA_EDGE_WEBGPU_SCAN; else process.env.MAMBA_EDGE_WEBGPU_SCAN = was; }
    });

    it('a bad scan option (not the environment) is E_ARGUMENT after the device is acquired, which is given back', async () => {
      await expect(createWebGpuBackend({ allowFallback: true, scan: 'subgroup' as never })).rejects.toMatchObject({
        code: 'E_ARGUMENT', message: 'scan must be one of chunked, chunked-v1, sequential, got "subgroup"',
      });
      const b = await createWebGpuBackend({ allowFallback: true }) as WebGpuBackend; // and the next one works
      expect(b.scanMode).toBe('chunked');
      await b.dispose();
    });
  });
  // Mamba-3 and the lineage ops are not on the GPU yet (supportsOp says no, 'auto' picks wasm); every case of the shared suite runs here, the mixture of experts included.
  runOpSuite('webgpu', () => gpu, { tolerance: TOL, readTopK: true });

  describe('webgpu long and odd sequences vs reference', () => {
    const ref = new ReferenceBackend();
    const both = async <T>(fn: (b: Backend) => Promise<T>): Promise<[T, T]> => [await fn(gpu), await fn(ref)];

    it('matmul: tiled and matrix-vector paths, f32 / f16 / q8_0 weights, rows 1..1000', async () => {
      for (const [rows, K, M] of [[1, 64, 37], [8, 96, 65], [9, 33, 17], [127, 65, 131], [1000, 64, 70]]) {
        const r = rng(rows + K + M);
        const x = rand(rows * K, r), w = rand(M * K, r), bias = rand(M, r);
        for (const dtype of ['f32', 'f16', 'q8_0'] as const) {
          const got = await gpu.read(gpu.matmul(gpu.upload(x, [rows, K]), gpu.upload(w, [M, K], dtype), gpu.upload(bias, [M])));
          // q8_0 and f16 are compared with the reference on the same rounded weights (f16 storage for
          // f16; for q8_0 the GPU's own dequantized weights are the oracle's input).
          const wRef = dtype === 'q8_0' ? await dequantized(w, M, K) : w;
          const want = await ref.read(ref.matmul(ref.upload(x, [rows, K]), ref.upload(wRef, [M, K], dtype === 'f16' ? 'f16' : 'f32'), ref.upload(bias, [M])));
          expectClose(got, want, TOL, `matmul ${rows}x${K}x${M} ${dtype}`);
        }
      }
    });

    it('matrix-vector products over one input are merged into one dispatch (f32, f16), same values as the reference', async () => {
      for (const dtype of ['f32', 'f16'] as const) {
        for (const rows of [1, 3]) {
          const K = 48, Ms = [40, 7, 9, 33];
          const r = rng(rows * 10 + K);
          const x = rand(rows * K, r);
          const ws = Ms.map((M) => rand(M * K, r));
          const before = gpu.stats.dispatches;
          const xt = gpu.upload(x, [rows, K]);
          const wts = ws.map((w, i) => gpu.upload(w, [Ms[i], K], dtype));
          const outs = wts.map((w) => gpu.matmul(xt, w));
          const got = await Promise.all(outs.map((o) => gpu.read(o)));
          expect(gpu.stats.dispatches - before, `${dtype} rows ${rows}: 4 products in 2 dispatches`).toBe(2);
          for (let i = 0; i < Ms.length; i++) {
            const want = await ref.read(ref.matmul(ref.upload(x, [rows, K]), ref.upload(ws[i], [Ms[i], K], dtype)));
            expectClose(got[i], want, TOL, `merged matvec ${i} ${dtype} rows ${rows}`);
          }
        }
      }
    });

    /** W through the GPU's q8_0 path, read back via an identity matmul: the values the kernels use. */
    async function dequantized(w: Float32Array, M: number, K: number): Promise<Float32Array> {
      const eye = new Float32Array(K * K);
      for (let k = 0; k < K; k++) eye[k * K + k] = 1;
      const wt = await gpu!.read(gpu!.matmul(gpu!.upload(eye, [K, K]), gpu!.upload(w, [M, K], 'q8_0'))); // [K, M] = Wᵀ
      const out = new Float32Array(M * K);
      for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) out[m * K + k] = wt[k * M + m];
      for (let i = 0; i < w.length; i++) expect(Math.abs(out[i] - w[i])).toBeLessThanOrEqual(1 / 127 + 1e-3); // within a quantization step
      return out;
    }

    it('weights larger than one binding are split by rows (embedding and matmul)', async () => {
      const small = await createWebGpuBackend({ allowFallback: true, maxBindingBytes: 1024 });
      if ('unavailable' in small) throw new Error(small.unavailable);
      try {
        const V = 45, D = 16; // 45 rows × 64 B = 2880 B f32: 3 parts of 16 rows
        const r = rng(5);
        const table = rand(V * D, r), x = rand(3 * D, r);
        const ids = Int32Array.from([0, 15, 16, 44, 31, 32]);
        for (const dtype of ['f32', 'f16'] as const) {
          const e = await small.read(small.embedding(small.upload(table, [V, D], dtype), ids));
          const eRef = await ref.read(ref.embedding(ref.upload(table, [V, D], dtype), ids));
          expectClose(e, eRef, 0, `split embedding ${dtype}`);
          for (const rows of [1, 3]) {
            const got = await small.read(small.matmul(small.upload(x.subarray(0, rows * D), [rows, D]), small.upload(table, [V, D], dtype)));
            const want = await ref.read(ref.matmul(ref.upload(x.subarray(0, rows * D), [rows, D]), ref.upload(table, [V, D], dtype)));
            expectClose(got, want, TOL, `split matmul rows ${rows} ${dtype}`);
          }
        }
        expect(() => small.zeros([1000])).toThrow(expect.objectContaining({ code: 'E_MEMORY' }));
        const split = small.upload(table, [V, D]);
        expectClose(await small.read(split), table, 0, 'read back a split f32 weight');
        expect(() => small.rmsNorm(split, small.upload(table.subarray(0, D), [D]), 1e-5)).toThrow(expect.objectContaining({ code: 'E_MEMORY' }));
      } finally {
        await small.dispose();
      }
    });

    /**
     * fn with gpu.scanMode set to `mode` (the sequential walk is the plain scan benchmarks compare
     * with; 'chunked-v1' the first chunked kernels) and, for 'chunked', the tiled kernels' chunk length.
     */
    const withScan = async <T>(mode: ScanMode, chunk: number | undefined, fn: () => Promise<T>): Promise<T> => {
      const before = gpu.scanMode, chunkBefore = { ...gpu.scanChunk };
      gpu.scanMode = mode;
      if (chunk !== undefined) gpu.scanChunk = { mamba1: chunk, ssd: chunk };
      try { return await fn(); } finally { gpu.scanMode = before; gpu.scanChunk = chunkBefore; gpu.ssdRowsPerThread = 8; }
    };
    // [mode, T, chunk length (tiled kernels; default scanChunk.mamba1 = 64), I, N]: T around the
    // default chunk's boundaries; chunks not a
    // multiple of the kernels' 32-token staging block (7, 33) and longer than it (256); I = 70 spans
    // two 64-channel workgroups, the second partly empty; N = 16 (the Mamba-1 checkpoints' size).
    const scanCases: [ScanMode, number, number | undefined, number, number][] = [
      ...[1, 2, 63, 64, 65, 127, 1000].map((T) => ['chunked', T, undefined, 7, 5] as [ScanMode, number, undefined, number, number]),
      ['chunked', 40, 7, 7, 5], ['chunked', 65, 16, 7, 5], ['chunked', 1000, 33, 70, 16], ['chunked', 255, 256, 7, 5], ['chunked', 1000, 256, 70, 16],
      ...[2, 65, 1000].map((T) => ['chunked-v1', T, undefined, 7, 5] as [ScanMode, number, undefined, number, number]),
      ...[2, 127, 1000].map((T) => ['sequential', T, undefined, 7, 5] as [ScanMode, number, undefined, number, number]),
    ];
    for (const [mode, T, chunk, I, N] of scanCases) {
      it(`selectiveScan ${mode}${chunk ? ` (chunk ${chunk})` : ''} T=${T}, I=${I}, N=${N}, state carried, vs reference`, () => withScan(mode, chunk, async () => {
        const Bt = 2;
        const r = rng(T + I);
        const d = {
          x: rand(Bt * T * I, r), dt: rand(Bt * T * I, r), dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -Math.abs(v) - 0.1),
          B: rand(Bt * T * N, r), C: rand(Bt * T * N, r), D: rand(I, r), z: rand(Bt * T * I, r), h0: rand(Bt * I * N, r),
        };
        const [got, want] = await both(async (b) => {
          const state = b.upload(d.h0, [Bt, I, N]);
          const args = {
            x: b.upload(d.x, [Bt, T, I]), dt: b.upload(d.dt, [Bt, T, I]), z: b.upload(d.z, [Bt, T, I]), B: b.upload(d.B, [Bt, T, N]), C: b.upload(d.C, [Bt, T, N]),
            dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), D: b.upload(d.D, [I]), state,
          };
          return [await b.read(b.selectiveScan(args)), await b.read(state)];
        });
        expectClose(got[0], want[0], TOL, 'y');
        expectClose(got[1], want[1], TOL, 'state');
      }));
    }

    // [mode, T, groups, chunk length (tiled kernels; default 128), H, P, N, rows per thread]: odd P and N;
    // P = 70 and N = 67 / 131 span two tiles of the register-tiled products (the second mostly empty);
    // chunk 17 is not a multiple of the 16-token staging; chunk 256 has several output row tiles per chunk.
    const ssdCases: [ScanMode, number, number, number | undefined, number, number, number, (4 | 8)?][] = [
      ...([[1, 1], [2, 2], [63, 1], [64, 2], [65, 1], [127, 3], [1000, 1]] as const).map(([T, G]) => ['chunked', T, G, undefined, 6, 3, 5] as [ScanMode, number, number, undefined, number, number, number]),
      ['chunked', 100, 2, 17, 6, 3, 5], ['chunked', 1000, 1, 256, 6, 3, 5], ['chunked', 300, 1, 256, 2, 70, 67], ['chunked', 130, 2, 64, 2, 70, 67],
      // the same products with 4 rows per thread (WebGpuBackend.ssdRowsPerThread; the default is 8: 128-row tiles)
      ['chunked', 127, 3, undefined, 6, 3, 5, 4], ['chunked', 100, 2, 17, 6, 3, 5, 4], ['chunked', 1000, 1, 256, 6, 3, 5, 4],
      ['chunked', 300, 1, 256, 2, 70, 67, 4], ['chunked', 130, 2, 64, 2, 70, 131, 4], ['chunked', 1000, 1, 64, 6, 3, 5, 4],
      ...([[2, 2], [127, 3], [1000, 1]] as const).map(([T, G]) => ['chunked-v1', T, G, undefined, 6, 3, 5] as [ScanMode, number, number, undefined, number, number, number]),
      ...([[2, 2], [127, 3], [1000, 1]] as const).map(([T, G]) => ['sequential', T, G, undefined, 6, 3, 5] as [ScanMode, number, number, undefined, number, number, number]),
    ];
    for (const [mode, T, G, chunk, H, P, N, rows = 8] of ssdCases) {
      it(`ssdChunkScan ${mode}${chunk ? ` (chunk ${chunk})` : ''}${rows === 4 ? ' (4 rows per thread)' : ''} T=${T}, ${G} group(s), H=${H}, P=${P}, N=${N}, vs reference`, () => withScan(mode, chunk, async () => {
        gpu.ssdRowsPerThread = rows;
        const Bt = 2;
        const r = rng(T * 7 + G + P);
        const d = {
          x: rand(Bt * T * H * P, r), dt: rand(Bt * T * H, r, 2), dtBias: rand(H, r), A: rand(H, r).map((v) => -Math.abs(v) - 0.05),
          B: rand(Bt * T * G * N, r), C: rand(Bt * T * G * N, r), D: rand(H, r), h0: rand(Bt * H * P * N, r),
        };
        const [got, want] = await both(async (b) => {
          const state = b.upload(d.h0, [Bt, H, P, N]);
          const y = b.ssdChunkScan({
            x: b.upload(d.x, [Bt, T, H * P]), dt: b.upload(d.dt, [Bt, T, H]), B: b.upload(d.B, [Bt, T, G * N]), C: b.upload(d.C, [Bt, T, G * N]),
            dtBias: b.upload(d.dtBias, [H]), A: b.upload(d.A, [H]), D: b.upload(d.D, [H]), dtMin: 0, dtMax: Infinity,
            numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: 256, state,
          });
          return [await b.read(y), await b.read(state)];
        });
        expectClose(got[0], want[0], TOL, 'y');
        expectClose(got[1], want[1], TOL, 'state');
      }));
    }

    it('sliceRows: 16-byte copies when offset and count are multiples of 4, one f32 per thread otherwise', async () => {
      const r = rng(41);
      for (const [rows, cols, start, count] of [[9, 4, 2, 5], [9, 8, 3, 6], [12, 3, 4, 8], [12, 3, 1, 7], [7, 5, 0, 7], [1000, 1, 1, 999], [1000, 1, 4, 996]]) {
        const data = rand(rows * cols, r);
        const [got, want] = await both(async (b) => b.read(b.sliceRows(b.upload(data, [rows, cols]), start, count)));
        expectClose(got, want, 0, `sliceRows [${rows}, ${cols}] ${start}+${count}`);
      }
    });

    it('deviceBytes counts what the backend holds: it grows with an allocation and not when a freed buffer is reused', async () => {
      const before = gpu.deviceBytes;
      const t = gpu.zeros([1031, 67]); // an odd size no earlier test left in the pool
      expect(gpu.deviceBytes - before).toBeGreaterThanOrEqual(1031 * 67 * 4);
      const held = gpu.deviceBytes;
      gpu.free(t);
      expect(gpu.deviceBytes).toBe(held); // pooled, still held
      const again = gpu.zeros([1031, 67]);
      expect(gpu.deviceBytes).toBe(held); // the pooled buffer came back
      gpu.free(again);
    });

    it('conv1dCausal over 1000 tokens with a carried state, vs reference', async () => {
      const Bt = 2, T = 1000, C = 13, K = 4;
      const r = rng(99);
      const x = rand(Bt * T * C, r), w = rand(C * K, r), s0 = rand(Bt * C * (K - 1), r);
      const [got, want] = await both(async (b) => {
        const state = b.upload(s0, [Bt, C, K - 1]);
        const y = b.conv1dCausal({ x: b.upload(x, [Bt, T, C]), weight: b.upload(w, [C, K]), bias: null, state, silu: true });
        return [await b.read(y), await b.read(state)];
      });
      expectClose(got[0], want[0], TOL, 'y');
      expectClose(got[1], want[1], 0, 'state');
    });
  });
}
