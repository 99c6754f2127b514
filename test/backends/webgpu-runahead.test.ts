/**
 * Decode with the next token sampled on the GPU, one step ahead of the host (Backend.deviceSampling,
 * SessionImpl.decodeAhead). What must hold:
 * - the same tokens as the wasm backend and as webgpu's one-read-back-per-token path (the same backend
 *   with `deviceSampling` removed), greedy and seeded top-k / top-p sampling;
 * - wherever generation stops (EOS, a stop string, maxTokens, a consumer that breaks, an abort), the
 *   session is where the one-read-back path leaves it: equal saveState bytes (state tensors, KV caches,
 *   position, pending token, rng, held logits) and equal continuations;
 * - a device draw that disagrees with the host's rule is redone, never streamed;
 * - sample_top_k.wgsl itself picks what src/api/sampler.ts picks on crafted rows (ties, +∞, NaN, top-p).
 * Run-ahead vs one-read-back on webgpu run the same kernels on the same inputs, so their states are
 * compared byte for byte; against wasm only tokens are compared (f32 rounding differs by ~1e-6, far
 * from the margins between these random models' top logits — checked: the runs agree exactly).
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import type { GenerateOptions, Model, Session } from '../../src/api/types.js';
import { acquireDevice } from '../../src/backends/webgpu/device.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import { Rng, sampleToken, type SamplerParams } from '../../src/api/sampler.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { SessionImpl } from '../../src/api/session.js';
import { adapterMissing } from '../helpers/webgpu.js';
import { collect, ruleInF32, SAMPLERS } from '../helpers/runahead.js';

vi.setConfig({ testTimeout: 180_000 });
const probe = await acquireDevice({ allowFallback: true });
const reason = adapterMissing('webgpu run-ahead tests', probe);
if (!('unavailable' in probe)) probe.device.destroy();

const backendOf = (m: Model) => (m as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
const redos = (s: Session) => (s as unknown as { runAheadRedos: number }).runAheadRedos;

/** The same model on webgpu without deviceSampling: the host samples every token from a read-back. */
async function withoutRunAhead(src: Parameters<typeof loadModel>[0]): Promise<Model> {
  const m = await loadModel(src, { backend: 'webgpu' });
  Object.defineProperty(backendOf(m), 'deviceSampling', { value: undefined });
  return m;
}

describe.skipIf(reason !== null)('webgpu run-ahead decode', () => {
  const MODELS = {
    mamba: randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 24, numLayers: 2, stateSize: 8, seed: 23 }),
    mamba2: randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 32, numLayers: 2, stateSize: 8, headDim: 8, chunkSize: 64, seed: 22 }),
  };

  for (const [name, files] of Object.entries(MODELS)) for (const depth of [1, 2]) {
    describe(`${name}, ${depth} step${depth > 1 ? 's' : ''} ahead`, () => {
      let ahead: Model, plain: Model, wasm: Model;
      beforeAll(async () => {
        const was = SessionImpl.runAheadDepth;
        SessionImpl.runAheadDepth = depth;
        ahead = await loadModel(files, { backend: 'webgpu' });
        plain = await withoutRunAhead(files);
        wasm = await loadModel(files, { backend: 'wasm', threads: 1 });
        return async () => { SessionImpl.runAheadDepth = was; await ahead.dispose(); await plain.dispose(); await wasm.dispose(); };
      });

      it('greedy and seeded sampling give the tokens of wasm and of the one-read-back path; same saved state', async () => {
        expect(backendOf(ahead).deviceSampling).toBeDefined();
        for (const { opts } of SAMPLERS) {
          const o = { ...opts, maxTokens: 21, ignoreEos: true };
          const [sa, sp, sw] = [ahead.createSession(), plain.createSession(), wasm.createSession()];
          const a = await collect(sa, [1, 2, 3], o);
          const p = await collect(sp, [1, 2, 3], o);
          const w = await collect(sw, [1, 2, 3], o);
          expect(a.ids).toHaveLength(21);
          expect(a.ids).toEqual(p.ids);
          expect(a.ids).toEqual(w.ids);
          expect(redos(sa)).toBe(0); // the device's f32 draw agreed with the host's f64 rule on every token
          expect(await sa.saveState()).toEqual(await sp.saveState());
          // Continuing (with an odd-length prompt, then an empty one) stays in step too.
          const more = { ...opts, seed: undefined, maxTokens: 7, ignoreEos: true };
          for (const prompt of [[9, 8, 7], []]) {
            const a2 = await collect(sa, prompt, more);
            expect(a2.ids).toEqual((await collect(sp, prompt, more)).ids);
            expect(a2.ids).toEqual((await collect(sw, prompt, more)).ids);
          }
          expect(await sa.saveState()).toEqual(await sp.saveState());
          await Promise.all([sa.dispose(), sp.dispose(), sw.dispose()]);
        }
      });

      it('a stop at EOS, a stop string, maxTokens, a break or an abort leaves the state of the one-read-back path', async () => {
        for (const { opts } of SAMPLERS.slice(0, 2)) {
          // Where this sampler goes, to pick stops that land mid-generation.
          const probeRun = await collect(plain.createSession(), [5, 6], { ...opts, maxTokens: 30, ignoreEos: true });
          const eosAt = probeRun.ids.findIndex((id, i) => i >= 2 && !probeRun.ids.slice(0, i).includes(id));
          const pieces = probeRun.ids.map((id) => plain.tokenizer.decode([id]));
          const stopAt = pieces.findIndex((p, i) => i >= 2 && p.length > 0 && !p.includes('\ufffd') && !pieces.slice(0, i).join('').includes(p));
          const cases: { what: string; opts: GenerateOptions; breakAt?: number; abortAt?: number; eos?: number }[] = [
            { what: 'maxTokens', opts: { ...opts, maxTokens: 6, ignoreEos: true } },
            { what: 'break', opts: { ...opts, maxTokens: 40, ignoreEos: true }, breakAt: 5 },
            { what: 'abort', opts: { ...opts, maxTokens: 40, ignoreEos: true }, abortAt: 7 },
            ...(eosAt >= 0 ? [{ what: 'eos', opts: { ...opts, maxTokens: 40 }, eos: probeRun.ids[eosAt] }] : []),
            ...(stopAt >= 0 ? [{ what: 'stop string', opts: { ...opts, maxTokens: 40, ignoreEos: true, stop: [pieces[stopAt]] } }] : []),
          ];
          expect(cases.length).toBe(5);
          for (const c of cases) {
            const runs = [];
            for (const m of [ahead, plain]) {
              (m.config as { eosTokenId?: number }).eosTokenId = c.eos ?? 255;
              const s = m.createSession();
              const ac = c.abortAt ? Object.assign(new AbortController(), { at: c.abortAt }) : undefined;
              const r = await collect(s, [5, 6], { ...c.opts, signal: ac?.signal }, c.breakAt, ac);
              runs.push({ s, r, state: await s.saveState() });
            }
            const [a, p] = runs;
            expect(a.r.finishReason, c.what).toBe({ maxTokens: 'length', break: 'abort', abort: 'abort', eos: 'eos', 'stop string': 'stop' }[c.what]);
            expect(a.r, c.what).toEqual(p.r);
            expect(a.s.position, c.what).toBe(p.s.position);
            expect(a.state, c.what).toEqual(p.state);
            const more = { ...opts, seed: undefined, maxTokens: 5, ignoreEos: true, stop: [] };
            expect((await collect(a.s, [], more)).ids, c.what).toEqual((await collect(p.s, [], more)).ids);
            expect(await a.s.saveState(), c.what).toEqual(await p.s.saveState());
            await a.s.dispose();
            await p.s.dispose();
          }
        }
        for (const m of [ahead, plain]) (m.config as { eosTokenId?: number }).eosTokenId = undefined;
      });

      it('a token reads back only its id and candidates, and the run-ahead snapshot is one device copy (the state is one block)', async () => {
        const b = backendOf(ahead);
        const s = ahead.createSession();
        await s.prefill([1, 2]);
        const c0 = b.stats.copies, r0 = b.stats.readBytes;
        const r = await collect(s, [], { temperature: 0, seed: 1, maxTokens: 12, ignoreEos: true });
        expect(r.ids).toHaveLength(12);
        // Read back per decoded token: the chosen id and its k = 1 candidate (4 words), nothing else
        // (the first token is drawn from the prefill's logits, already on the host).
        expect(b.stats.readBytes - r0).toBe(11 * 4 * 4);
        // Per run-ahead token: the snapshot, the token's read-back copy and the recorded step's copy of
        // the sampled id into its id buffer (WebGpuBackend.recordStep); plus the closing undo.
        expect(b.stats.copies - c0).toBeLessThanOrEqual(3 * 12 + 1 + depth);
        await s.dispose();
      });

      it('a device draw that disagrees with the host rule is redone before streaming: same tokens, same state', async () => {
        const ds = backendOf(ahead).deviceSampling;
        const read = ds.read;
        let n = 0;
        // Every third token the device "chooses" another candidate (as f32 rounding at a boundary could).
        ds.read = async (t) => {
          const got = await read(t);
          return ++n % 3 === 0 && got.ids.length > 1 ? { ...got, id: got.ids.find((i) => i !== got.id)! } : got;
        };
        try {
          const o = { temperature: 0.9, topK: 5, seed: 11, maxTokens: 15, ignoreEos: true };
          const sa = ahead.createSession();
          const sp = plain.createSession();
          const a = await collect(sa, [4], o);
          expect(a.ids).toEqual((await collect(sp, [4], o)).ids);
          expect(redos(sa)).toBeGreaterThanOrEqual(3);
          expect(await sa.saveState()).toEqual(await sp.saveState());
          await sa.dispose();
          await sp.dispose();
        } finally {
          ds.read = read;
        }
      });
    });
  }

  it('three sessions of one model generating at once give what each gives alone', async () => {
    const m = await loadModel(MODELS.mamba2, { backend: 'webgpu' });
    const opts = [
      { temperature: 0, seed: 1 }, { temperature: 0.9, topK: 5, seed: 3 }, { temperature: 1.1, topK: 30, topP: 0.8, seed: 8 },
    ].map((o) => ({ ...o, maxTokens: 17, ignoreEos: true }));
    const alone = [];
    for (const [i, o] of opts.entries()) alone.push((await collect(m.createSession(), [i + 1, 7], o)).ids);
    const sessions = opts.map(() => m.createSession());
    const together = await Promise.all(sessions.map((s, i) => collect(s, [i + 1, 7], opts[i])));
    expect(together.map((r) => r.ids)).toEqual(alone);
    await m.dispose();
  });

  it('hybrid with attention (bamba fixture): KV caches are cut back with the run-ahead step', async () => {
    const dir = new URL('../fixtures/hybrid/bamba/', import.meta.url).pathname;
    const a = await loadModel(dir, { backend: 'webgpu' });
    const p = await withoutRunAhead(dir);
    for (const opts of [{ temperature: 0, seed: 1, maxTokens: 9, ignoreEos: true }, { temperature: 0.8, topK: 7, seed: 2, maxTokens: 9, ignoreEos: true }]) {
      const [sa, sp] = [a.createSession(), p.createSession()];
      const ra = await collect(sa, [1, 2, 3, 4], opts);
      expect(ra.ids).toEqual((await collect(sp, [1, 2, 3, 4], opts)).ids);
      expect(await sa.saveState()).toEqual(await sp.saveState());
      const ac = Object.assign(new AbortController(), { at: 3 });
      const rb = await collect(sa, [], { ...opts, maxTokens: 20, signal: ac.signal }, undefined, ac);
      const ac2 = Object.assign(new AbortController(), { at: 3 });
      expect(rb).toEqual(await collect(sp, [], { ...opts, maxTokens: 20, signal: ac2.signal }, undefined, ac2));
      expect(await sa.saveState()).toEqual(await sp.saveState());
      await sa.dispose();
      await sp.dispose();
    }
    await a.dispose();
    await p.dispose();
  });

  it('sample_top_k.wgsl picks what sampler.ts picks: ties, +∞, NaN, −∞, top-p, every k up to 256', async () => {
    const m = await loadModel(MODELS.mamba, { backend: 'webgpu' });
    const b = backendOf(m);
    const ds = b.deviceSampling;
    const V = 1000;
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const rows: Float32Array[] = [];
    rows.push(Float32Array.from({ length: V }, () => rand() * 8 - 4)); // plain
    rows.push(Float32Array.from({ length: V }, () => Math.round(rand() * 6))); // many ties
    rows.push(Float32Array.from({ length: V }, (_, i) => (i % 97 === 0 ? Infinity : i % 5 === 0 ? NaN : rand()))); // +∞ and NaN
    rows.push(Float32Array.from({ length: V }, (_, i) => (i < 990 ? -Infinity : rand()))); // fewer finite than k
    let checked = 0, disagreed = 0;
    for (const row of rows) {
      const logits = b.upload(row, [1, V]);
      for (const params of [
        { temperature: 0, topK: 1, topP: 1 }, { temperature: 0.7, topK: 3, topP: 1 }, { temperature: 1.3, topK: 40, topP: 0.9 },
        { temperature: 0.05, topK: 256, topP: 0.5 }, { temperature: 2, topK: 256, topP: 1 },
      ] satisfies SamplerParams[]) {
        for (let i = 0; i < 8; i++) {
          const u = Math.floor(rand() * 2 ** 24) / 2 ** 24;
          const t = ds.sample(logits, params, u);
          const got = await ds.read(t);
          ds.release(t);
          const want = sampleToken(row, params, { nextFloat: () => u } as unknown as Rng);
          if (got.id !== want) {
            // Only where f32 cannot tell (the host rule works in f64): then it is the rule in f32.
            expect(got.id, `${JSON.stringify(params)} u=${u}`).toBe(ruleInF32(row, params, u));
            if (row !== rows[1]) disagreed++;
          }
          checked++;
        }
      }
      b.free(logits);
    }
    expect(checked).toBe(4 * 5 * 8);
    // Only the ties row lands on f32/f64 boundaries (at topP 0.5, 70 of ~140 equal weights is exactly
    // one half in f32 but just under it in f64, where the lower logits' tiny weights still count).
    expect(disagreed).toBe(0);
    // No finite logit: the device writes no token (the host rule throws E_ARGUMENT for it).
    const none = b.upload(new Float32Array(V).fill(NaN), [1, V]);
    const t = ds.sample(none, { temperature: 0, topK: 1, topP: 1 }, 0);
    const got = await ds.read(t);
    expect(got.ids.length).toBe(0);
    expect(got.id).toBe(-1);
    ds.release(t);
    await m.dispose();
  });
});
