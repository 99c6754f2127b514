/**
 * Mamba-3 (SISO and MIMO) on the reference backend against state-spaces/mamba's own reference
 * recurrences, transcribed to float64 by tools/make_mamba3_goldens.py (test/fixtures/mamba3).
 *
 * Tolerance 2e-5 of the logit scale, as for the transformers goldens: the oracle is f64 on the
 * same (f32) weights, we store activations in f32 (≈6e-8 relative per op) through 2–3 layers,
 * exp/softplus/tanh/cos/sin of the SSM and the quadratic chunk form. Measured (2026-12, this
 * machine): max |Δlogit| 1.2e-6 … 9.1e-6 at logit scales 7–12.5, i.e. ≤ 7.3e-7 of the scale
 * (siso-long, T = 130, is the worst), while a wrong term (a missing bias, a swapped rotary
 * pairing, the β term off by one token) moves logits by O(0.1–1).
 */
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { MAMBA3_GOLDENS } from './golden-set.js';

runGoldenSuite('reference', { backend: 'reference' }, 2e-5, MAMBA3_GOLDENS);
