/**
 * Shared pieces of the run-ahead decode tests (Backend.deviceSampling, SessionImpl.decodeAhead) of the
 * GPU backends: test/backends/webgpu-runahead.test.ts and test/cuda/runahead.test.ts.
 */
import type { GenerateOptions, Session } from '../../src/api/types.js';
import type { SamplerParams } from '../../src/api/sampler.js';

/** A generation's tokens and result, stopping early with a break or an abort at a given token count. */
export async function collect(s: Session, prompt: number[], opts: GenerateOptions, breakAt?: number, abortAt?: AbortController & { at: number }) {
  const ids: number[] = [];
  const gen = s.generate(prompt, opts);
  try {
    for await (const t of gen) {
      ids.push(t.id);
      if (abortAt && ids.length === abortAt.at) abortAt.abort();
      if (breakAt !== undefined && ids.length === breakAt) break;
    }
  } catch (e) {
    if (!(abortAt && (e as { code?: string }).code === 'E_ABORTED')) throw e;
  }
  const r = await gen.finished;
  return { ids, finishReason: r.finishReason, completionTokens: r.completionTokens, text: r.text };
}

export const SAMPLERS: { name: string; opts: GenerateOptions }[] = [
  { name: 'greedy', opts: { temperature: 0, seed: 1 } }, // a seed even here: saveState holds the rng
  { name: 'top-k 5, seed 3', opts: { temperature: 0.9, topK: 5, seed: 3 } },
  { name: 'top-k 40 top-p 0.9, seed 4', opts: { temperature: 1.2, topK: 40, topP: 0.9, seed: 4 } },
];

/**
 * The sampler's rule with the device kernels' f32 arithmetic (gpu/wgsl/sample_top_k.wgsl, gpu/cuda/src/topk.cu
 * topKSample; Math.fround at every step), for the rare rows where f32 and the host's f64 land on different
 * sides of a boundary.
 */
export function ruleInF32(row: Float32Array, p: SamplerParams, u: number): number {
  const f = Math.fround;
  const ids = [...row.keys()].filter((i) => row[i] > -Infinity).sort((a, b) => (row[b] > row[a] ? 1 : row[b] < row[a] ? -1 : a - b));
  if (p.temperature === 0) return ids[0];
  const kept0 = ids.slice(0, p.topK);
  const top = row[kept0[0]];
  const w = kept0.map((i) => (top === Infinity ? (row[i] === Infinity ? 1 : 0) : f(Math.exp(f(f(row[i] - top) / f(p.temperature))))));
  let total = 0;
  for (const x of w) total = f(total + x);
  let kept = w.length, keptWeight = total;
  if (f(p.topP) < 1) {
    let cum = 0;
    for (let i = 0; i < w.length; i++) {
      cum = f(cum + w[i]);
      if (f(cum / total) >= f(p.topP)) { kept = i + 1; keptWeight = cum; break; }
    }
  }
  const r = f(f(u) * keptWeight);
  let cum = 0, last = 0;
  for (let i = 0; i < kept; i++) {
    if (w[i] === 0) continue;
    cum = f(cum + w[i]);
    last = i;
    if (cum > r) return kept0[i];
  }
  return kept0[last];
}
