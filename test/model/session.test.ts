/** Session semantics: streaming, seeds, stop strings, abort, save/restore — on both architectures. */
import { describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.js';
import { randomModelFiles } from '../../tools/random-model.js';

const shapes = {
  mamba: { modelType: 'mamba', vocabSize: 260, hiddenSize: 24, numLayers: 2, stateSize: 6, eosTokenId: 259 },
  mamba2: { modelType: 'mamba2', vocabSize: 260, hiddenSize: 32, numLayers: 2, stateSize: 8, headDim: 8, nGroups: 2, chunkSize: 4, eosTokenId: 259 },
} as const;

async function collect(gen: AsyncIterable<{ id: number; text: string }>) {
  const ids: number[] = [];
  let text = '';
  for await (const t of gen) { ids.push(t.id); text += t.text; }
  return { ids, text };
}

for (const [arch, shape] of Object.entries(shapes)) {
  describe(`${arch} session`, () => {
    let model: Model;
    const load = async () => (model ??= await loadModel(randomModelFiles({ ...shape, seed: 3 }), { backend: 'reference' }));

    it('the same seed gives the same tokens; the iterator and finished agree', async () => {
      const m = await load();
      const opts = { maxTokens: 12, seed: 42, temperature: 3, topK: 0, topP: 1, ignoreEos: true };
      const g1 = m.createSession().generate('Hello', opts);
      const a = await collect(g1);
      const r1 = await g1.finished;
      const b = await collect(m.createSession().generate('Hello', opts));
      expect(a.ids).toEqual(b.ids);
      expect(a.ids.length).toBe(12);
      expect(r1.text).toBe(a.text);
      expect(r1).toMatchObject({ finishReason: 'length', promptTokens: 5, completionTokens: 12 });
      const c = await collect(m.createSession().generate('Hello', { ...opts, seed: 43 }));
      expect(c.ids).not.toEqual(a.ids);
    });

    it('greedy generation equals argmax of forward logits, token by token', async () => {
      const m = await load();
      const prompt = [72, 105, 33];
      const { ids } = await collect(m.createSession().generate(prompt, { maxTokens: 6, temperature: 0, ignoreEos: true }));
      const seq = [...prompt];
      for (const id of ids) {
        const { logits, shape: [, T, V] } = await m.forward([seq]);
        const last = logits.subarray((T - 1) * V);
        expect(id).toBe(last.indexOf(Math.max(...last)));
        seq.push(id);
      }
    });

    it('save/restore mid-generation continues exactly like an uninterrupted run', async () => {
      const m = await load();
      const opts = { temperature: 0.9, topK: 20, topP: 0.9, ignoreEos: true };
      const whole = m.createSession();
      const full = await collect(whole.generate('abc', { ...opts, maxTokens: 16, seed: 7 }));

      const first = m.createSession();
      const part1 = await collect(first.generate('abc', { ...opts, maxTokens: 9, seed: 7 }));
      const blob = await first.saveState();
      const resumed = m.createSession({ state: blob });
      expect(resumed.position).toBe(first.position);
      const part2 = await collect(resumed.generate('', { ...opts, maxTokens: 7 }));
      expect([...part1.ids, ...part2.ids]).toEqual(full.ids);
      // and the original session continues identically too
      const part2b = await collect(first.generate('', { ...opts, maxTokens: 7 }));
      expect(part2b.ids).toEqual(part2.ids);
    });

    it('save after prefill keeps the next-token logits', async () => {
      const m = await load();
      const s = m.createSession();
      const logits = await s.prefill([1, 2, 3, 4, 5]);
      const r = m.createSession({ state: await s.saveState() });
      const a = await collect(r.generate('', { maxTokens: 3, temperature: 0, ignoreEos: true }));
      const b = await collect(s.generate('', { maxTokens: 3, temperature: 0, ignoreEos: true }));
      expect(a.ids).toEqual(b.ids);
      expect(a.ids[0]).toBe(logits.indexOf(Math.max(...logits)));
    });

    it('prefill in pieces equals prefill at once; session.forward returns every position', async () => {
      const m = await load();
      const ids = Array.from({ length: 23 }, (_, i) => (i * 37) % 256);
      const once = await m.createSession().prefill(ids);
      const s = m.createSession();
      await s.prefill(ids.slice(0, 10));
      const all = await s.forward(ids.slice(10));
      const V = m.config.vocabSize;
      expect(all.length).toBe(13 * V);
      const last = all.subarray(12 * V);
      for (let v = 0; v < V; v++) expect(last[v]).toBeCloseTo(once[v], 4);
      expect(s.position).toBe(23);
    });

    it('a state blob from another model or with a flipped byte is E_STATE', async () => {
      const m = await load();
      const s = m.createSession();
      await s.prefill([1, 2, 3]);
      const blob = await s.saveState();
      const other = await loadModel(randomModelFiles({ ...shape, seed: 99 }), { backend: 'reference' });
      expect(() => other.createSession({ state: blob })).toThrow(expect.objectContaining({ code: 'E_STATE' }));
      for (const at of [3, 20, Math.floor(blob.length / 2), blob.length - 1]) {
        const bad = blob.slice();
        bad[at] ^= 0x10;
        expect(() => m.createSession({ state: bad })).toThrow(expect.objectContaining({ code: 'E_STATE' }));
      }
      expect(() => m.createSession({ state: blob.subarray(0, 30) })).toThrow(expect.objectContaining({ code: 'E_STATE' }));
      expect(() => m.createSession({ state: new Uint8Array(0) })).toThrow(expect.objectContaining({ code: 'E_STATE' }));
    });

    it('state size does not grow with context', async () => {
      const m = await load();
      const s = m.createSession();
      await s.prefill([1]);
      const small = (await s.saveState()).length;
      await s.prefill(Array.from({ length: 300 }, (_, i) => i % 256));
      // Only the header's position digits may differ; the tensor payload is fixed.
      expect(Math.abs((await s.saveState()).length - small)).toBeLessThanOrEqual(8);
      expect(m.info.stateBytes).toBeGreaterThan(0);
    });
  });
}

describe('generation control', () => {
  const loadSmall = () => loadModel(randomModelFiles({ ...shapes.mamba, seed: 5 }), { backend: 'reference' });

  it('stop strings end generation and are not emitted', async () => {
    const m = await loadSmall();
    const free = await m.createSession().generate('x', { maxTokens: 30, seed: 1, temperature: 1, ignoreEos: true }).finished;
    const stop = free.text.slice(5, 7);
    expect(stop.length).toBe(2);
    const r = await m.createSession().generate('x', { maxTokens: 30, seed: 1, temperature: 1, ignoreEos: true, stop: [stop] }).finished;
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
  });

  it('eos ends generation unless ignoreEos', async () => {
    const m = await loadSmall();
    // Find a seed whose free run samples eos (id 259) within 200 tokens at a high temperature.
    for (let seed = 0; seed < 50; seed++) {
      const free = m.createSession().generate([1], { maxTokens: 200, seed, temperature: 3, topK: 0, topP: 1, ignoreEos: true });
      const { ids } = await collect(free);
      const at = ids.indexOf(259);
      if (at < 0) continue;
      const r = await m.createSession().generate([1], { maxTokens: 200, seed, temperature: 3, topK: 0, topP: 1 }).finished;
      expect(r.finishReason).toBe('eos');
      expect(r.completionTokens).toBe(at + 1);
      return;
    }
    throw new Error('no seed produced eos');
  });

  it('abort mid-generation stops within one token and leaves the session usable', async () => {
    const m = await loadSmall();
    const s = m.createSession();
    const ctrl = new AbortController();
    const gen = s.generate('hi', { maxTokens: 100, seed: 2, signal: ctrl.signal, ignoreEos: true });
    let seen = 0;
    await expect((async () => {
      for await (const _ of gen) { if (++seen === 3) ctrl.abort(); }
    })()).rejects.toMatchObject({ code: 'E_ABORTED', name: 'AbortError' });
    const r = await gen.finished;
    expect(r.finishReason).toBe('abort');
    expect(r.completionTokens).toBeLessThanOrEqual(4);
    // the last sampled token is either still pending or already fed: nothing lost, nothing twice
    expect([2 + r.completionTokens - 1, 2 + r.completionTokens]).toContain(s.position);
    const next = await s.generate('', { maxTokens: 2, seed: 3 }).finished;
    expect(next.completionTokens).toBeGreaterThan(0);
  });

  it('an already-aborted signal generates nothing and changes nothing', async () => {
    const m = await loadSmall();
    const s = m.createSession();
    const ctrl = new AbortController();
    ctrl.abort();
    const gen = s.generate('hello', { signal: ctrl.signal });
    await expect(collect(gen)).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect((await gen.finished).finishReason).toBe('abort');
    expect(s.position).toBe(0);
    await expect(s.prefill([1, 2], { signal: ctrl.signal })).rejects.toMatchObject({ code: 'E_ABORTED' });
  });

  it('an abort during prefill rolls the state back', async () => {
    const m = await loadSmall();
    const s = m.createSession();
    await s.prefill([7, 8]);
    const before = await s.saveState();
    const ctrl = new AbortController();
    const long = Array.from({ length: 2000 }, (_, i) => i % 256);
    await expect(s.prefill(long, { signal: ctrl.signal, onProgress: () => ctrl.abort() })).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(s.position).toBe(2);
    expect(await s.saveState()).toEqual(before);
  });

  it('generateStream yields the same text as generate', async () => {
    const m = await loadSmall();
    const want = await m.createSession().generate('ab', { maxTokens: 10, seed: 4, ignoreEos: true }).finished;
    let got = '';
    const reader = m.createSession().generateStream('ab', { maxTokens: 10, seed: 4, ignoreEos: true }).getReader();
    for (;;) { const { value, done } = await reader.read(); if (done) break; got += value; }
    expect(got).toBe(want.text);
  });

  it('f16 weights keep the fingerprint and stay close to f32', async () => {
    const files = randomModelFiles({ ...shapes.mamba2, seed: 8 });
    const a = await loadModel(files, { backend: 'reference' });
    const b = await loadModel(files, { backend: 'reference', dtype: 'f16' });
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(b.info.weightBytes).toBeLessThan(a.info.weightBytes);
    const ids = [[3, 1, 4, 1, 5, 9, 2, 6]];
    const la = (await a.forward(ids)).logits, lb = (await b.forward(ids)).logits;
    let maxDiff = 0;
    for (let i = 0; i < la.length; i++) maxDiff = Math.max(maxDiff, Math.abs(la[i] - lb[i]));
    expect(maxDiff).toBeLessThan(0.05);
    expect(maxDiff).toBeGreaterThan(0); // really stored in f16
  });

  it('batch rows are independent: batch of 2 equals two single runs', async () => {
    const m = await loadModel(randomModelFiles({ ...shapes.mamba2, seed: 9 }), { backend: 'reference' });
    const r1 = [5, 6, 7, 8, 9, 10, 11], r2 = [200, 100, 50, 25, 12, 6, 3];
    const both = await m.forward([r1, r2]);
    const one = await m.forward([r2]);
    const half = both.logits.length / 2;
    for (let i = 0; i < half; i += 13) expect(both.logits[half + i]).toBeCloseTo(one.logits[i], 5);
    const hidden = await m.forward([r1], { output: 'hidden' });
    expect(hidden.shape).toEqual([1, 7, 32]);
  });
});

describe('iteration control', () => {
  it('breaking out of for-await stops generation and frees the session', async () => {
    const m = await loadModel(randomModelFiles({ ...shapes.mamba, seed: 6 }), { backend: 'reference' });
    const s = m.createSession();
    const gen = s.generate('hi', { maxTokens: 200, seed: 1, ignoreEos: true });
    let n = 0;
    for await (const _ of gen) if (++n === 2) break;
    const r = await gen.finished;
    expect(r.finishReason).toBe('abort');
    expect(r.completionTokens).toBeLessThan(5);
    expect((await s.generate('', { maxTokens: 1, seed: 2 }).finished).completionTokens).toBe(1);
  });

  it('timers run during generation', async () => {
    const m = await loadModel(randomModelFiles({ ...shapes.mamba, seed: 6 }), { backend: 'reference' });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await m.createSession().generate('hi', { maxTokens: 60, seed: 1, ignoreEos: true }).finished;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(2);
  });
});
