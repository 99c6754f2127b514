/**
 * The cuda attention family's own paths, beyond the shared op suite's shapes (where a GPU is present):
 * key-axis splits on long caches (decode, and a prefill chunk whose rows end at different keys), every
 * head_dim width of the kernel (≤ 32, 64, 128, 256, and the shared-memory opt-in above 128), and the
 * mixture of experts' two paths (few rows: fused kernels over a pointer table; more rows: routes read
 * back, per-expert GEMMs) in f32 / f16 / bf16. Tolerance 2e-5 relative, as ops.test.ts: f32 kernels
 * whose only difference from the reference is summation order (online softmax, warp reductions).
 */
import { describe, expect, it } from 'vitest';
import '../../src/node.js';
import type { Backend } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import type { CudaBackend } from '../../src/backends/cuda/index.js';
import { expectClose } from '../backends/op-suite.js';
import { concatRows, seeded, splitTime, timeRows } from '../helpers/sequences.js';
import { cudaBackend, cudaUnavailable, skipNote } from './available.js';

skipNote('attention family');

describe.skipIf(cudaUnavailable !== null)('cuda attention family', () => {
  /** `past` tokens written into the cache, then pieces of `splits` tokens (1 = attentionStep); → y and the cache. */
  const run = async (be: Backend, o: { B: number; H: number; G: number; Dh: number; past: number; splits: number[]; seed: number }) => {
    const { B, H, G, Dh, past, splits } = o;
    const T = splits.reduce((a, b) => a + b, 0);
    const r = seeded(o.seed);
    const pk = r.array(B * G * past * Dh, 1.5), pv = r.array(B * G * past * Dh);
    const q = r.array(B * T * H * Dh, 1.5), k = r.array(B * T * G * Dh, 1.5), v = r.array(B * T * G * Dh);
    const cache = be.createKvCache(B, G, Dh);
    be.writeKvCache(cache, pk, pv, past);
    const parts: Float32Array[] = [];
    const used: number[] = [];
    for (const [t0, len] of splitTime(splits)) {
      const args = {
        q: be.upload(timeRows(q, B, T, H * Dh, t0, len), [B, len, H * Dh]),
        k: be.upload(timeRows(k, B, T, G * Dh, t0, len), [B, len, G * Dh]),
        v: be.upload(timeRows(v, B, T, G * Dh, t0, len), [B, len, G * Dh]),
        cache, numHeads: H, numKvHeads: G, headDim: Dh, scale: 1 / Math.sqrt(Dh),
      };
      parts.push(await be.read(len === 1 ? be.attentionStep(args) : be.attention(args)));
      used.push((be as CudaBackend).lastAttentionSplits);
    }
    return { y: concatRows(parts, B, splits, H * Dh), kv: await be.readKvCache(cache), used };
  };

  it('long caches take key splits (decode and a prefill chunk), every head_dim width; equal to the reference', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const ref = new ReferenceBackend();
    for (const [B, H, G, Dh, past] of [[1, 8, 2, 64, 1000], [2, 4, 4, 128, 700], [1, 6, 1, 200, 513], [1, 2, 2, 256, 640], [1, 3, 1, 17, 2000]]) {
      const o = { B, H, G, Dh, past, splits: [37, 1, 1], seed: Dh };
      const got = await run(cuda, o);
      expect(got.used[1], `head_dim ${Dh}: decode splits`).toBeGreaterThan(1);
      expect(got.used[0], `head_dim ${Dh}: prefill-chunk splits`).toBeGreaterThan(1);
      const want = await run(ref, o);
      expectClose(got.y, want.y, 2e-5, `head_dim ${Dh}, ${past} cached keys`);
      expect(got.kv.k).toEqual(want.kv.k);
      expect(got.kv.v).toEqual(want.kv.v);
    }
    await cuda.dispose();
  }, 30_000); // the reference backend's CPU attention over 2,000-key caches takes ~5 s on a busy 16-core host (H100 machine, 2026-12-06)

  it('forced splits of 32 keys equal one split, and the reference, on a causal prefill (rows ending mid-split)', async () => {
    const cuda = (await cudaBackend()) as CudaBackend;
    const o = { B: 2, H: 6, G: 3, Dh: 24, past: 0, splits: [100, 3, 1], seed: 3 };
    const whole = await run(cuda, o);
    cuda.attentionKeysPerSplit = 32;
    const split = await run(cuda, o);
    expect(split.used[0]).toBe(4);
    expectClose(split.y, whole.y, 1e-5, 'split vs one split');
    expectClose(split.y, (await run(new ReferenceBackend(), o)).y, 2e-5, 'vs reference');
    cuda.attentionKeysPerSplit = 31;
    expect(await run(cuda, o).catch((e) => e)).toEqual(expect.objectContaining({ code: 'E_ARGUMENT' }));
    await cuda.dispose();
  });

  it('a head_dim above the kernel\'s 256 is E_SHAPE, before the cache changes', async () => {
    const cuda = await cudaBackend();
    const c = cuda.createKvCache(1, 1, 257);
    const t = cuda.zeros([1, 1, 257]);
    expect(() => cuda.attention({ q: t, k: t, v: t, cache: c, numHeads: 1, numKvHeads: 1, headDim: 257, scale: 1 })).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    expect(c.length).toBe(0);
    await cuda.dispose();
  });

  it('mixture of experts: few rows (fused kernels) and many rows (per-expert GEMMs), f32 / f16 / bf16 experts, equal to the reference', async () => {
    const cuda = await cudaBackend();
    const ref = new ReferenceBackend();
    const r = seeded(41);
    const D = 24, I = 40, E = 6;
    const router = r.array(E * D, 2);
    const W = Array.from({ length: E }, () => [r.array(I * D, 0.3), r.array(I * D, 0.3), r.array(D * I, 0.3)]);
    for (const rows of [3, 38]) {
      const x = r.array(rows * D, 2);
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        for (const [topK, normalize] of [[2, false], [3, true]] as const) {
          const [got, want] = await Promise.all([cuda, ref].map((b) => b.read(b.mixtureOfExperts({
            x: b.upload(x, [rows, D]), router: b.upload(router, [E, D]), topK, normalize,
            gate: W.map(([w]) => b.upload(w, [I, D], dtype)), up: W.map(([, w]) => b.upload(w, [I, D], dtype)), down: W.map(([, , w]) => b.upload(w, [D, I], dtype)),
          }))));
          expectClose(got, want, 2e-5, `${rows} rows, ${dtype}, top-${topK}${normalize ? ' normalised' : ''}`);
          expect(Math.max(...got.map(Math.abs))).toBeGreaterThan(0.05);
        }
      }
    }
    await cuda.dispose();
  });
});
