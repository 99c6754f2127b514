/**
 * The benchmark models' shapes (no side effects, so bundled scripts such as bench/cuda.ts can import
 * them; tools/bench-models.ts writes the files).
 */
import type { RandomModelOptions } from './random-model.js';

/** Shapes of the published checkpoints (config.json of state-spaces/mamba-130m-hf and mamba2-130m), random weights. */
export const BENCH_MODELS = {
  'mamba-130m': { modelType: 'mamba', vocabSize: 50280, hiddenSize: 768, numLayers: 24, stateSize: 16, expand: 2, convKernel: 4, seed: 1 },
  'mamba2-130m': { modelType: 'mamba2', vocabSize: 50288, hiddenSize: 768, numLayers: 24, stateSize: 128, expand: 2, convKernel: 4, headDim: 64, nGroups: 1, chunkSize: 256, seed: 1 },
} satisfies Record<string, RandomModelOptions>;
export type BenchModelName = keyof typeof BENCH_MODELS;
export const BENCH_MODEL_NAMES = Object.keys(BENCH_MODELS) as BenchModelName[];
