/**
 * The CPU backend against transformers, on one thread and on the pool. Measured (2026-11):
 * max |Δlogit| ≤ 8.3e-7 of the logit scale on every case (the reference: ≤ 6e-7) — f32
 * accumulation in SIMD lanes and the vectorized exp cost little. Same tolerance as the
 * reference, 2e-5 of the scale; greedy tokens must be identical.
 */
import { runGoldenSuite } from '../helpers/golden-suite.js';

runGoldenSuite('wasm, 1 thread', { backend: 'wasm', threads: 1 }, 2e-5);
runGoldenSuite('wasm, 2 threads', { backend: 'wasm', threads: 2 }, 2e-5);
