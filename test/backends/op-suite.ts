/**
 * The op-level suite every backend runs (one copy, parameterised by backend): each op on
 * random odd shapes, compared with the reference backend, plus the invariants that make
 * chunked prefill correct — a sequence op over T tokens equals the same op over any split
 * of T carrying the state, and equals T step-form calls.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, OpName, Tensor } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { concatRows, rand, rng, seeded, splitTime, timeRows } from '../helpers/sequences.js';
import { ropeInvFreq } from '../../src/backends/attention-math.js';

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

export function expectClose(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  expect(a.length, `${what}: length`).toBe(b.length);
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i]));
    if (!(d <= worst)) { worst = d; at = i; }
  }
  expect(worst, `${what}: worst relative error at ${at} (${a[at]} vs ${b[at]})`).toBeLessThanOrEqual(tol);
}

export interface OpSuiteOptions {
  /** Relative tolerance against the reference backend (f32 kernels reorder sums). */
  tolerance: number;
  /**
   * Ops this backend leaves to another (its supportsOp says no, so 'auto' never gives it a model that
   * needs them): their cases are skipped. Default: none — every op is tested.
   */
  unsupported?: readonly OpName[];
  /** The backend implements the optional Backend.readTopK: its case runs (and must pass). */
  readTopK?: boolean;
}

export function runOpSuite(name: string, create: () => Promise<Backend> | Backend, opts: OpSuiteOptions): void {
  const ref = new ReferenceBackend();
  describe(`${name} ops`, () => {
    const both = async <T>(fn: (b: Backend) => Promise<T>): Promise<[T, T]> => [await fn(await create()), await fn(ref)];
    const without = (op: OpName) => (opts.unsupported ?? []).includes(op);

    it('matmul with and without bias, odd sizes, f32 and f16 weights', async () => {
      for (const [rows, K, M] of [[1, 7, 5], [3, 33, 17], [13, 65, 31], [2, 1, 3]]) {
        const r = rng(rows * 100 + K);
        const x = rand(rows * K, r), w = rand(M * K, r), bias = rand(M, r);
        for (const dtype of ['f32', 'f16'] as const) {
          const [got, want] = await both(async (b) => {
            const out = b.matmul(b.upload(x, [rows, K]), b.upload(w, [M, K], dtype), b.upload(bias, [M]));
            return b.read(out);
          });
          expectClose(got, want, opts.tolerance, `matmul ${rows}x${K}x${M} ${dtype}`);
        }
      }
    });

    it('embedding, rmsNorm, gatedRmsNorm (full width and grouped), add', async () => {
      const r = rng(7);
      const V = 11, D = 13;
      const table = rand(V * D, r), ids = Int32Array.from([0, 10, 3, 3, 7]);
      const x = rand(5 * D, r, 3), g = rand(5 * D, r, 3), w = rand(D, r);
      const [got, want] = await both(async (b) => {
        const e = b.embedding(b.upload(table, [V, D], 'f16'), ids);
        const n = b.rmsNorm(b.upload(x, [5, D]), b.upload(w, [D]), 1e-5);
        const gn = b.gatedRmsNorm(b.upload(x, [1, 5, D]), b.upload(g, [1, 5, D]), b.upload(w, [D]), 1e-5, D);
        const sum = b.add(e, n);
        return Promise.all([b.read(e), b.read(n), b.read(gn), b.read(sum)]);
      });
      got.forEach((t, i) => expectClose(t, want[i], opts.tolerance, `op ${i}`));
      // grouped variant on a width the group divides
      const [gg, gw] = await both(async (b) => {
        const X = rand(2 * 12, rng(3)), G = rand(2 * 12, rng(4)), W = rand(12, rng(5));
        return b.read(b.gatedRmsNorm(b.upload(X, [2, 12]), b.upload(G, [2, 12]), b.upload(W, [12]), 1e-6, 4));
      });
      expectClose(gg, gw, opts.tolerance, 'grouped gatedRmsNorm');
    });

    for (const K of [1, 2, 4]) {
      it(`conv1dCausal (kernel ${K}): whole = split = steps, with state carried`, async () => {
        const b = await create();
        const B = 2, T = 11, C = 7;
        const r = rng(K);
        const x = rand(B * T * C, r), w = rand(C * K, r), bias = rand(C, r);
        const whole = async (splits: number[], step: boolean) => {
          const state = b.zeros([B, C, K - 1]);
          const parts: Float32Array[] = [];
          let t0 = 0;
          for (const len of splits) {
            const xs = b.upload(timeRows(x, B, T, C, t0, len), [B, len, C]);
            const args = { x: xs, weight: b.upload(w, [C, K]), bias: b.upload(bias, [C]), state, silu: true };
            parts.push(await b.read(step ? b.conv1dCausalStep(args) : b.conv1dCausal(args)));
            t0 += len;
          }
          return { y: concatRows(parts, B, splits, C), state: await b.read(state) };
        };
        const a = await whole([T], false);
        const s = await whole([4, 1, 6], false);
        const st = await whole(new Array(T).fill(1), true);
        expectClose(s.y, a.y, 1e-6, 'split vs whole');
        expectClose(st.y, a.y, 1e-6, 'steps vs whole');
        expectClose(st.state, a.state, 0, 'state');
        if (b !== ref) {
          const r2 = await (async () => {
            const state = ref.zeros([B, C, K - 1]);
            return ref.read(ref.conv1dCausal({ x: ref.upload(x, [B, T, C]), weight: ref.upload(w, [C, K]), bias: ref.upload(bias, [C]), state, silu: true }));
          })();
          expectClose(a.y, r2, opts.tolerance, 'vs reference');
        }
      });
    }

    it('selectiveScan: whole = split = steps; matches reference', async () => {
      const b = await create();
      const B = 2, T = 13, I = 5, N = 3;
      const r = rng(11);
      const data = {
        x: rand(B * T * I, r), dt: rand(B * T * I, r), dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -Math.abs(v) - 0.1),
        B: rand(B * T * N, r), C: rand(B * T * N, r), D: rand(I, r), z: rand(B * T * I, r),
      };
      const run = async (be: Backend, splits: number[]) => {
        const state = be.zeros([B, I, N]);
        const parts: Float32Array[] = [];
        let t0 = 0;
        for (const len of splits) {
          const sl = (a: Float32Array, C: number) => be.upload(timeRows(a, B, T, C, t0, len), [B, len, C]);
          const args = {
            x: sl(data.x, I), dt: sl(data.dt, I), z: sl(data.z, I), B: sl(data.B, N), C: sl(data.C, N),
            dtBias: be.upload(data.dtBias, [I]), A: be.upload(data.A, [I, N]), D: be.upload(data.D, [I]), state,
          };
          parts.push(await be.read(len === 1 ? be.selectiveScanStep(args) : be.selectiveScan(args)));
          t0 += len;
        }
        return { y: concatRows(parts, B, splits, I), h: await be.read(state) };
      };
      const whole = await run(b, [T]);
      expectClose((await run(b, [5, 8])).y, whole.y, 1e-5, 'split');
      const steps = await run(b, new Array(T).fill(1));
      expectClose(steps.y, whole.y, 1e-5, 'steps');
      expectClose(steps.h, whole.h, 1e-5, 'state');
      expectClose(whole.y, (await run(ref, [T])).y, opts.tolerance, 'vs reference');
    });

    for (const [G, chunk] of [[1, 4], [2, 3], [3, 1], [1, 64]] as const) {
      it(`ssd: chunked (chunk ${chunk}, ${G} group(s)) = steps = split; dt clamp applies`, async () => {
        const b = await create();
        const B = 2, T = 10, H = 6, P = 3, N = 5;
        const r = rng(G * 10 + chunk);
        const data = {
          x: rand(B * T * H * P, r), dt: rand(B * T * H, r, 2), dtBias: rand(H, r), A: rand(H, r).map((v) => -Math.abs(v) * 2 - 0.1),
          B: rand(B * T * G * N, r), C: rand(B * T * G * N, r), D: rand(H, r),
        };
        const run = async (be: Backend, splits: number[], dtMax: number) => {
          const state = be.zeros([B, H, P, N]);
          const parts: Float32Array[] = [];
          let t0 = 0;
          for (const len of splits) {
            const sl = (a: Float32Array, C: number) => be.upload(timeRows(a, B, T, C, t0, len), [B, len, C]);
            const args = {
              x: sl(data.x, H * P), dt: sl(data.dt, H), B: sl(data.B, G * N), C: sl(data.C, G * N),
              dtBias: be.upload(data.dtBias, [H]), A: be.upload(data.A, [H]), D: be.upload(data.D, [H]),
              dtMin: 0.01, dtMax, numHeads: H, headDim: P, nGroups: G, stateSize: N, chunkSize: chunk, state,
            };
            parts.push(await be.read(len === 1 ? be.ssdStep(args) : be.ssdChunkScan(args)));
            t0 += len;
          }
          return { y: concatRows(parts, B, splits, H * P), h: await be.read(state) };
        };
        const whole = await run(b, [T], Infinity);
        const steps = await run(b, new Array(T).fill(1), Infinity);
        expectClose(steps.y, whole.y, 1e-5, 'steps');
        expectClose(steps.h, whole.h, 1e-5, 'state');
        expectClose((await run(b, [3, 7], Infinity)).y, whole.y, 1e-5, 'split');
        const clamped = await run(b, [T], 0.3);
        const clampedSteps = await run(b, new Array(T).fill(1), 0.3);
        expectClose(clampedSteps.y, clamped.y, 1e-5, 'clamped steps');
        expect(Math.max(...clamped.y.map((v, i) => Math.abs(v - whole.y[i])))).toBeGreaterThan(1e-3);
        expectClose(whole.y, (await run(ref, [T], Infinity)).y, opts.tolerance, 'vs reference');
      });
    }

    it.skipIf(without('rope'))('rope: partial rotary (3 of 5 pairs), odd head_dim, at an offset; matches reference', async () => {
      const B = 2, T = 7, H = 3, Dh = 11;
      const x = rand(B * T * H * Dh, rng(21), 2);
      const invFreq = ropeInvFreq(Dh, 10000, 0.5); // d = 5 → 3 pairs: dims 0..5 rotate, 6..10 pass
      expect(invFreq.length).toBe(3);
      const [got, want] = await both(async (b) => b.read(b.rope({ x: b.upload(x, [B, T, H * Dh]), numHeads: H, headDim: Dh, invFreq, position: 995 })));
      expectClose(got, want, opts.tolerance, 'rope');
      for (let i = 0; i < got.length; i++) if (i % Dh >= 6) expect(got[i]).toBe(x[i]);
      // position 0 is the identity
      const [id] = await both(async (b) => b.read(b.rope({ x: b.upload(x, [B, T, H * Dh]), numHeads: H, headDim: Dh, invFreq, position: 0 })));
      expectClose(id.subarray(0, H * Dh), x.subarray(0, H * Dh), 1e-7, 'rope at position 0');
    });

    for (const T of [1, 2, 127, 1000]) {
      it.skipIf(without('attention'))(`attention (GQA 6/2 heads, head_dim 10, T = ${T}): whole = split${T <= 127 ? ' = steps' : ''}; cache grows by doubling; matches reference`, async () => {
        const b = await create();
        const B = 2, H = 6, G = 2, Dh = 10;
        const r = seeded(T);
        const q = r.array(B * T * H * Dh, 1.5), k = r.array(B * T * G * Dh, 1.5), v = r.array(B * T * G * Dh);
        const run = async (be: Backend, splits: number[]) => {
          const cache = be.createKvCache(B, G, Dh);
          const parts: Float32Array[] = [];
          for (const [t0, len] of splitTime(splits)) {
            const args = {
              q: be.upload(timeRows(q, B, T, H * Dh, t0, len), [B, len, H * Dh]),
              k: be.upload(timeRows(k, B, T, G * Dh, t0, len), [B, len, G * Dh]),
              v: be.upload(timeRows(v, B, T, G * Dh, t0, len), [B, len, G * Dh]),
              cache, numHeads: H, numKvHeads: G, headDim: Dh, scale: 1 / Math.sqrt(Dh),
            };
            parts.push(await be.read(len === 1 ? be.attentionStep(args) : be.attention(args)));
          }
          return { y: concatRows(parts, B, splits, H * Dh), cache, kv: await be.readKvCache(cache) };
        };
        const whole = await run(b, [T]);
        expect(whole.cache.length).toBe(T);
        expect(whole.cache.capacity).toBe(Math.max(16, 2 ** Math.ceil(Math.log2(T))));
        expect(whole.kv.k).toEqual(Float32Array.from({ length: B * G * T * Dh }, (_, i) => {
          const d = i % Dh, t = Math.floor(i / Dh) % T, bg = Math.floor(i / (Dh * T));
          return k[((Math.floor(bg / G) * T + t) * G + (bg % G)) * Dh + d];
        }));
        if (T > 1) {
          const split = await run(b, T > 127 ? [600, 1, 399] : [Math.floor(T / 2), T - Math.floor(T / 2)]);
          expectClose(split.y, whole.y, 1e-5, 'split');
          expect(split.kv.v).toEqual(whole.kv.v);
        }
        if (T <= 127) {
          const steps = await run(b, new Array(T).fill(1));
          expectClose(steps.y, whole.y, 1e-5, 'steps');
        }
        expectClose(whole.y, (await run(ref, [T])).y, opts.tolerance, 'vs reference');
      });
    }

    it.skipIf(without('attention'))('attention with an odd head_dim (7), 3 query heads on 1 kv head, batch 1, blocks of 37 then steps; matches reference', async () => {
      const b = await create();
      const B = 1, H = 3, G = 1, Dh = 7, T = 41;
      const r = seeded(77);
      const q = r.array(B * T * H * Dh, 2), k = r.array(B * T * G * Dh, 2), v = r.array(B * T * G * Dh);
      const run = async (be: Backend) => {
        const cache = be.createKvCache(B, G, Dh);
        const parts: Float32Array[] = [];
        const splits = [37, 1, 1, 2];
        for (const [t0, len] of splitTime(splits)) {
          const args = {
            q: be.upload(timeRows(q, B, T, H * Dh, t0, len), [B, len, H * Dh]),
            k: be.upload(timeRows(k, B, T, G * Dh, t0, len), [B, len, G * Dh]),
            v: be.upload(timeRows(v, B, T, G * Dh, t0, len), [B, len, G * Dh]),
            cache, numHeads: H, numKvHeads: G, headDim: Dh, scale: 0.4,
          };
          parts.push(await be.read(len === 1 ? be.attentionStep(args) : be.attention(args)));
        }
        return concatRows(parts, B, splits, H * Dh);
      };
      expectClose(await run(b), await run(ref), opts.tolerance, 'odd head_dim attention');
    });

    it.skipIf(without('attention'))('KV cache: write/read/truncate round trip, a cap refuses growth with E_MEMORY', async () => {
      const b = await create();
      const B = 2, G = 3, Dh = 5, L = 37;
      const r = seeded(5);
      const k = r.array(B * G * L * Dh), v = r.array(B * G * L * Dh);
      const c = b.createKvCache(B, G, Dh, { maxTokens: 40 });
      b.writeKvCache(c, k, v, L);
      expect(c.length).toBe(L);
      expect(c.capacity).toBe(40); // doubling clamped to the cap
      const back = await b.readKvCache(c);
      expect(back.k).toEqual(k);
      expect(back.v).toEqual(v);
      b.truncateKvCache(c, 30);
      expect((await b.readKvCache(c)).k.length).toBe(B * G * 30 * Dh);
      const qkv = (T: number, n: number) => b.upload(r.array(B * T * n * Dh), [B, T, n * Dh]);
      const args = (T: number) => ({ q: qkv(T, G), k: qkv(T, G), v: qkv(T, G), cache: c, numHeads: G, numKvHeads: G, headDim: Dh, scale: 0.5 });
      b.attention(args(10));
      expect(c.length).toBe(40);
      expect(() => b.attentionStep(args(1))).toThrow(expect.objectContaining({ code: 'E_MEMORY' }));
      expect(() => b.writeKvCache(c, k, v, 41)).toThrow(expect.objectContaining({ code: 'E_STATE' }));
      b.freeKvCache(c);
    });

    it.skipIf(without('swiglu'))('swiglu, relu2, mixture of experts (top-2 of 5, with and without renormalisation)', async () => {
      const r = seeded(9);
      const rows = 7, D = 11, I = 13, E = 5;
      const x = r.array(rows * D, 2), g = r.array(rows * D, 3), router = r.array(E * D, 2);
      const W = Array.from({ length: E }, () => [r.array(I * D, 0.3), r.array(I * D, 0.3), r.array(D * I, 0.3)]);
      for (const normalize of [false, true]) {
        const [got, want] = await both(async (b) => {
          const X = b.upload(x, [1, rows, D]);
          const moe = b.mixtureOfExperts({
            x: X, router: b.upload(router, [E, D]), topK: 2, normalize,
            gate: W.map(([w]) => b.upload(w, [I, D])), up: W.map(([, w]) => b.upload(w, [I, D])), down: W.map(([, , w]) => b.upload(w, [D, I], 'f16')),
          });
          return Promise.all([b.read(b.swiglu(X, b.upload(g, [1, rows, D]))), b.read(b.relu2(X)), b.read(moe)]);
        });
        got.forEach((t, i) => expectClose(t, want[i], opts.tolerance, `op ${i} (normalize ${normalize})`));
        expect(Math.max(...got[2].map(Math.abs))).toBeGreaterThan(0.05);
      }
    });

    it.skipIf(!opts.readTopK)('readTopK: the k best of a row, ties to the lower id, NaN and −∞ skipped, matches a host sort', async () => {
      const b = await create();
      const V = 1003;
      const r = rng(17);
      const row = Float32Array.from({ length: V }, () => Math.round(r() * 20) / 4); // many exact ties
      row[5] = NaN; row[6] = -Infinity; row[7] = Infinity; row[8] = -0; row[9] = 0;
      const other = rand(V, r, 100); // row 0 must not leak into row 1's answer
      const t = b.upload(Float32Array.from([...other, ...row]), [2, V]);
      const order = [...row.keys()].filter((i) => row[i] > -Infinity).sort((a, c) => row[c] - row[a] || a - c);
      for (const k of [1, 2, 40, 333, 1001, 5000]) {
        const { ids, values } = await b.readTopK!(t, 1, k);
        const got = [...ids].map((id, i) => [id, values[i]] as const).sort((a, c) => c[1] - a[1] || a[0] - c[0]);
        const want = order.slice(0, k);
        expect(got.map((g) => g[0]), `k=${k}`).toEqual(want);
        expect(got.map((g) => g[1])).toEqual(want.map((i) => row[i]));
      }
      const none = b.upload(Float32Array.from([NaN, -Infinity, NaN]), [1, 3]);
      expect((await b.readTopK!(none, 0, 2)).ids.length).toBe(0);
      // A vocabulary-sized row (many entries per thread), distinct values: the k best by a host sort.
      const Vb = 50_280;
      const big = Float32Array.from({ length: Vb }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 7);
      const bigOrder = [...big.keys()].sort((a, c) => big[c] - big[a] || a - c);
      const tb = b.upload(big, [1, Vb]);
      for (const k of [1, 50]) {
        const { ids } = await b.readTopK!(tb, 0, k);
        expect([...ids].sort((a, c) => big[c] - big[a] || a - c), `V=${Vb} k=${k}`).toEqual(bigOrder.slice(0, k));
      }
      b.free(t, none, tb);
    });

    it('shape mismatches are E_SHAPE, not out-of-bounds reads', async () => {
      const b = await create();
      const x = b.zeros([2, 3, 4]);
      expect(() => b.matmul(x, b.zeros([5, 3]))).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.add(x, b.zeros([2, 3, 5]))).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.rmsNorm(x, b.zeros([3]), 1e-5)).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      expect(() => b.conv1dCausal({ x, weight: b.zeros([4, 3]), bias: null, state: b.zeros([2, 4, 1]), silu: true }))
        .toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
      const t: Tensor = b.zeros([numel([2, 2])]);
      expect(() => b.reshape(t, [3])).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    });
  });
}
