/**
 * The reference backend against Hugging Face transformers. Tolerance 2e-5 of the logit
 * scale: measured error is ≤ 6e-7 of it (see test/helpers/golden-suite.ts).
 */
import { runGoldenSuite } from '../helpers/golden-suite.js';

runGoldenSuite('reference', { backend: 'reference' }, 2e-5);
