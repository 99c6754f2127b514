/**
 * The cuda backend against transformers' goldens (the shared golden suite), where a GPU is present.
 * Same tolerance as the reference and wasm, 2e-5 of the logit scale: f32 kernels (ops.test.ts says
 * why their error is ≲ 1e-6 per op) over a few layers stay far below it; greedy tokens must match.
 */
import { describe } from 'vitest';
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { cudaUnavailable, skipNote } from './available.js';

skipNote('golden suite');

describe.skipIf(cudaUnavailable !== null)('cuda', () => {
  runGoldenSuite('cuda, f32', { backend: 'cuda' }, 2e-5);
});
