/**
 * Mamba-3 on the CPU backend (prefill: wasm/as/mamba3-chunk.ts, decode: wasm/as/mamba3.ts), one
 * thread and the pool, against the same goldens as the reference backend
 * (test/mamba3/goldens.test.ts), same tolerance: 2e-5 of the logit scale; greedy tokens identical.
 * Measured (2026-12-06, chunked prefill): ≤ 2.0e-6 of the scale (mimo-r2 greedy logits; full-sequence
 * logits ≤ 1.8e-6, siso-long) — f32 accumulation in SIMD lanes and θ carried in f32 between tokens
 * (the reference keeps θ in f64 within a call). The recurrence-only kernel measured ≤ 2.9e-6.
 */
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { MAMBA3_GOLDENS } from './golden-set.js';

runGoldenSuite('wasm, 1 thread', { backend: 'wasm', threads: 1 }, 2e-5, MAMBA3_GOLDENS);
runGoldenSuite('wasm, 2 threads', { backend: 'wasm', threads: 2 }, 2e-5, MAMBA3_GOLDENS);
