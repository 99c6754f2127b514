/**
 * The reference backend against Hugging Face transformers (the independent oracle).
 *
 * Tolerance: HF's goldens are computed with model.double() but its RMSNorms, A = −exp(A_log)
 * and the scan inputs run in f32 (see golden.json notes), and we store activations in f32.
 * Both sides therefore carry f32 rounding (≈6e-8 relative per op), compounded over a few
 * layers and the exp() of the scans. Measured (reference backend, 2026-11): max |Δlogit| is
 * 1.9e-6 … 5.9e-6 at logit scales 9–16, i.e. ≤ 6e-7 of the scale; transformers' own f32 model
 * is 1.4e-5 away from its f64 one. We allow 2e-5 × max(1, |logits|max): about 30× the
 * measured error, while any wrong op (a missing bias, a swapped split, grouped instead of
 * full-width norm) moves logits by O(0.1–1).
 */
import { describe, expect, it } from 'vitest';
import { loadModel, type LoadOptions } from '../../src/node.js';
import { GOLDEN_DIR, goldenCases, maxAbsDiff } from './goldens.js';

/** Which goldens a suite runs: transformers' Mamba-1/2 (default) or another fixture folder. */
export interface GoldenSet {
  dir: string;
  title: string;
  archs: string[];
  minCases: number;
  script: string;
}
const TRANSFORMERS: GoldenSet = {
  dir: GOLDEN_DIR, title: 'goldens from transformers', archs: ['mamba', 'mamba2'], minCases: 6, script: 'tools/make_goldens.py',
};

/** Every golden case on one backend configuration, within `tolerance` × max(1, |output|max). */
export function runGoldenSuite(label: string, load: LoadOptions, tolerance: number, set: GoldenSet = TRANSFORMERS): void {
  const cases = goldenCases(set.dir).filter((c) => set.archs.includes(String(c.meta.arch))); // a backend may take a subset
  describe(`${set.title} — ${label}`, () => {
    it(`fixtures are present (run ${set.script} to regenerate)`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(set.minCases);
      const archs = new Set(cases.map((c) => c.meta.arch));
      expect(archs).toEqual(new Set(set.archs));
    });

    for (const c of cases) {
      describe(c.name, () => {
        it('full-sequence logits (batch 2) and final hidden states match', async () => {
          const model = await loadModel(c.dir, load);
          const { logits, shape } = await model.forward(c.inputIds);
          expect(shape).toEqual([c.inputIds.length, c.inputIds[0].length, model.config.vocabSize]);
          const { diff, scale } = maxAbsDiff(logits, c.logits);
          expect(diff).toBeLessThanOrEqual(tolerance * Math.max(1, scale));
          const hidden = await model.forward(c.inputIds, { output: 'hidden' });
          const h = maxAbsDiff(hidden.hidden, c.hidden);
          expect(h.diff).toBeLessThanOrEqual(tolerance * Math.max(1, h.scale));
        });

        it('greedy continuation is token-identical, with matching step logits', async () => {
          const model = await loadModel(c.dir, load);
          const s = model.createSession();
          const ids: number[] = [];
          const V = model.config.vocabSize;
          let logits = await s.prefill(c.greedyPrompt);
          for (let i = 0; i < c.greedyTokens.length; i++) {
            if (c.greedyLogits) {
              const { diff, scale } = maxAbsDiff(logits, c.greedyLogits.subarray(i * V, (i + 1) * V));
              expect(diff).toBeLessThanOrEqual(tolerance * Math.max(1, scale));
            }
            const next = logits.indexOf(Math.max(...logits));
            ids.push(next);
            logits = await s.step(next);
          }
          expect(ids).toEqual(c.greedyTokens);
          const viaGenerate = await model.createSession().generate(c.greedyPrompt, { temperature: 0, maxTokens: c.greedyTokens.length, ignoreEos: true });
          const streamed: number[] = [];
          for await (const t of viaGenerate) streamed.push(t.id);
          expect(streamed).toEqual(c.greedyTokens);
        });

        it('step-by-step logits equal full-forward logits', async () => {
          const model = await loadModel(c.dir, load);
          const row = c.inputIds[1];
          const V = model.config.vocabSize;
          const s = model.createSession();
          const T = c.inputIds[0].length;
          for (let t = 0; t < row.length; t++) {
            const step = await s.step(row[t]);
            const want = c.logits.subarray((T + t) * V, (T + t + 1) * V);
            const { diff, scale } = maxAbsDiff(step, want);
            expect(diff).toBeLessThanOrEqual(tolerance * Math.max(1, scale));
          }
        });
      });
    }
  });
}
