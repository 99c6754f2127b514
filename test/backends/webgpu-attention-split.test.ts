/**
 * The WebGPU split-K ("flash-decoding") attention (gpu/wgsl/attention_split.wgsl +
 * attention_combine.wgsl) on long KV caches, against the reference backend (f64 eager softmax) and
 * against the serial kernel (gpu/wgsl/attention.wgsl) in the same process:
 *  - 3,000 keys: a 2,980-token prefill (serial kernel), then with the split kernel a 17-token block
 *    (a long prefill's later chunk, each query with its own causal end) and 3 decode steps, GQA 2/1,
 *    split lengths 64 (47 splits), 320 (not a power of two, 10 splits), the default rule, one split;
 *  - an odd head_dim (33) and head_dim 80 (two register lanes per thread, the second partly used);
 *  - the combine pass across splits whose maxima differ by hundreds (scale 25, and one split's keys
 *    boosted): without the log-sum-exp rescale exp() would overflow or every split but one vanish.
 * Tolerance 1e-4 relative to max(1, |value|), as for the op suite (f32 vs f64 sums, WGSL exp ulp
 * bounds); split vs serial 2e-5 (both f32, only the summation order differs).
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import type { Backend } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { expectClose } from './op-suite.js';
import { adapterMissing } from '../helpers/webgpu.js';
import { rand, rng } from '../helpers/sequences.js';

const created = await createWebGpuBackend({ allowFallback: true });
const reason = adapterMissing('webgpu split attention tests', created);
const gpu = (reason ? null : created) as WebGpuBackend | null;
vi.setConfig({ testTimeout: 180_000 });


/** A prefill, then a block of `block` tokens (a long prefill's later chunk: P > 0, T > 1), then single-token steps. */
interface Case { H: number; G: number; Dh: number; prefill: number; block: number; steps: number; scale: number; seed: number; boost?: [number, number, number] }

/** Rows [t0, t0 + len) of a [1, T, W] array. */
const rows = (a: Float32Array, W: number, t0: number, len: number) => a.slice(t0 * W, (t0 + len) * W);

function data(c: Case) {
  const r = rng(c.seed);
  const T = c.prefill + c.block + c.steps;
  const q = rand(T * c.H * c.Dh, r, 1.5), k = rand(T * c.G * c.Dh, r, 1.5), v = rand(T * c.G * c.Dh, r);
  if (c.boost) { // keys [from, to) scaled: one split's scores far above (or below) the rest
    const [from, to, f] = c.boost;
    for (let i = from * c.G * c.Dh; i < to * c.G * c.Dh; i++) k[i] *= f;
  }
  return { q, k, v };
}

/** Prefill, block, then single-token steps; returns each call's output. `afterPrefill` runs between the first two calls. */
async function run(be: Backend, c: Case, afterPrefill?: () => void): Promise<Float32Array[]> {
  const { q, k, v } = data(c);
  const cache = be.createKvCache(1, c.G, c.Dh);
  const out: Float32Array[] = [];
  const qw = c.H * c.Dh, kw = c.G * c.Dh;
  const at = c.prefill + c.block;
  const parts: [number, number][] = [[0, c.prefill], ...(c.block ? [[c.prefill, c.block] as [number, number]] : []), ...Array.from({ length: c.steps }, (_, i) => [at + i, 1] as [number, number])];
  for (const [t0, len] of parts) {
    const args = {
      q: be.upload(rows(q, qw, t0, len), [1, len, qw]), k: be.upload(rows(k, kw, t0, len), [1, len, kw]),
      v: be.upload(rows(v, kw, t0, len), [1, len, kw]),
      cache, numHeads: c.H, numKvHeads: c.G, headDim: c.Dh, scale: c.scale,
    };
    out.push(await be.read(len === 1 ? be.attentionStep(args) : be.attention(args)));
    if (t0 === 0) afterPrefill?.();
  }
  return out;
}

/**
 * Runs a case with the given kernel. The first (prefill) call uses `prefillKernel` ('serial' by
 * default: on a software adapter the split kernel's barriers make a 3,000-row prefill slow, and the
 * op suite's T = 1000 case already covers a split prefill from an empty cache).
 */
async function withKernel(g: WebGpuBackend, kernel: 'serial' | 'split' | 'auto', keysPerSplit: number | undefined, c: Case, prefillKernel: 'serial' | 'split' | 'auto' = 'serial') {
  const set = (k: typeof kernel) => { g.attentionKernel = k; g.attentionKeysPerSplit = keysPerSplit; };
  set(prefillKernel);
  try { return await run(g, c, () => set(kernel)); } finally { g.attentionKernel = 'auto'; g.attentionKeysPerSplit = undefined; }
}

if (gpu) {
  afterAll(async () => { await gpu.dispose(); });
  const ref = new ReferenceBackend();

  describe(`webgpu split-K attention on ${gpu.info.device}`, () => {
    const long: Case = { H: 2, G: 1, Dh: 16, prefill: 2980, block: 17, steps: 3, scale: 0.25, seed: 3 };
    it('3,000 keys (prefill 2,980, a block of 17, 3 steps), GQA 2/1: split lengths 64, 320, default, one split = serial = reference', async () => {
      const want = await run(ref, long);
      const serial = await withKernel(gpu, 'serial', undefined, long);
      for (const C of [64, 320, undefined, 3008]) {
        const got = await withKernel(gpu, 'split', C, long);
        got.forEach((y, i) => {
          expectClose(y, want[i], 1e-4, `C=${C ?? 'default'} call ${i} vs reference`);
          expectClose(y, serial[i], 2e-5, `C=${C ?? 'default'} call ${i} vs serial kernel`);
        });
      }
    });

    for (const Dh of [33, 80]) {
      it(`head_dim ${Dh}, 3 query heads on 1 kv head, 1,100 keys, splits of 128: matches reference`, async () => {
        const c: Case = { H: 3, G: 1, Dh, prefill: 1090, block: 7, steps: 3, scale: 1 / Math.sqrt(Dh), seed: Dh };
        const want = await run(ref, c);
        const got = await withKernel(gpu, 'split', 128, c, 'split');
        got.forEach((y, i) => expectClose(y, want[i], 1e-4, `head_dim ${Dh} call ${i}`));
      });
    }

    it('combine across splits whose maxima differ by hundreds (scale 25; keys 1,300..1,363 boosted ×4): matches reference', async () => {
      const c: Case = { H: 2, G: 1, Dh: 16, prefill: 1990, block: 9, steps: 1, scale: 25, seed: 9, boost: [1300, 1364, 4] };
      const want = await run(ref, c);
      // the scores really do span hundreds: otherwise this case tests nothing the others do not
      const { q, k } = data(c);
      const last = c.prefill + c.block; let lo = Infinity, hi = -Infinity;
      for (let s = 0; s <= last; s++) {
        let dot = 0;
        for (let d = 0; d < c.Dh; d++) dot += q[last * c.H * c.Dh + d] * k[s * c.Dh + d];
        lo = Math.min(lo, dot * c.scale); hi = Math.max(hi, dot * c.scale);
      }
      expect(hi - lo).toBeGreaterThan(300);
      for (const C of [64, 256]) {
        const got = await withKernel(gpu, 'split', C, c);
        got.forEach((y, i) => {
          expect(y.every(Number.isFinite), `C=${C} call ${i} finite`).toBe(true);
          expectClose(y, want[i], 1e-4, `C=${C} call ${i}`);
        });
      }
    });

    it('the auto rule: serial kernel for ≤ 32 keys, split above; both match the reference', async () => {
      for (const prefill of [20, 40]) {
        const c: Case = { H: 2, G: 2, Dh: 8, prefill, block: 0, steps: 1, scale: 0.35, seed: prefill };
        const want = await run(ref, c);
        const got = await withKernel(gpu, 'auto', undefined, c, 'auto');
        got.forEach((y, i) => expectClose(y, want[i], 1e-4, `auto, ${prefill} keys, call ${i}`));
      }
      expect(() => { gpu.attentionKernel = 'split'; gpu.attentionKeysPerSplit = 100; try { gpu.attention({ q: gpu.upload(new Float32Array(8), [1, 1, 8]), k: gpu.upload(new Float32Array(8), [1, 1, 8]), v: gpu.upload(new Float32Array(8), [1, 1, 8]), cache: gpu.createKvCache(1, 1, 8), numHeads: 1, numKvHeads: 1, headDim: 8, scale: 1 }); } finally { gpu.attentionKernel = 'auto'; gpu.attentionKeysPerSplit = undefined; } })
        .toThrow(expect.objectContaining({ code: 'E_BACKEND' }));
    });
  });
}
