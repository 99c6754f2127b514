/**
 * Llama, Bamba, NemotronH and Jamba on the reference backend against transformers 5.17
 * (tools/make_hybrid_goldens.py). Same tolerance as the Mamba goldens, 2e-5 of the logit scale:
 * transformers' float64 model still computes its RMSNorms, the attention softmax and the rotary
 * tables in f32 (golden.json checks.fp32_model_vs_fp64_logits_max_abs_diff ≤ 1.8e-5 absolute at
 * logit scales of 5–15), and we store activations in f32; a wrong op (a missed rotation, a wrong
 * kv-head grouping, an unnormalised B) moves logits by O(0.1–1).
 */
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { HYBRID } from './fixtures.js';

runGoldenSuite('reference (attention and hybrids)', { backend: 'reference' }, 2e-5, HYBRID);
