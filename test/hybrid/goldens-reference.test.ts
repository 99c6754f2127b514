/**
 * Llama, Bamba, NemotronH and Jamba on the reference backend against transformers 5.17
 * (tools/make_hybrid_goldens.py). Same tolerance as the Mamba goldens, 2e-5 of the logit scale:
 * transformers' float64 model still computes its RMSNorms, the attention softmax and the rotary
 * tables in f32 (its own f32 model is ≤ 1.8e-5 away: golden.json checks), and we store activations
 * in f32. Measured (2026-12, this machine): full-forward logits ≤ 8.8e-7 of the scale (scales
 * 8–12) on the reference, ≤ 1.2e-6 on wasm; cached-step logits ≤ 1.2e-6 / 1.9e-6 — so 2e-5 is
 * ~10× the error, while a wrong op (a missed rotation, a wrong kv-head grouping, an unnormalised
 * B, a renormalised router) moves logits by O(0.1–1).
 */
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { HYBRID } from './fixtures.js';

runGoldenSuite('reference (attention and hybrids)', { backend: 'reference' }, 2e-5, HYBRID);
