/**
 * The cuda backend's fast paths, where a GPU is present: recorded steps (Backend.recordStep, a CUDA
 * graph per session's decode step), the tiled scan's block geometry, and the launches the backend
 * fuses (GEMVs over one input, add + RMSNorm, T = 1 convs). The golden suite (goldens.test.ts)
 * already runs every session step and greedy generation through them; these cases pin down what it
 * does not: replays with new ids equal the ops run directly, sessions interleave, an op that cannot be
 * recorded falls back with nothing leaked, release/dispose return the memory, blocks spanning several
 * groups and partial blocks, batches that must not fuse (a changed input, a dependency, one state twice).
 */
import { describe, expect, it } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import type { CudaBackend } from '../../src/backends/cuda/index.js';
import type { Backend, Tensor } from '../../src/backends/backend.js';
import { goldenCases, maxAbsDiff } from '../helpers/goldens.js';
import { expectClose } from '../backends/op-suite.js';
import { rand, rng } from '../helpers/sequences.js';
import { cudaBackend, cudaUnavailable, skipNote } from './available.js';

skipNote('recorded-step and scan-geometry tests');

describe.skipIf(cudaUnavailable !== null)('cuda recorded steps', () => {
  it('a recorded step replays its ops for new ids, state updated in place each run, equal to the ops run directly', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const r = rng(3);
    const V = 37, D = 19, K = 4;
    const table = rand(V * D, r), w = rand(D * D, r), conv = rand(D * K, r), norm = rand(D, r);
    const body = (b: Backend, state: Tensor, weights: Tensor[]) => (ids: Int32Array) => {
      const [tbl, wt, cw, nw] = weights;
      const e = b.embedding(tbl, ids); //                                  [1, D]
      const x = b.conv1dCausalStep({ x: b.reshape(e, [1, 1, D]), weight: cw, bias: null, state, silu: true });
      const n = b.rmsNorm(x, nw, 1e-5);
      const y = b.matmul(b.reshape(n, [1, D]), wt);
      b.free(e, x, n);
      return y;
    };
    const setup = (b: Backend) => ({
      state: b.zeros([1, D, K - 1]),
      weights: [b.upload(table, [V, D]), b.upload(w, [D, D]), b.upload(conv, [D, K]), b.upload(norm, [D])],
    });
    const tokens = [3, 36, 0, 3, 17, 5];
    const ref = new ReferenceBackend();
    const rs = setup(ref);
    const want: Float32Array[] = [];
    for (const id of tokens) want.push(await ref.read(body(ref, rs.state, rs.weights)(Int32Array.of(id))));

    const cs = setup(cuda);
    const step = cuda.recordStep(Int32Array.of(tokens[0]), body(cuda, cs.state, cs.weights));
    expect(step).not.toBeNull();
    expect(step!.ops).toBeGreaterThanOrEqual(4);
    expect(Array.from(await cuda.read(cs.state))).toEqual(new Array(D * (K - 1)).fill(0)); // recording runs nothing
    for (let i = 0; i < tokens.length; i++) {
      expectClose(await cuda.read(step!.run(Int32Array.of(tokens[i]))), want[i], 2e-5, `replay ${i}`);
    }
    expectClose(await cuda.read(cs.state), await ref.read(rs.state), 2e-5, 'conv state after the replays');
    expect(() => step!.run(Int32Array.of(V))).toThrow(expect.objectContaining({ code: 'E_TOKEN' }));
    expect(() => step!.run(Int32Array.of(1, 2))).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));

    const held = cuda.deviceBytes;
    step!.release();
    step!.release(); // idempotent
    expect(cuda.deviceBytes).toBe(held); // the blocks went back to the pool, nothing was lost
    expect(() => step!.run(Int32Array.of(1))).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
    await cuda.dispose();
  });

  it('an op that cannot be recorded (an upload inside the step) gives null, runs nothing and leaks nothing; the backend keeps working', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const table = cuda.upload(Float32Array.from({ length: 12 }, (_, i) => i), [4, 3]);
    const before = cuda.deviceBytes;
    const step = cuda.recordStep(Int32Array.of(1), (ids) => {
      const e = cuda.embedding(table, ids);
      const bias = cuda.upload(Float32Array.of(1, 1, 1), [1, 3]); // host data: not recordable
      return cuda.add(e, bias);
    });
    expect(step).toBeNull();
    expect(cuda.deviceBytes).toBeGreaterThanOrEqual(before); // blocks it took are back in the pool
    const again = cuda.recordStep(Int32Array.of(2), (ids) => { const e = cuda.embedding(table, ids); const y = cuda.add(e, e); cuda.free(e); return y; });
    expect(again).not.toBeNull();
    expect(Array.from(await cuda.read(again!.run(Int32Array.of(2))))).toEqual([12, 14, 16]);
    expect(Array.from(await cuda.read(again!.run(Int32Array.of(0))))).toEqual([0, 2, 4]);
    await cuda.dispose();
  });

  it('sessions decoding in turn each replay their own recording: the same logits as the reference; disposing them returns the memory', async () => {
    for (const c of goldenCases().filter((g) => g.name === 'm1-tied' || g.name === 'm2-g2-noconvbias')) {
      const m = await loadModel(c.dir, { backend: 'cuda' });
      const ref = await loadModel(c.dir, { backend: 'reference' });
      const cuda = (m as unknown as { parts: { backend: CudaBackend } }).parts.backend;
      let recorded = 0;
      const record = cuda.recordStep.bind(cuda);
      cuda.recordStep = (ids, body) => { const s = record(ids, body); if (s) recorded++; return s; };
      const prompts = [c.greedyPrompt, c.greedyPrompt.slice(0, 3)];
      const bytes: number[] = [];
      for (let round = 0; round < 2; round++) {
        const sessions = prompts.map(() => m.createSession());
        const refs = prompts.map(() => ref.createSession());
        await Promise.all(sessions.map((s, i) => s.prefill(prompts[i])));
        await Promise.all(refs.map((s, i) => s.prefill(prompts[i])));
        for (let t = 0; t < 5; t++) {
          for (let i = 0; i < sessions.length; i++) {
            const id = (t * 7 + i * 3) % m.config.vocabSize;
            const [got, want] = [await sessions[i].step(id), await refs[i].step(id)];
            const { diff, scale } = maxAbsDiff(got, want);
            expect(diff, `${c.name} session ${i} step ${t}`).toBeLessThanOrEqual(2e-5 * Math.max(1, scale));
          }
        }
        for (const s of [...sessions, ...refs]) await s.dispose();
        bytes.push(cuda.deviceBytes);
      }
      expect(recorded, c.name).toBe(4); // one recording per session, two sessions per round
      expect(bytes[1], `${c.name}: device bytes after the second round of sessions`).toBe(bytes[0]);
      await m.dispose();
      await ref.dispose();
    }
  });
});

describe.skipIf(cudaUnavailable !== null)('cuda tiled scan geometry', () => {
  // Blocks of 128 threads hold 128 / L channels of one batch row and stage the B/C rows of every group
  // their channels read: shapes where a block spans several heads and groups, the last block is partial,
  // N is not a power of two, and T splits into chunks (three passes), against the reference.
  it('Mamba-1: batch 3, 101 channels (a partial block), N = 5, T = 500 in chunks', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const ref = new ReferenceBackend();
    const r = rng(41);
    const B = 3, T = 500, I = 101, N = 5; // 101: partial blocks of 128 (scanTile) and of 4 (scanWarp), few enough blocks to chunk
    const d = {
      x: rand(B * T * I, r), dt: rand(B * T * I, r), z: rand(B * T * I, r), Bm: rand(B * T * N, r), Cm: rand(B * T * N, r),
      dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -Math.abs(v) - 0.05), D: rand(I, r), h0: rand(B * I * N, r),
    };
    const run = async (b: Backend) => {
      const state = b.upload(d.h0, [B, I, N]);
      const y = b.selectiveScan({
        x: b.upload(d.x, [B, T, I]), dt: b.upload(d.dt, [B, T, I]), z: b.upload(d.z, [B, T, I]), B: b.upload(d.Bm, [B, T, N]), C: b.upload(d.Cm, [B, T, N]),
        dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), D: b.upload(d.D, [I]), state,
      });
      return [await b.read(y), await b.read(state)];
    };
    const got = await run(cuda);
    expect(cuda.lastScanChunks).toBeGreaterThan(1);
    const want = await run(ref);
    expectClose(got[0], want[0], 1e-4, 'y'); // 500 sequential f32 steps, chunk decays composed: ≪ 1e-4, any wrong index O(1)
    expectClose(got[1], want[1], 1e-4, 'state');
    await cuda.dispose();
  });

  // [H, P, G, N]: P = 5 (one channel a thread, blocks of 64 channels spanning 3 of 4 groups); P = 8 and
  // P = 4 (four channels of a head a thread), blocks spanning 3 and 2 groups, N = 24 and 128.
  for (const [H, P, G, N] of [[24, 5, 4, 24], [12, 8, 3, 24], [6, 4, 2, 128]]) {
    it(`Mamba-2: batch 2, ${H} heads × ${P} dims in ${G} groups, N = ${N}, T = 700 in chunks, dt clamped`, async () => {
      const cuda = (await cudaBackend()) as CudaBackend;
      const ref = new ReferenceBackend();
      const r = rng(43 + P);
      const B = 2, T = 700;
      const d = {
        x: rand(B * T * H * P, r), dt: rand(B * T * H, r, 2), Bm: rand(B * T * G * N, r), Cm: rand(B * T * G * N, r),
        dtBias: rand(H, r), A: rand(H, r).map((v) => -Math.abs(v) - 0.1), D: rand(H, r), h0: rand(B * H * P * N, r),
      };
      const run = async (b: Backend) => {
        const state = b.upload(d.h0, [B, H, P, N]);
        const y = b.ssdChunkScan({
          x: b.upload(d.x, [B, T, H * P]), dt: b.upload(d.dt, [B, T, H]), B: b.upload(d.Bm, [B, T, G * N]), C: b.upload(d.Cm, [B, T, G * N]),
          dtBias: b.upload(d.dtBias, [H]), A: b.upload(d.A, [H]), D: b.upload(d.D, [H]),
          dtMin: 0.001, dtMax: 0.5, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: 256, state,
        });
        return [await b.read(y), await b.read(state)];
      };
      const got = await run(cuda);
      expect(cuda.lastScanChunks).toBeGreaterThan(1);
      const want = await run(ref);
      expectClose(got[0], want[0], 1e-4, 'y');
      expectClose(got[1], want[1], 1e-4, 'state');
      await cuda.dispose();
    });
  }
});

describe.skipIf(cudaUnavailable !== null)('cuda fused launches', () => {
  // The backend holds a GEMV (≤ 8 rows) or an add back and launches it together with what follows:
  // GEMVs over the same x as one gemvBatch, an add and the rmsNorm of its sum as one addRmsNorm.
  it('GEMVs over one input (mixed bias, sizes and a change of input mid-run) and add + rmsNorm equal the reference; the held-back sum stays readable', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const ref = new ReferenceBackend();
    const r = rng(51);
    const rows = 3, K = 96, D = 40;
    const x = rand(rows * K, r), x2 = rand(rows * K, r), h = rand(rows * D, r), nw = rand(D, r);
    const ws = [7, 130, 1, 64, 33, 5, 9].map((M) => ({ M, w: rand(M * K, r), bias: M % 2 ? rand(M, r) : null }));
    for (const dtype of ['f32', 'bf16'] as const) {
      const run = async (b: Backend) => {
        const X = b.upload(x, [rows, K]), X2 = b.upload(x2, [rows, K]);
        const W = ws.map((m) => ({ w: b.upload(m.w, [m.M, K], dtype), bias: m.bias ? b.upload(m.bias, [m.M]) : null }));
        // 7 matrices over X (more than one batch holds), then one over X2, then X again
        const outs = W.map((m) => b.matmul(X, m.w, m.bias));
        outs.push(b.matmul(X2, W[1].w, W[1].bias), b.matmul(X, W[2].w, W[2].bias));
        const H = b.upload(h, [1, rows, D]), NW = b.upload(nw, [D]); // uploads launch what is held back: before the add
        const sum = b.add(H, H);
        const normed = b.rmsNorm(sum, NW, 1e-5);
        const sum2 = b.add(sum, H); // an add not followed by a norm of it
        return Promise.all([...outs, sum, normed, sum2].map((t) => b.read(t)));
      };
      const [got, want] = [await run(cuda), await run(ref)];
      got.forEach((g, i) => expectClose(g, want[i], 2e-5 * Math.sqrt(K / 64) + 1e-6, `${dtype} output ${i}`));
    }
    await cuda.dispose();
  });

  it('T = 1 convs of different tensors share a launch (Mamba-2\'s x, B, C); a conv of the same state or of a held-back output does not', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const ref = new ReferenceBackend();
    const r = rng(53);
    const B = 2, K = 4, Cs = [37, 8, 8, 5];
    const data = Cs.map((C) => ({ C, w: rand(C * K, r), bias: C === 8 ? null : rand(C, r), s0: rand(B * C * (K - 1), r), xs: [0, 1, 2].map(() => rand(B * C, r)) }));
    const run = async (b: Backend) => {
      // every upload first: an upload launches what is held back, and the convs below must be held together
      const parts = data.map((d) => ({
        d, w: b.upload(d.w, [d.C, K]), bias: d.bias ? b.upload(d.bias, [d.C]) : null, state: b.upload(d.s0, [B, d.C, K - 1]),
        xs: d.xs.map((x) => b.upload(x, [B, 1, d.C])),
      }));
      const outs: Tensor[] = [];
      for (let t = 0; t < 3; t++) {
        for (const p of parts) outs.push(b.conv1dCausalStep({ x: p.xs[t], weight: p.w, bias: p.bias, state: p.state, silu: t !== 1 }));
        // a conv whose input is the previous conv's (still held back) output
        outs.push(b.conv1dCausalStep({ x: outs[outs.length - 1], weight: parts[3].w, bias: parts[3].bias, state: parts[3].state, silu: true }));
      }
      return Promise.all([...outs, ...parts.map((p) => p.state)].map((t) => b.read(t)));
    };
    const [got, want] = [await run(cuda), await run(ref)];
    got.forEach((g, i) => expectClose(g, want[i], 2e-5, `output ${i}`));
    await cuda.dispose();
  });
});
