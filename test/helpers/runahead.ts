/**
 * Shared pieces of the run-ahead decode tests (Backend.deviceSampling, SessionImpl.decodeAhead) of the
 * GPU backends: test/backends/webgpu-runahead.test.ts and test/cuda/runahead.test.ts.
 */
import { expect } from 'vitest';
import type { GenerateOptions, Model, Session } from '../../src/api/types.js';
import { sampleToken, type Rng, type SamplerParams } from '../../src/api/sampler.js';
import type { Backend, DeviceSampling } from '../../src/backends/backend.js';

/** A generation's tokens and result, stopping early with a break or an abort at a given token count. */
export async function collect(s: Session, prompt: number[], opts: GenerateOptions, breakAt?: number, abortAt?: AbortController & { at: number }) {
  const ids: number[] = [];
  const gen = s.generate(prompt, opts);
  try {
    for await (const t of gen) {
      ids.push(t.id);
      if (abortAt && ids.length === abortAt.at) abortAt.abort();
      if (breakAt !== undefined && ids.length === breakAt) break;
    }
  } catch (e) {
    if (!(abortAt && (e as { code?: string }).code === 'E_ABORTED')) throw e;
  }
  const r = await gen.finished;
  return { ids, finishReason: r.finishReason, completionTokens: r.completionTokens, text: r.text };
}

export const SAMPLERS: { name: string; opts: GenerateOptions }[] = [
  { name: 'greedy', opts: { temperature: 0, seed: 1 } }, // a seed even here: saveState holds the rng
  { name: 'top-k 5, seed 3', opts: { temperature: 0.9, topK: 5, seed: 3 } },
  { name: 'top-k 40 top-p 0.9, seed 4', opts: { temperature: 1.2, topK: 40, topP: 0.9, seed: 4 } },
];

/**
 * The sampler's rule with the device kernels' f32 arithmetic (gpu/wgsl/sample_top_k.wgsl, gpu/cuda/src/topk.cu
 * topKSample; Math.fround at every step), for the rare rows where f32 and the host's f64 land on different
 * sides of a boundary.
 */
export function ruleInF32(row: Float32Array, p: SamplerParams, u: number): number {
  const f = Math.fround;
  const ids = [...row.keys()].filter((i) => row[i] > -Infinity).sort((a, b) => (row[b] > row[a] ? 1 : row[b] < row[a] ? -1 : a - b));
  if (p.temperature === 0) return ids[0];
  const kept0 = ids.slice(0, p.topK);
  const top = row[kept0[0]];
  const w = kept0.map((i) => (top === Infinity ? (row[i] === Infinity ? 1 : 0) : f(Math.exp(f(f(row[i] - top) / f(p.temperature))))));
  let total = 0;
  for (const x of w) total = f(total + x);
  let kept = w.length, keptWeight = total;
  if (f(p.topP) < 1) {
    let cum = 0;
    for (let i = 0; i < w.length; i++) {
      cum = f(cum + w[i]);
      if (f(cum / total) >= f(p.topP)) { kept = i + 1; keptWeight = cum; break; }
    }
  }
  const r = f(f(u) * keptWeight);
  let cum = 0, last = 0;
  for (let i = 0; i < kept; i++) {
    if (w[i] === 0) continue;
    cum = f(cum + w[i]);
    last = i;
    if (cum > r) return kept0[i];
  }
  return kept0[last];
}

/** How many run-ahead steps a session redid because the device's draw disagreed with the host's rule. */
export const redos = (s: Session) => (s as unknown as { runAheadRedos: number }).runAheadRedos;

/**
 * Wherever generation stops — maxTokens, a consumer that breaks, an abort, EOS, a stop string — a session
 * on `ahead` (run-ahead decode) ends where one on `plain` (one read-back a token) does: same result,
 * position, saveState bytes and continuation. `others` (more paths of the same backend) must end with
 * plain's result and state too. Stops are picked from where each sampler goes, so they land mid-generation.
 */
export async function expectStopsMatch(ahead: Model, plain: Model, others: Model[] = []): Promise<void> {
  const all = [ahead, plain, ...others];
  for (const { opts } of SAMPLERS.slice(0, 2)) {
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
      for (const m of all) {
        (m.config as { eosTokenId?: number }).eosTokenId = c.eos ?? 255;
        const s = m.createSession();
        const ac = c.abortAt ? Object.assign(new AbortController(), { at: c.abortAt }) : undefined;
        const r = await collect(s, [5, 6], { ...c.opts, signal: ac?.signal }, c.breakAt, ac);
        runs.push({ s, r, state: await s.saveState() });
      }
      const [a, p, ...rest] = runs;
      for (const o of rest) {
        expect(o.r, c.what).toEqual(p.r);
        expect(o.state, c.what).toEqual(p.state);
        await o.s.dispose();
      }
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
  for (const m of all) (m.config as { eosTokenId?: number }).eosTokenId = undefined;
}

/** Every third token the device "chooses" another candidate (as f32 rounding at a boundary could): the step is redone before streaming. */
export async function expectDisagreementRedone(ahead: Model, plain: Model, ds: DeviceSampling): Promise<void> {
  const read = ds.read;
  let n = 0;
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
}

/** Three sessions of one model generating at once give what each gives alone. */
export async function expectConcurrentSessionsAlone(m: Model): Promise<void> {
  const opts = [
    { temperature: 0, seed: 1 }, { temperature: 0.9, topK: 5, seed: 3 }, { temperature: 1.1, topK: 30, topP: 0.8, seed: 8 },
  ].map((o) => ({ ...o, maxTokens: 17, ignoreEos: true }));
  const alone = [];
  for (const [i, o] of opts.entries()) alone.push((await collect(m.createSession(), [i + 1, 7], o)).ids);
  const sessions = opts.map(() => m.createSession());
  const together = await Promise.all(sessions.map((s, i) => collect(s, [i + 1, 7], opts[i])));
  expect(together.map((r) => r.ids)).toEqual(alone);
}

/** A hybrid with attention (`a` run-ahead, `p` one read-back a token): KV caches are cut back with the run-ahead step, also on an abort. */
export async function expectHybridCachesCutBack(a: Model, p: Model): Promise<void> {
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
}

/**
 * The device's sampling kernel picks what sampler.ts picks on crafted rows of `V` logits (plain, many ties,
 * +∞ and NaN, fewer finite entries than k), greedy and sampled with k up to `maxK`; where f32 and the host's
 * f64 land on different sides of a boundary, the rule in f32. A row with no finite logit gives no token.
 */
export async function expectDeviceSamplerRule(b: Backend, ds: DeviceSampling, V: number, maxK: number): Promise<void> {
  let seed = 7;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const rows: Float32Array[] = [];
  rows.push(Float32Array.from({ length: V }, () => rand() * 8 - 4)); // plain
  rows.push(Float32Array.from({ length: V }, () => Math.round(rand() * 6))); // many ties
  rows.push(Float32Array.from({ length: V }, (_, i) => (i % 97 === 0 ? Infinity : i % 5 === 0 ? NaN : rand()))); // +∞ and NaN
  rows.push(Float32Array.from({ length: V }, (_, i) => (i < V - 10 ? -Infinity : rand()))); // fewer finite than k
  let checked = 0, disagreed = 0;
  for (const row of rows) {
    const logits = b.upload(row, [1, V]);
    for (const params of [
      { temperature: 0, topK: 1, topP: 1 }, { temperature: 0.7, topK: 3, topP: 1 }, { temperature: 1.3, topK: 40, topP: 0.9 },
      { temperature: 0.05, topK: 256, topP: 0.5 }, { temperature: 2, topK: maxK, topP: 1 },
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
  b.free(none);
}
