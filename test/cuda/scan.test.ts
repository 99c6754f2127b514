/**
 * The prefill scan kernels (gpu/cuda/src/scan.cu, ssd.cu) against the reference backend, where a GPU is
 * present: every length class a kernel treats apart — T = 1 and 2, one step short of / at / past a
 * scanWarp tile (256 steps) and an SSD chunk (64 steps), long T in one pass and in chunks (three passes) —
 * batch > 1, odd channel counts (partial blocks), a random carried initial state, and whole = split
 * (the state a first call leaves is the start of the second). The kernel a shape runs is the default
 * one; MAMBA_EDGE_CUDA_SCAN=warp|warp8|tile|tile1|lanes|tiled3|tiled3one (Mamba-1) and =mma|tile (Mamba-2)
 * make every case run one kernel (the device script runs this file under each); MAMBA_EDGE_CUDA_SSD=tiled|tiled128
 * runs every Mamba-2 case with T ≥ 2 through ssd_tiled.cu's four passes (chunks of 64 / 128 steps; the Mamba-2 list
 * holds T = 127 / 128 / 129 around a 128-step chunk, P = 17 / N = 7 and P = 70 / N = 130 off its 64-wide tiles,
 * 5 groups of one head, and 1,100 steps = 18 / 9 chunks, past the carry's 16 loaded ahead). For scan_tiled.cu's
 * kernel (tiled3: 64 channels a block, chunks of 64 steps) the Mamba-1 list also holds T = 63 / 64 / 65
 * (one chunk, one chunk exactly, two of 33 + 32), 129 (three of 43), 1,100 and 2,200 (18 and 35 chunks: the
 * carry's run of 32 chunks loaded ahead, and its remainder), I = 64 / 65 / 70 (a block exactly, one or six channels
 * over), N = 3 / 8 / 12 (the state row as 1, 2, 3 float4s; N = 3 and 5 stage B / C with 4-byte copies,
 * multiples of 4 with 16-byte ones); tiled3one runs every case as one pass of T steps (many B / C tiles
 * through the double buffer). T = 4,099 (65 chunks: two full runs of the carry's 32 loaded ahead and a remainder of 1),
 * I = 1,540 (24 blocks of 64 and one of 4) and batch 3 in two calls of 100 + 157 steps round the list off.
 *
 * Tolerance 1e-4 of max(1, |ref|): up to 1,000 sequential f32 steps, the chunked forms compose decays
 * (products of exps in another order, exp(A·ΣΔ) for a chunk, 3×TF32 products for the SSD matrix form),
 * each ≲ 1e-6 relative here; a wrong index, a missing term or a plain TF32 product (~1e-3) is far above.
 */
import { describe, expect, it } from 'vitest';
import '../../src/node.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import type { CudaBackend } from '../../src/backends/cuda/index.js';
import type { Backend } from '../../src/backends/backend.js';
import { expectClose } from '../backends/op-suite.js';
import { rand, rng } from '../helpers/sequences.js';
import { cudaBackend, cudaUnavailable, skipNote } from './available.js';

skipNote('prefill scan kernels');

/** Runs `scan` over T steps whole, or as the given consecutive parts; returns y (all steps) and the final state. */
async function inParts(T: number, parts: number[], scan: (t0: number, t1: number) => Promise<Float32Array>) {
  const ys: Float32Array[] = [];
  let t0 = 0;
  for (const len of parts) {
    ys.push(await scan(t0, t0 + len));
    t0 += len;
  }
  expect(t0).toBe(T);
  return ys;
}

/** Rows [t0, t1) of a [B, T, C] array. */
function rows(a: Float32Array, B: number, T: number, C: number, t0: number, t1: number): Float32Array {
  const out = new Float32Array(B * (t1 - t0) * C);
  for (let b = 0; b < B; b++) out.set(a.subarray((b * T + t0) * C, (b * T + t1) * C), b * (t1 - t0) * C);
  return out;
}

/** Parts [B, len_i, C] joined back into [B, T, C]. */
function join(parts: Float32Array[], B: number, C: number): Float32Array {
  const T = parts.reduce((s, p) => s + p.length / (B * C), 0);
  const out = new Float32Array(B * T * C);
  let t0 = 0;
  for (const p of parts) {
    const len = p.length / (B * C);
    for (let b = 0; b < B; b++) out.set(p.subarray(b * len * C, (b + 1) * len * C), (b * T + t0) * C);
    t0 += len;
  }
  return out;
}

/** The kernel MAMBA_EDGE_CUDA_SCAN forces (empty: each shape's default). */
const forced = process.env.MAMBA_EDGE_CUDA_SCAN ?? '';

describe.skipIf(cudaUnavailable !== null)('cuda prefill scan kernels', () => {
  // [B, T, I, N, parts]: T around a 256-step tile, odd I (a partial block of 4 or 8 channels), few
  // channels (chunks: three passes) and 300 × 2 (one pass), N = 16 (the models') and 5.
  const m1: [number, number, number, number, number[]][] = [
    [2, 1, 13, 16, [1]], [2, 2, 13, 16, [2]], [2, 127, 13, 16, [127]], [1, 255, 9, 16, [255]], [1, 256, 9, 16, [256]],
    [1, 257, 9, 16, [257]], [2, 1000, 13, 16, [1000]], [2, 1000, 13, 16, [600, 1, 399]], [2, 1000, 300, 16, [1000]],
    [2, 700, 301, 16, [513, 187]], [3, 513, 6, 5, [513]],
    // around scanTiled's 64-step chunks and 64-channel blocks
    [1, 63, 70, 16, [63]], [2, 64, 64, 16, [64]], [2, 65, 65, 16, [65]], [1, 129, 13, 12, [129]], [2, 1100, 13, 16, [1100]],
    [2, 1100, 67, 8, [700, 2, 398]], [1, 300, 9, 3, [300]], [1, 2200, 5, 16, [2200]],
    // long and wide: 4,099 steps (65 chunks of 64, past two runs of the carry's 32), 1,540 channels (a last block of 4),
    // batch 3 in two calls, I = 24 (under one block)
    [1, 4099, 64, 16, [4099]], [1, 70, 1540, 16, [70]], [3, 257, 24, 16, [100, 157]],
  ];
  for (const [B, T, I, N, parts] of m1) {
    it(`Mamba-1 selectiveScan: batch ${B}, T = ${T} as ${parts.join(' + ')}, ${I} channels, N = ${N}`, async () => {
      const cuda = (await cudaBackend()) as CudaBackend;
      const ref = new ReferenceBackend();
      const r = rng(1000 + T + I + N);
      const d = {
        x: rand(B * T * I, r), dt: rand(B * T * I, r, 2), z: rand(B * T * I, r), Bm: rand(B * T * N, r), Cm: rand(B * T * N, r),
        dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -2 * Math.abs(v) - 0.05), D: rand(I, r), h0: rand(B * I * N, r),
      };
      const run = async (b: Backend, split: number[]) => {
        const state = b.upload(d.h0, [B, I, N]);
        const A = b.upload(d.A, [I, N]), D = b.upload(d.D, [I]), dtBias = b.upload(d.dtBias, [I]);
        const ys = await inParts(T, split, (t0, t1) => {
          const L = t1 - t0, act = (a: Float32Array) => b.upload(rows(a, B, T, I, t0, t1), [B, L, I]);
          const bc = (a: Float32Array) => b.upload(rows(a, B, T, N, t0, t1), [B, L, N]);
          return b.read(b.selectiveScan({ x: act(d.x), dt: act(d.dt), z: act(d.z), B: bc(d.Bm), C: bc(d.Cm), dtBias, A, D, state }));
        });
        return [join(ys, B, I), await b.read(state)];
      };
      const got = await run(cuda, parts);
      if (forced === 'tiled3one' || (forced === 'tiled3' && !process.env.MAMBA_EDGE_CUDA_SCAN_CHUNK && parts.length === 1)) {
        // The forced kernel did run: scanTiled's chunk count (64-step chunks; these shapes never fill the GPU by their channels).
        expect(cuda.lastScanChunks).toBe(forced === 'tiled3one' || T <= 64 ? 1 : Math.ceil(T / 64));
      }
      const want = await run(ref, [T]);
      expectClose(got[0], want[0], 1e-4, 'y');
      expectClose(got[1], want[1], 1e-4, 'state');
      await cuda.dispose();
    });
  }

  // [B, T, H, P, G, N, parts]: T around a 64-step chunk, the models' P = 64 / N = 128, groups shared by
  // several heads, P = 16 / N = 32 (the smallest tensor-core tiles), and P = 5 (the recurrent fallback).
  const m2: [number, number, number, number, number, number, number[]][] = [
    [2, 1, 3, 64, 1, 128, [1]], [2, 2, 3, 64, 1, 128, [2]], [1, 63, 2, 64, 1, 128, [63]], [1, 64, 2, 64, 1, 128, [64]],
    [1, 65, 2, 64, 1, 128, [65]], [2, 127, 4, 16, 2, 32, [127]], [2, 1000, 3, 64, 1, 128, [1000]],
    [2, 1000, 4, 16, 2, 32, [600, 1, 399]], [1, 700, 6, 32, 3, 64, [300, 400]], [2, 300, 4, 5, 2, 24, [300]],
    // around ssd_tiled.cu's 128-step chunks and 64-wide tiles (MAMBA_EDGE_CUDA_SSD=tiled|tiled128)
    [1, 128, 3, 64, 1, 128, [128]], [2, 129, 5, 17, 5, 7, [129]], [1, 200, 3, 70, 3, 130, [200]], [1, 1100, 4, 16, 2, 32, [1100]],
  ];
  /** MAMBA_EDGE_CUDA_SSD's chunk length (0: not forced). */
  const ssdForced = process.env.MAMBA_EDGE_CUDA_SSD === 'tiled' ? 64 : process.env.MAMBA_EDGE_CUDA_SSD === 'tiled128' ? 128 : 0;
  for (const [B, T, H, P, G, N, parts] of m2) {
    it(`Mamba-2 ssdChunkScan: batch ${B}, T = ${T} as ${parts.join(' + ')}, ${H} heads × ${P}, ${G} group(s), N = ${N}`, async () => {
      const cuda = (await cudaBackend()) as CudaBackend;
      const ref = new ReferenceBackend();
      const r = rng(2000 + T + H * P + N);
      const HP = H * P, GN = G * N;
      const d = {
        x: rand(B * T * HP, r), dt: rand(B * T * H, r, 2), Bm: rand(B * T * GN, r), Cm: rand(B * T * GN, r),
        dtBias: rand(H, r), A: rand(H, r).map((v) => -2 * Math.abs(v) - 0.1), D: rand(H, r), h0: rand(B * HP * N, r),
      };
      const run = async (b: Backend, split: number[]) => {
        const state = b.upload(d.h0, [B, H, P, N]);
        const A = b.upload(d.A, [H]), D = b.upload(d.D, [H]), dtBias = b.upload(d.dtBias, [H]);
        const ys = await inParts(T, split, (t0, t1) => {
          const L = t1 - t0, up = (a: Float32Array, C: number) => b.upload(rows(a, B, T, C, t0, t1), [B, L, C]);
          return b.read(b.ssdChunkScan({
            x: up(d.x, HP), dt: up(d.dt, H), B: up(d.Bm, GN), C: up(d.Cm, GN), dtBias, A, D, state,
            dtMin: 0.001, dtMax: 1.5, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: 64,
          }));
        });
        return [join(ys, B, HP), await b.read(state)];
      };
      const got = await run(cuda, parts);
      if (ssdForced && parts.length === 1 && T >= 2) expect(cuda.lastScanChunks).toBe(Math.ceil(T / ssdForced)); // the forced kernel did run
      const want = await run(ref, [T]);
      expectClose(got[0], want[0], 1e-4, 'y');
      expectClose(got[1], want[1], 1e-4, 'state');
      await cuda.dispose();
    });
  }
});
