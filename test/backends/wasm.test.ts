/**
 * The CPU backend against the reference, op by op, on one thread and on the pool.
 * Tolerance 2e-5 relative: kernels accumulate in f32 with SIMD lanes (reordered sums)
 * where the reference accumulates in f64; over K ≤ 768 products that is ≲ 1e-6, and the
 * scans' vectorized exp adds ≤ 2 ulp per step.
 */
import '../../src/node.js';
import { createWasmBackend } from '../../src/backends/wasm/factory.js';
import type { Backend } from '../../src/backends/backend.js';
import { runOpSuite } from './op-suite.js';

const make = (threads: number) => async () => (await createWasmBackend({ threads })) as Backend;
runOpSuite('wasm (1 thread)', make(1), { tolerance: 2e-5 });
runOpSuite('wasm (2 threads)', make(2), { tolerance: 2e-5 });
