/**
 * What folding the final RMSNorm into the head costs on the GPU (WebGpuBackend.foldHeadNorm): the
 * decode head — RMSNorm(x) then the [V, K] matrix-vector product — as two dispatches (rms_norm, then
 * matvec_f32x4 / matvec_f16x8) or as one (matvec_multi_norm_*: every one of the V workgroups recomputes
 * 1/rms(x) from x and reads the norm's weight next to its row of the head). GPU time per head, `--reps`
 * heads in one submission, the two forms interleaved round by round (median of `--rounds`), at the
 * 130M shapes (K 768; V 50,280 by default, or --vocab: lavapipe binds at most 128 MiB, so an f32 head
 * there needs V ≤ 43,690). On a software adapter the "GPU" is the CPU (llvmpipe's threads): the ratio,
 * not the milliseconds, is what carries over — and only roughly (a GPU reads x and the norm's weight
 * from L1/L2, llvmpipe from the CPU's caches).
 *
 *   node --import tsx bench/head-norm.ts [--vocab 32000] [--dtype f32|f16] [--reps 8] [--rounds 7]
 */
import '../src/node.js';
import { createWebGpuBackend } from '../src/backends/webgpu/factory.js';
import type { WebGpuBackend } from '../src/backends/webgpu/index.js';
import type { WeightDType } from '../src/backends/backend.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const V = Number(arg('vocab', '50280')), K = 768;
const dtype = arg('dtype', 'f32') as WeightDType;
const REPS = Number(arg('reps', '8')), ROUNDS = Number(arg('rounds', '7'));

const created = await createWebGpuBackend({ allowFallback: true });
if ('unavailable' in created) throw new Error(`no WebGPU adapter: ${created.unavailable}`);
const b = created as WebGpuBackend;
let seed = 1;
const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5);
const W = b.upload(rand(V * K), [V, K], dtype);
const g = b.upload(rand(K), [K]);
const x = b.upload(rand(K), [1, K]);
const sync = b.zeros([1, 1]);

/** Wall time of `REPS` heads in one submission, less an empty round trip: GPU time per head (ms). */
async function time(fold: boolean): Promise<number> {
  b.foldHeadNorm = fold;
  await b.read(sync);
  const t0 = performance.now();
  await b.read(sync);
  const trip = performance.now() - t0;
  const d0 = b.stats.dispatches;
  const t1 = performance.now();
  for (let i = 0; i < REPS; i++) {
    const h = b.rmsNorm(x, g, 1e-5);
    const y = b.matmul(h, W);
    b.free(h, y);
  }
  await b.read(sync);
  const ms = (performance.now() - t1 - trip) / REPS;
  const per = (b.stats.dispatches - d0) / REPS;
  if (per !== (fold ? 1 : 2)) throw new Error(`expected ${fold ? 1 : 2} dispatches a head, got ${per}`);
  return ms;
}

await time(false); await time(true); // pipelines
const plain: number[] = [], folded: number[] = [];
for (let r = 0; r < ROUNDS; r++) { plain.push(await time(false)); folded.push(await time(true)); }
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const device = b.info.device ?? '?';
console.log(`head ${V} × ${K} ${dtype} on ${device}, ${REPS} heads a submission, median of ${ROUNDS} rounds:`);
console.log(`  norm + head, 2 dispatches (foldHeadNorm off): ${med(plain).toFixed(3)} ms a head   (rounds: ${plain.map((v) => v.toFixed(2)).join(' ')})`);
console.log(`  head with the norm folded, 1 dispatch (on):  ${med(folded).toFixed(3)} ms a head   (rounds: ${folded.map((v) => v.toFixed(2)).join(' ')})`);
console.log(`  folded / unfolded: ${(med(folded) / med(plain)).toFixed(3)}`);
await b.dispose();
