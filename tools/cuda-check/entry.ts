/** The bundled cuda check (tools/cuda-check.mjs): the cuda test files, run by the vitest shim. */
import '../../test/cuda/fallback.test.js';
import '../../test/cuda/ops.test.js';
import '../../test/cuda/goldens.test.js';
import '../../test/cuda/fast-paths.test.js';
import '../../test/cuda/attention.test.js';
import '../../test/cuda/hybrid-goldens.test.js';
import '../../test/cuda/scan.test.js';
import '../../test/cuda/decode.test.js';
import '../../test/cuda/runahead.test.js';
import { run } from './vitest-shim.js';

const filter = process.argv[2] ? new RegExp(process.argv[2]) : undefined;
process.exitCode = (await run(filter)) > 0 ? 1 : 0;
