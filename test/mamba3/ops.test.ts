/**
 * mamba3Scan / mamba3Step on every CPU backend (test/backends/mamba3-op-suite.ts).
 * Tolerance 2e-5 relative (1.3e-4 rad on θ): the reference accumulates in f64 and keeps θ in f64
 * within a call, the wasm kernel in f32 with SIMD lanes; states are f32 between calls everywhere.
 * Over 1000 tokens the decay (α < 1) keeps the rounding from compounding.
 */
import '../../src/node.js';
import { createWasmBackend } from '../../src/backends/wasm/factory.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import type { Backend } from '../../src/backends/backend.js';
import { runMamba3OpSuite } from '../backends/mamba3-op-suite.js';

runMamba3OpSuite('reference', () => new ReferenceBackend(), { tolerance: 2e-5 });
const make = (threads: number) => async () => (await createWasmBackend({ threads })) as Backend;
runMamba3OpSuite('wasm (1 thread)', make(1), { tolerance: 2e-5 });
runMamba3OpSuite('wasm (2 threads)', make(2), { tolerance: 2e-5 });
