import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { runOpSuite } from './op-suite.js';

runOpSuite('reference', () => new ReferenceBackend(), { tolerance: 0 });
