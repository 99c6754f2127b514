/**
 * The lineage against PyTorch (tools/make_lineage_goldens.py): nn.RNN (tanh, relu), nn.LSTM
 * (with proj_size, tied, without bias), nn.GRU and S4D / gated S4D language models, on every
 * backend present — reference, wasm on 1 and on 2 threads.
 *
 * Tolerance: the goldens are float64; every backend stores activations in f32 (≈6e-8 relative
 * per rounding), compounded over ≤ 3 layers and, for S4D, over a recurrence of up to 300 steps
 * that PyTorch evaluates as an FFT convolution. See GOLDEN_TOLERANCE for the measured errors.
 */
import { describe, expect, it } from 'vitest';
import { loadModel, type LoadOptions, type Model } from '../../src/node.js';
import { lineageGoldens } from './golden-cases.js';
import { maxAbsDiff } from '../helpers/goldens.js';

const cases = lineageGoldens();

/**
 * Allowed max |Δ| relative to max(1, |golden|max). Measured against the torch 2.11 f64 goldens
 * (2026-11): reference backend ≤ 5.4e-8 of scale for every recurrent cell, S4D ≤ 5.3e-8 (T = 11)
 * and 1.5e-7 (T = 300, the recurrence against PyTorch's FFT convolution); wasm (1 and 2 threads,
 * identical) ≤ 1.9e-7, S4D-long 1.8e-7. torch's own float32 run of the same models is 1.1e-7 …
 * 4.9e-6 (absolute; ≤ 2.2e-7 of scale) away from its f64 run. 2e-6 is ~10× the worst measured
 * error, while a wrong gate order, bias placement or mode (a swapped i/f gate, b_hn outside
 * r ⊙ (·), a dropped GELU, swapped GLU halves) moves logits by ≥ 1e-2.
 */
const GOLDEN_TOLERANCE = 2e-6;

const BACKENDS: { label: string; opts: LoadOptions }[] = [
  { label: 'reference', opts: { backend: 'reference' } },
  { label: 'wasm, 1 thread', opts: { backend: 'wasm', threads: 1 } },
  { label: 'wasm, 2 threads', opts: { backend: 'wasm', threads: 2 } },
];

function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const { diff, scale } = maxAbsDiff(got, want);
  expect(diff, `${what}: max |Δ| ${diff.toExponential(2)} at scale ${scale.toFixed(2)}`).toBeLessThanOrEqual(GOLDEN_TOLERANCE * Math.max(1, scale));
}

describe('lineage goldens from PyTorch', () => {
  it('fixtures are present and cover every kind (run tools/make_lineage_goldens.py to regenerate)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(11);
    const kinds = new Set(cases.map((c) => `${c.meta.config.model_type}${c.meta.config.nonlinearity === 'relu' ? '-relu' : ''}${c.meta.config.proj_size ? '-proj' : ''}${c.meta.config.gated ? '-gated' : ''}`));
    expect(kinds).toEqual(new Set(['rnn', 'rnn-relu', 'lstm', 'lstm-proj', 'gru', 's4d', 's4d-gated']));
  });

  for (const { label, opts } of BACKENDS) {
    describe(label, () => {
      for (const c of cases) {
        it(`${c.name}: batch-2 forward, greedy continuation with step logits, steps = full`, async () => {
          const model: Model = await loadModel(c.modelDir, opts);
          try {
            const { input_ids: ids, T, positions } = c.meta;
            const V = model.config.vocabSize;
            const { logits } = await model.forward(ids);
            if (positions) {
              const picked = new Float32Array(ids.length * positions.length * V);
              ids.forEach((_, b) => positions.forEach((p, i) => picked.set(logits.subarray((b * T + p) * V, (b * T + p + 1) * V), (b * positions.length + i) * V)));
              expectWithin(picked, c.logits, 'logits at positions');
            } else {
              expectWithin(logits, c.logits, 'logits');
              const { hidden } = await model.forward(ids, { output: 'hidden' });
              expectWithin(hidden, c.hidden!, 'hidden');
            }

            // Greedy: prefill the prompt, then one step per token, as torch did.
            const s = model.createSession();
            let next = await s.prefill(c.meta.greedy.prompt);
            const tokens: number[] = [];
            for (let i = 0; i < c.meta.greedy.tokens.length; i++) {
              expectWithin(next, c.greedyLogits.subarray(i * V, (i + 1) * V), `greedy step ${i}`);
              const id = next.indexOf(Math.max(...next));
              tokens.push(id);
              next = await s.step(id);
            }
            expect(tokens).toEqual(c.meta.greedy.tokens);

            // The step form alone (T = 1 per call) reproduces row 1 of the full forward.
            if (!positions) {
              const steps = model.createSession();
              const row = ids[1];
              for (let t = 0; t < row.length; t++) {
                expectWithin(await steps.step(row[t]), c.logits.subarray((T + t) * V, (T + t + 1) * V), `step ${t}`);
              }
            }
          } finally {
            await model.dispose();
          }
        });
      }
    });
  }
});
