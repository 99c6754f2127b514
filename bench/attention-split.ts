/**
 * Decode-attention A/B on the webgpu backend, in ONE process: the serial kernel
 * (gpu/wgsl/attention.wgsl, a thread per query row) vs the split-K kernel
 * (gpu/wgsl/attention_split.wgsl + attention_combine.wgsl), taking turns on the same KV cache.
 * Shape of the Llama 10×512 in BENCHMARKS.md's WebGPU context section: 8 query heads, 4 kv heads,
 * head_dim 64, batch 1; one attentionStep per iteration, read back (so each sample is a full
 * submit + wait), the cache truncated back to the context after each step.
 *
 *   node --import tsx bench/attention-split.ts [--contexts 1024,4096,16384] [--iters 20]
 *
 * Prints per context the median ms per step of each kernel and the ratio. On a software adapter
 * (lavapipe) this is a sanity check of the work each kernel does, not a GPU speed claim.
 */
import '../src/node.js';
import { createWebGpuBackend } from '../src/backends/webgpu/factory.js';
import type { WebGpuBackend } from '../src/backends/webgpu/index.js';

const arg = (name: string, dflt: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const contexts = arg('contexts', '1024,4096,16384').split(',').map(Number);
const iters = +arg('iters', '20');
const H = 8, G = 4, Dh = 64;

const created = await createWebGpuBackend({ allowFallback: true });
if ('unavailable' in created) { console.error(`no WebGPU adapter: ${created.unavailable}`); process.exit(1); }
const gpu = created as WebGpuBackend;
console.log(`adapter: ${gpu.info.device}`);
let seed = 1;
const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

console.log('| context | serial kernel (ms/step) | split-K (ms/step) | serial / split |');
console.log('| ---: | ---: | ---: | ---: |');
for (const n of contexts) {
  const cache = gpu.createKvCache(1, G, Dh);
  gpu.writeKvCache(cache, rand(G * n * Dh), rand(G * n * Dh), n);
  const q = gpu.upload(rand(H * Dh), [1, 1, H * Dh]), k = gpu.upload(rand(G * Dh), [1, 1, G * Dh]), v = gpu.upload(rand(G * Dh), [1, 1, G * Dh]);
  const args = { q, k, v, cache, numHeads: H, numKvHeads: G, headDim: Dh, scale: 1 / Math.sqrt(Dh) };
  const times: Record<'serial' | 'split', number[]> = { serial: [], split: [] };
  const outs: Partial<Record<'serial' | 'split', Float32Array>> = {};
  for (let i = 0; i < iters + 1; i++) {
    for (const kernel of (i % 2 ? ['split', 'serial'] : ['serial', 'split']) as ('serial' | 'split')[]) {
      gpu.attentionKernel = kernel;
      const t0 = performance.now();
      const y = gpu.attentionStep(args);
      outs[kernel] = await gpu.read(y);
      if (i > 0) times[kernel].push(performance.now() - t0); // the first round compiles pipelines
      gpu.free(y);
      gpu.truncateKvCache(cache, n);
    }
  }
  let worst = 0;
  for (let j = 0; j < outs.serial!.length; j++) worst = Math.max(worst, Math.abs(outs.serial![j] - outs.split![j]));
  if (worst > 1e-4) throw new Error(`kernels disagree at context ${n}: max |Δ| ${worst}`);
  const a = median(times.serial), b = median(times.split);
  console.log(`| ${n} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(a / b).toFixed(2)}× |`);
  gpu.freeKvCache(cache);
}
gpu.attentionKernel = 'auto';
await gpu.dispose();
