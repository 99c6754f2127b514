/**
 * The attention and hybrid goldens on the webgpu backend (rope, causal GQA attention over a GPU KV
 * cache, SwiGLU / relu² MLPs, the mixture of experts): Llama (GQA; MQA with biases, long), Bamba,
 * NemotronH, Jamba. Tolerance 1e-4 × max(1, |logits|max), as the Mamba goldens on webgpu (f32
 * accumulation, WGSL exp; the attention's online softmax reorders sums; the router's softmax is f32).
 */
import { vi } from 'vitest';
import '../../src/node.js';
import { acquireDevice } from '../../src/backends/webgpu/device.js';
import { runGoldenSuite } from '../helpers/golden-suite.js';
import { HYBRID } from './fixtures.js';

vi.setConfig({ testTimeout: 180_000 });
const probe = await acquireDevice({ allowFallback: true });
if ('unavailable' in probe) {
  if (process.env.CI === 'true') throw new Error(`CI=true but no WebGPU adapter: ${probe.unavailable}`);
  console.warn(`webgpu hybrid goldens skipped: ${probe.unavailable}`);
} else {
  probe.device.destroy();
  runGoldenSuite('webgpu (attention and hybrids)', { backend: 'webgpu' }, 1e-4, { ...HYBRID, archs: ['llama', 'bamba', 'nemotron_h', 'jamba'], minCases: 5 });
}
