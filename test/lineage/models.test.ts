/**
 * The lineage as models: every kind loads on every backend (reference; wasm on 1 and 2 threads)
 * and agrees with the reference; hidden output is the last layer's; the step form equals the
 * prefill form; sessions save and resume an LSTM mid-generation (also across backends); bad
 * configs and checkpoints fail with E_CONFIG / E_SHAPE / E_FORMAT naming the field or tensor.
 */
import { describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/node.js';
import { maxAbsDiff } from '../helpers/goldens.js';
import { randomLineageFiles, lineageParameters, type RandomLineageOptions } from './random.js';

const KINDS: Record<string, RandomLineageOptions> = {
  'rnn tanh': { kind: 'rnn', vocabSize: 260, hiddenSize: 19, numLayers: 2, seed: 1 },
  'rnn relu, no bias': { kind: 'rnn', vocabSize: 260, hiddenSize: 17, numLayers: 2, nonlinearity: 'relu', bias: false, seed: 2 },
  lstm: { kind: 'lstm', vocabSize: 260, hiddenSize: 21, embeddingSize: 13, numLayers: 2, seed: 3 },
  'lstm proj, tied': { kind: 'lstm', vocabSize: 260, hiddenSize: 23, projSize: 11, embeddingSize: 11, tie: true, numLayers: 3, seed: 4 },
  gru: { kind: 'gru', vocabSize: 260, hiddenSize: 15, numLayers: 3, headBias: false, seed: 5 },
  s4d: { kind: 's4d', vocabSize: 260, hiddenSize: 18, numLayers: 2, stateSize: 10, dtMin: 0.01, dtMax: 0.5, seed: 6 },
  's4d gated, tied': { kind: 's4d', vocabSize: 260, hiddenSize: 14, numLayers: 2, stateSize: 6, gated: true, tie: true, seed: 7 },
};

const ids = [[5, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100], [1, 2, 3, 250, 9, 8, 7, 6, 5, 200, 100, 50, 0]];
const BACKENDS = [
  { label: 'wasm 1 thread', opts: { backend: 'wasm' as const, threads: 1 } },
  { label: 'wasm 2 threads', opts: { backend: 'wasm' as const, threads: 2 } },
];

async function collect(gen: AsyncIterable<{ id: number }>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of gen) out.push(t.id);
  return out;
}

for (const [name, o] of Object.entries(KINDS)) {
  describe(`lineage model: ${name}`, () => {
    const files = randomLineageFiles(o);

    it('reference: loads, counts parameters and state; hidden output is the last layer; steps equal the full forward', async () => {
      const m = await loadModel(files, { backend: 'reference' });
      expect(m.info.architecture).toBe(o.kind);
      expect(m.info.parameters).toBe(lineageParameters(files));
      const width = o.projSize || o.hiddenSize;
      const perLayer = o.kind === 'lstm' ? 4 * (width + o.hiddenSize) : o.kind === 's4d' ? 4 * o.hiddenSize * (o.stateSize ?? 64) : 4 * width;
      expect(m.info.stateBytes).toBe(perLayer * o.numLayers);
      const { logits, shape } = await m.forward(ids);
      expect(shape).toEqual([2, 13, 260]);
      expect(logits.every(Number.isFinite)).toBe(true);
      const hidden = await m.forward(ids, { output: 'hidden' });
      expect(hidden.shape).toEqual([2, 13, width]);
      expect(m.config.hiddenSize).toBe(width);
      // The step form (T = 1 per call) reproduces the prefill form of row 1.
      const s = m.createSession();
      let worst = 0;
      for (let t = 0; t < ids[1].length; t++) {
        const step = await s.step(ids[1][t]);
        worst = Math.max(worst, maxAbsDiff(step, logits.subarray((13 + t) * 260, (14 + t) * 260)).diff);
      }
      expect(worst).toBeLessThanOrEqual(1e-5);
      await m.dispose();
    });

    for (const { label, opts } of BACKENDS) {
      it(`${label}: logits and hidden states match the reference backend`, async () => {
        const ref = await loadModel(files, { backend: 'reference' });
        const m = await loadModel(files, opts);
        expect(m.backend).toBe('wasm');
        const a = await m.forward(ids), b = await ref.forward(ids);
        const { diff, scale } = maxAbsDiff(a.logits, b.logits);
        expect(diff).toBeLessThanOrEqual(2e-5 * Math.max(1, scale));
        const ha = await m.forward(ids, { output: 'hidden' }), hb = await ref.forward(ids, { output: 'hidden' });
        expect(maxAbsDiff(ha.hidden, hb.hidden).diff).toBeLessThanOrEqual(2e-5 * Math.max(1, maxAbsDiff(ha.hidden, hb.hidden).scale));
        const greedy = { maxTokens: 10, temperature: 0, ignoreEos: true };
        expect(await collect(m.createSession().generate('The ', greedy))).toEqual(await collect(ref.createSession().generate('The ', greedy)));
        await Promise.all([m.dispose(), ref.dispose()]);
      });
    }
  });
}

describe('lineage weight dtypes', () => {
  it('f16 and q8_0 weights (W_ih, W_hh, W_hr, head) load and run on wasm; f16 matches the reference in f16', async () => {
    const files = randomLineageFiles({ kind: 'lstm', vocabSize: 260, hiddenSize: 64, projSize: 32, embeddingSize: 32, numLayers: 2, seed: 9 });
    const f32 = await loadModel(files, { backend: 'reference' });
    const ref16 = await loadModel(files, { backend: 'reference', dtype: 'f16' });
    const w16 = await loadModel(files, { backend: 'wasm', threads: 1, dtype: 'f16' });
    const w8 = await loadModel(files, { backend: 'wasm', threads: 1, dtype: 'q8_0' });
    const want = (await f32.forward(ids)).logits;
    const a = (await w16.forward(ids)).logits, b = (await ref16.forward(ids)).logits;
    expect(maxAbsDiff(a, b).diff).toBeLessThanOrEqual(2e-5 * Math.max(1, maxAbsDiff(a, b).scale));
    expect(w16.info.weightBytes).toBeLessThan(f32.info.weightBytes / 1.9);
    expect(maxAbsDiff(a, want).diff).toBeLessThan(0.02 * maxAbsDiff(a, want).scale); // f16 rounding only
    const q = (await w8.forward(ids)).logits;
    expect(maxAbsDiff(q, want).diff).toBeLessThan(0.05 * maxAbsDiff(q, want).scale);
    await Promise.all([f32.dispose(), ref16.dispose(), w16.dispose(), w8.dispose()]);
  });
});

describe('lineage sessions', () => {
  const files = randomLineageFiles(KINDS['lstm proj, tied']);
  const opts = { temperature: 0.9, topK: 20, topP: 0.95, ignoreEos: true };

  for (const backend of ['reference', 'wasm'] as const) {
    it(`LSTM (${backend}): save/restore mid-generation continues exactly like an uninterrupted run`, async () => {
      const m = await loadModel(files, { backend, threads: 2 });
      const full = await collect(m.createSession().generate('abc', { ...opts, maxTokens: 16, seed: 11 }));
      const first = m.createSession();
      const part1 = await collect(first.generate('abc', { ...opts, maxTokens: 9, seed: 11 }));
      const blob = await first.saveState();
      const resumed = m.createSession({ state: blob });
      expect(resumed.position).toBe(first.position);
      const part2 = await collect(resumed.generate('', { ...opts, maxTokens: 7 }));
      expect([...part1, ...part2]).toEqual(full);
      expect(await collect(first.generate('', { ...opts, maxTokens: 7 }))).toEqual(part2);
      // The blob is the h and c vectors plus a small header — whatever the position.
      const later = m.createSession({ state: blob });
      await later.prefill(Array.from({ length: 300 }, (_, i) => i % 256));
      await collect(later.generate('', { ...opts, maxTokens: 1 }));
      expect(later.position).toBe(first.position + 300 + 1 - 7);
      expect(Math.abs((await later.saveState()).length - blob.length)).toBeLessThanOrEqual(8);
      await m.dispose();
    });
  }

  it('a state saved on wasm resumes on the reference backend (and the other way)', async () => {
    const w = await loadModel(files, { backend: 'wasm', threads: 1 });
    const r = await loadModel(files, { backend: 'reference' });
    const s = w.createSession();
    const a = await collect(s.generate('xyz', { ...opts, maxTokens: 6, seed: 3 }));
    const fromWasm = r.createSession({ state: await s.saveState() });
    const restR = await collect(fromWasm.generate('', { ...opts, maxTokens: 6 }));
    const restW = await collect(s.generate('', { ...opts, maxTokens: 6 }));
    expect(a.length).toBe(6);
    expect(restR).toEqual(restW);
    await Promise.all([w.dispose(), r.dispose()]);
  });

  it('prefill in pieces (across prefill chunks) equals prefill at once for S4D and GRU', async () => {
    for (const k of ['s4d gated, tied', 'gru']) {
      const m: Model = await loadModel(randomLineageFiles(KINDS[k]), { backend: 'wasm', threads: 1 });
      const prompt = Array.from({ length: 600 }, (_, i) => (i * 7) % 260);
      const a = await m.createSession().prefill(prompt);
      const s = m.createSession();
      await s.prefill(prompt.slice(0, 257));
      const b = await s.prefill(prompt.slice(257));
      expect(maxAbsDiff(b, a).diff).toBe(0);
      await m.dispose();
    }
  });
});

describe('lineage: bad configs and checkpoints', () => {
  const load = (o: RandomLineageOptions, files = randomLineageFiles(o)) => loadModel(files, { backend: 'reference' });
  const base: RandomLineageOptions = { kind: 'lstm', vocabSize: 270, hiddenSize: 32, numLayers: 2, seed: 1 };
  const withConfig = (o: RandomLineageOptions, edit: (c: Record<string, unknown>) => void) => {
    const files = randomLineageFiles(o);
    const c = JSON.parse(new TextDecoder().decode(files['config.json']));
    edit(c);
    return { ...files, 'config.json': new TextEncoder().encode(JSON.stringify(c)) };
  };
  const rejects = (p: Promise<unknown>, code: string, message: RegExp) => expect(p).rejects.toMatchObject({ code, message: expect.stringMatching(message) });

  it('a GRU checkpoint given as an LSTM is E_SHAPE naming the tensor and both shapes', async () => {
    const gru = randomLineageFiles({ ...base, kind: 'gru' });
    const asLstm = withConfig({ ...base, kind: 'gru' }, (c) => { c.model_type = 'lstm'; });
    await rejects(loadModel({ ...gru, 'config.json': asLstm['config.json'] }, { backend: 'reference' }), 'E_SHAPE',
      /rnn\.weight_ih_l0" has shape \[96,32\], but config\.json implies \[128,32\]/);
  });

  it('hidden_size that contradicts the weights is E_SHAPE; a missing gate tensor is E_FORMAT', async () => {
    await rejects(loadModel(withConfig(base, (c) => { c.hidden_size = 30; c.embedding_size = 32; }), { backend: 'reference' }), 'E_SHAPE', /rnn\.weight_ih_l0" has shape \[128,32\], but config\.json implies \[120,32\]/);
    await rejects(loadModel(withConfig({ ...base, embeddingSize: 20 }, (c) => { delete c.embedding_size; }), { backend: 'reference' }), 'E_SHAPE', /embedding\.weight" has shape \[270,20\], but config\.json implies \[270,32\]/);
    await rejects(loadModel(withConfig({ ...base, bias: false }, (c) => { c.bias = true; }), { backend: 'reference' }), 'E_FORMAT', /"rnn\.bias_ih_l0" is missing/);
    await rejects(loadModel(withConfig({ ...base, projSize: 8 }, (c) => { delete c.proj_size; }), { backend: 'reference' }), 'E_SHAPE', /rnn\.weight_hh_l0" has shape \[128,8\], but config\.json implies \[128,32\]/);
    await rejects(loadModel(withConfig({ ...base, numLayers: 1 }, (c) => { c.num_layers = 2; }), { backend: 'reference' }), 'E_FORMAT', /"rnn\.weight_ih_l1" is missing/);
    const s4d: RandomLineageOptions = { kind: 's4d', vocabSize: 270, hiddenSize: 12, numLayers: 1, stateSize: 8 };
    await rejects(loadModel(withConfig(s4d, (c) => { c.state_size = 16; }), { backend: 'reference' }), 'E_SHAPE', /layers\.0\.mixer\.kernel\.C" has shape \[12,4,2\], but config\.json implies \[12,8,2\]/);
    await rejects(loadModel(withConfig({ ...s4d, gated: false }, (c) => { c.gated = true; }), { backend: 'reference' }), 'E_FORMAT', /"layers\.0\.mixer\.gate\.weight" is missing/);
  });

  it('unknown, renamed or inapplicable config fields are E_CONFIG naming the field', async () => {
    await rejects(load({ ...base, extraConfig: { hidden_dim: 3 } }), 'E_CONFIG', /field "hidden_dim" is not part of a "lstm" config/);
    await rejects(load({ ...base, extraConfig: { num_hidden_layers: 2 } }), 'E_CONFIG', /"num_hidden_layers".*calls it "num_layers"/);
    await rejects(load({ ...base, extraConfig: { nonlinearity: 'tanh' } }), 'E_CONFIG', /"nonlinearity".*only "rnn"/);
    await rejects(load({ ...base, kind: 'gru', extraConfig: { proj_size: 4 } }), 'E_CONFIG', /"proj_size".*only for "lstm"/);
    await rejects(load({ ...base, kind: 'rnn', nonlinearity: 'sigmoid' as 'tanh' }), 'E_CONFIG', /"nonlinearity" must be "tanh" or "relu"/);
    await rejects(load({ ...base, projSize: 32 }), 'E_CONFIG', /"proj_size" \(32\) must be smaller than hidden_size \(32\)/);
    await rejects(load({ ...base, extraConfig: { bidirectional: true } }), 'E_CONFIG', /"bidirectional" must be false/);
    await rejects(load({ ...base, tie: true, embeddingSize: 16 }), 'E_CONFIG', /tie_word_embeddings needs the embedding width \(16\)/);
    await rejects(load({ ...base, extraConfig: { hidden_size: 0 } }), 'E_CONFIG', /field "hidden_size" must be an integer/);
    await rejects(load({ kind: 's4d', vocabSize: 270, hiddenSize: 8, numLayers: 1, stateSize: 8, extraConfig: { state_size: 7 } }), 'E_CONFIG', /"state_size" must be even/);
    await rejects(load({ kind: 's4d', vocabSize: 270, hiddenSize: 8, numLayers: 1, extraConfig: { d_model: 8 } }), 'E_CONFIG', /"d_model".*calls it "hidden_size"/);
    // dropout is accepted (training only) and comments pass
    await expect(load({ ...base, extraConfig: { dropout: 0.2, _comment: 'trained on x' } })).resolves.toBeTruthy();
  });
});
