/**
 * The attention and hybrid goldens (Llama GQA and MQA-with-biases-long, Bamba, NemotronH, Jamba with its
 * mixture of experts) on the cuda backend, where a GPU is present. Tolerance 2e-5 × max(1, |logits|max),
 * as the reference and wasm hold these goldens (test/hybrid/goldens-reference.test.ts says why): every
 * cuda kernel computes in f32 and differs from them only in summation order (online softmax, warp
 * reductions, cuBLAS SGEMM without TF32), each ≲ 1e-6 relative over these sizes.
 */
import { describe } from 'vitest';
import '../../src/node.js';
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { HYBRID } from '../hybrid/fixtures.js';
import { cudaUnavailable, skipNote } from './available.js';

skipNote('hybrid golden suite');

describe.skipIf(cudaUnavailable !== null)('cuda', () => {
  runGoldenSuite('cuda, f32 (attention and hybrids)', { backend: 'cuda' }, 2e-5, HYBRID);
});
