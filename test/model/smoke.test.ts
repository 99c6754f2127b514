import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import { randomModelFiles } from '../../tools/random-model.js';

describe('smoke', () => {
  for (const modelType of ['mamba', 'mamba2'] as const) {
    it(`${modelType}: step-by-step equals full forward`, async () => {
      const files = randomModelFiles({ modelType, vocabSize: 261, hiddenSize: 24, numLayers: 2, stateSize: 6, headDim: 8, chunkSize: 4, nGroups: 2 });
      const model = await loadModel(files, { backend: 'reference' });
      const ids = [1, 5, 9, 2, 33, 7, 8, 11, 260, 0, 3];
      const full = await model.forward([ids]);
      const s = model.createSession();
      const V = model.config.vocabSize;
      for (let t = 0; t < ids.length; t++) {
        const l = await s.step(ids[t]);
        for (let v = 0; v < V; v++) expect(l[v]).toBeCloseTo(full.logits[t * V + v], 4);
      }
    });
  }
});
