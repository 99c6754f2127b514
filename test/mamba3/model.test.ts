/**
 * Mamba-3 as a model: the carried state (θ, h, k̃, ṽ per layer) survives saveState mid-generation
 * on every backend, prefill in pieces equals prefill at once, and configs that do not match the
 * tensors (rope fraction, MIMO rank, head sizes) are typed errors naming the tensor and the shape.
 */
import { describe, expect, it } from 'vitest';
import { loadModel, MambaEdgeError, type LoadOptions } from '../../src/node.js';
import { randomModelFiles, type RandomModelOptions } from '../../tools/random-model.js';

const SISO: RandomModelOptions = {
  modelType: 'mamba3', vocabSize: 263, hiddenSize: 20, numLayers: 2, stateSize: 10, headDim: 5, nGroups: 2, chunkSize: 6, seed: 3,
};
const MIMO: RandomModelOptions = {
  modelType: 'mamba3', vocabSize: 259, hiddenSize: 18, numLayers: 2, stateSize: 8, headDim: 9, isMimo: true, mimoRank: 3,
  ropeFraction: 1, isOutprojNorm: true, chunkSize: 5, seed: 4,
};

async function collect(it: AsyncIterable<{ id: number }>): Promise<number[]> {
  const ids: number[] = [];
  for await (const t of it) ids.push(t.id);
  return ids;
}

function withConfig(files: Record<string, Uint8Array>, edit: (c: Record<string, unknown>) => void) {
  const c = JSON.parse(new TextDecoder().decode(files['config.json']));
  edit(c);
  return { ...files, 'config.json': new TextEncoder().encode(JSON.stringify(c)) };
}

const BACKENDS: [string, LoadOptions][] = [
  ['reference', { backend: 'reference' }],
  ['wasm 1 thread', { backend: 'wasm', threads: 1 }],
  ['wasm 2 threads', { backend: 'wasm', threads: 2 }],
];

for (const [variant, opts] of [['SISO', SISO], ['MIMO', MIMO]] as const) {
  for (const [label, load] of BACKENDS) {
    describe(`mamba3 ${variant} model — ${label}`, () => {
      it('save/restore mid-generation continues exactly like an uninterrupted run', async () => {
        const m = await loadModel(randomModelFiles(opts), load);
        const gen = { temperature: 0.8, topK: 30, ignoreEos: true };
        const full = await collect(m.createSession().generate('Mamba-3 ', { ...gen, maxTokens: 14, seed: 11 }));
        const first = m.createSession();
        const part1 = await collect(first.generate('Mamba-3 ', { ...gen, maxTokens: 6, seed: 11 }));
        const blob = await first.saveState();
        const resumed = m.createSession({ state: blob });
        const part2 = await collect(resumed.generate('', { ...gen, maxTokens: 8 }));
        expect([...part1, ...part2]).toEqual(full);
        // the state is the same size whatever the context: (θ, h, k̃, ṽ) per layer
        const c = m.config;
        const H = c.numHeads!, P = c.headDim!, N = c.stateSize, R = opts.isMimo ? opts.mimoRank! : 1;
        const S = variant === 'SISO' ? 2 : N / 2;
        expect(m.info.stateBytes).toBe(4 * c.numLayers * (H * S + H * P * N + R * H * N + H * P));
        await m.dispose();
      });

      it('prefill in pieces (across chunk boundaries) equals prefill at once', async () => {
        const m = await loadModel(randomModelFiles(opts), load);
        const ids = Array.from({ length: 29 }, (_, i) => (i * 37 + 5) % 256);
        const a = await m.createSession().prefill(ids);
        const s = m.createSession();
        await s.prefill(ids.slice(0, 7));
        await s.prefill(ids.slice(7, 8));
        const b = await s.prefill(ids.slice(8));
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        expect(worst).toBeLessThan(2e-5 * Math.max(1, ...Array.from(a, Math.abs)));
        await m.dispose();
      });
    });
  }
}

describe('mamba3 configs that do not match the tensors', () => {
  async function error(files: Record<string, Uint8Array>): Promise<MambaEdgeError> {
    try {
      await loadModel(files, { backend: 'reference' });
    } catch (e) {
      expect(e).toBeInstanceOf(MambaEdgeError);
      return e as MambaEdgeError;
    }
    throw new Error('loaded without an error');
  }

  it('rope fraction 1.0 on a 0.5 checkpoint: E_SHAPE naming in_proj.weight, the expected shape and why', async () => {
    const e = await error(withConfig(randomModelFiles(SISO), (c) => { c.rope_fraction = 1; }));
    expect(e.code).toBe('E_SHAPE');
    expect(e.message).toContain('"backbone.layers.0.mixer.in_proj.weight"');
    // 2·40 + 2·10·2 + 3·8 + 5 angles = 149 rows expected, 146 stored
    expect(e.message).toContain('[149,20]');
    expect(e.message).toContain('[146,20]');
    expect(e.message).toMatch(/rope angles/);
  });

  it('MIMO rank 2 on a rank-3 checkpoint: E_SHAPE naming in_proj (its B, C rows) with mimo_rank in the breakdown', async () => {
    const e = await error(withConfig(randomModelFiles(MIMO), (c) => { c.mimo_rank = 2; }));
    expect(e.code).toBe('E_SHAPE');
    expect(e.message).toContain('in_proj.weight');
    expect(e.message).toMatch(/mimo_rank 2/);
  });

  it('is_mimo false on a MIMO checkpoint: E_SHAPE (in_proj has the rank-3 B, C rows)', async () => {
    const e = await error(withConfig(randomModelFiles(MIMO), (c) => { c.is_mimo = false; }));
    expect(e.code).toBe('E_SHAPE');
    expect(e.message).toContain('in_proj.weight');
  });

  it('a B_bias of another rank or mimo_x of another head size: E_SHAPE naming that tensor and the expected shape', async () => {
    const files = randomModelFiles(MIMO);
    const other = randomModelFiles({ ...MIMO, headDim: 6, hiddenSize: 18, expand: 2 }); // 6 heads of 6 instead of 4 of 9
    const e = await error(withConfig(other, (c) => { c.head_dim = 9; }));
    expect(e.code).toBe('E_SHAPE');
    expect(e.message).toMatch(/in_proj\.weight|dt_bias/);
    // swap in one layer's mimo_x from a model with head_dim 6 → names mimo_x and [4,3,9]
    const { parseSafetensors } = await import('../../src/formats/safetensors.js');
    const { writeSafetensors } = await import('../helpers/safetensors-writer.js');
    const a = parseSafetensors(files['model.safetensors'], 'model.safetensors');
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    const { toFloat32 } = await import('../../src/formats/safetensors.js');
    for (const [name, t] of a.tensors) tensors[name] = { dtype: 'F32', shape: [...t.shape], data: toFloat32(t) };
    tensors['backbone.layers.1.mixer.mimo_x'] = { dtype: 'F32', shape: [4, 3, 6], data: new Float32Array(72) };
    const e2 = await error({ ...files, 'model.safetensors': writeSafetensors(tensors) });
    expect(e2.code).toBe('E_SHAPE');
    expect(e2.message).toContain('"backbone.layers.1.mixer.mimo_x"');
    expect(e2.message).toContain('[4,3,9]');
    expect(e2.message).toMatch(/head_dim 9/);
  });

  it('config values mamba3.py rejects are E_CONFIG naming the field', async () => {
    const cases: [string, (c: Record<string, unknown>) => void][] = [
      ['rope_fraction', (c) => { c.rope_fraction = 0.25; }],
      ['head_dim', (c) => { c.head_dim = 7; }],
      ['n_groups', (c) => { c.n_groups = 3; }],
      ['state_size', (c) => { c.state_size = 9; }],
      ['mimo_rank', (c) => { c.is_mimo = true; c.mimo_rank = 0; }],
    ];
    for (const [field, edit] of cases) {
      const e = await error(withConfig(randomModelFiles(SISO), edit));
      expect(e.code, field).toBe('E_CONFIG');
      expect(e.message, field).toContain(`"${field}"`);
    }
  });
});
