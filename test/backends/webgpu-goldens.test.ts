/**
 * Every transformers golden (test/fixtures/goldens: Mamba-1 and Mamba-2, tied/untied, biases,
 * groups, long inputs) with backend 'webgpu', f32 weights. Tolerance 1e-4 × max(1, |logits|max):
 * the GPU kernels accumulate in f32 and WGSL's exp() is allowed 3 + 2·|x| ulp, against the
 * reference backend's 2e-5 (whose measured error is ≤ 6e-7 of scale); a wrong op moves logits by
 * O(0.1–1), far above either. CI=true without an adapter fails here (see webgpu.test.ts).
 */
import { vi } from 'vitest';
import '../../src/node.js';
import { acquireDevice } from '../../src/backends/webgpu/device.js';
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { adapterMissing } from '../helpers/webgpu.js';

vi.setConfig({ testTimeout: 180_000 });
const probe = await acquireDevice({ allowFallback: true });
if ('unavailable' in probe) {
  adapterMissing('webgpu goldens', probe); // throws under CI=true
} else {
  probe.device.destroy();
  runGoldenSuite('webgpu', { backend: 'webgpu' }, 1e-4);
}
