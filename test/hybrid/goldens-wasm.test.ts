/** The hybrid goldens on the CPU backend, one thread and the pool; tolerance as for the reference (see goldens-reference.test.ts). */
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { HYBRID } from './fixtures.js';

runGoldenSuite('wasm, 1 thread (attention and hybrids)', { backend: 'wasm', threads: 1 }, 2e-5, HYBRID);
runGoldenSuite('wasm, 2 threads (attention and hybrids)', { backend: 'wasm', threads: 2 }, 2e-5, HYBRID);
