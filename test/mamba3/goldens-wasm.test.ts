/**
 * Mamba-3 on the CPU backend (wasm/as/mamba3.ts), one thread and the pool, against the same
 * goldens as the reference backend (test/mamba3/goldens.test.ts), same tolerance: 2e-5 of the
 * logit scale; greedy tokens identical. Measured (2026-12): ≤ 2.9e-6 of the scale (siso-long;
 * the others ≤ 1.3e-6) — f32 accumulation in SIMD lanes and θ carried in f32 between tokens
 * (the reference keeps θ in f64 within a call).
 */
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { MAMBA3_GOLDENS } from './golden-set.js';

runGoldenSuite('wasm, 1 thread', { backend: 'wasm', threads: 1 }, 2e-5, MAMBA3_GOLDENS);
runGoldenSuite('wasm, 2 threads', { backend: 'wasm', threads: 2 }, 2e-5, MAMBA3_GOLDENS);
