/**
 * The benchmark models' shapes (no side effects, so bundled scripts such as bench/cuda.ts can import
 * them; tools/bench-models.ts writes the files).
 */
import type { RandomModelOptions } from './random-model.js';

/**
 * Shapes of the published checkpoints, random weights (tools/random-model.ts):
 * - mamba-130m, mamba2-130m: config.json of state-spaces/mamba-130m-hf and state-spaces/mamba2-130m.
 * - mamba-1.4b: state-spaces/mamba-1.4b(-hf) config.json — d_model 2048, n_layer 48, state_size 16,
 *   expand 2, conv 4, time_step_rank 128 (= ceil(2048 / 16), our 'auto'), vocab 50277 padded to a
 *   multiple of 8 = 50280.
 * - mamba2-1.3b: state-spaces/mamba2-1.3b config.json — d_model 2048, n_layer 48, ssm_cfg
 *   {layer: Mamba2}, vocab 50277 padded to a multiple of 16 = 50288; the rest are mamba_ssm's Mamba2
 *   defaults: d_state 128, headdim 64, ngroups 1, expand 2, d_conv 4, chunk_size 256 (so 64 heads).
 */
export const BENCH_MODELS = {
  'mamba-130m': { modelType: 'mamba', vocabSize: 50280, hiddenSize: 768, numLayers: 24, stateSize: 16, expand: 2, convKernel: 4, seed: 1 },
  'mamba2-130m': { modelType: 'mamba2', vocabSize: 50288, hiddenSize: 768, numLayers: 24, stateSize: 128, expand: 2, convKernel: 4, headDim: 64, nGroups: 1, chunkSize: 256, seed: 1 },
  'mamba-1.4b': { modelType: 'mamba', vocabSize: 50280, hiddenSize: 2048, numLayers: 48, stateSize: 16, expand: 2, convKernel: 4, seed: 1 },
  'mamba2-1.3b': { modelType: 'mamba2', vocabSize: 50288, hiddenSize: 2048, numLayers: 48, stateSize: 128, expand: 2, convKernel: 4, headDim: 64, nGroups: 1, chunkSize: 256, seed: 1 },
} satisfies Record<string, RandomModelOptions>;
export type BenchModelName = keyof typeof BENCH_MODELS;
/** The default set (the CPU benchmarks and peers): the 130M pair. The 1.4B / 1.3B shapes are for GPUs (`--models`). */
export const BENCH_MODEL_NAMES: BenchModelName[] = ['mamba-130m', 'mamba2-130m'];
/** Every shape, the GPU-sized ones included. */
export const ALL_BENCH_MODEL_NAMES = Object.keys(BENCH_MODELS) as BenchModelName[];
