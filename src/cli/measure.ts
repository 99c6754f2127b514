/**
 * Prefill and decode speed of a loaded model: random prompt ids (seeded), then greedy
 * decoding one token at a time. Shared by `mamba-edge bench` and `npm run bench`.
 */
import type { Model } from '../api/types.js';

export interface SpeedOptions {
  promptTokens: number;
  genTokens: number;
  /** Seed of the random prompt ids. */
  seed?: number;
  /** Run a short prefill + step first so JIT warm-up is not timed. Default true. */
  warmup?: boolean;
  signal?: AbortSignal;
  onPrefillProgress?: (p: { done: number; total: number }) => void;
  /** Called after each phase and decode step (for RSS sampling). */
  onSample?: () => void;
}

export interface SpeedResult {
  promptTokens: number;
  prefillMs: number;
  prefillTokensPerSec: number;
  genTokens: number;
  decodeMs: number;
  decodeTokensPerSec: number;
}

/** mulberry32 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

export async function measureSpeed(model: Model, o: SpeedOptions): Promise<SpeedResult> {
  const V = model.config.vocabSize;
  const rand = seededRandom(o.seed ?? 1);
  const ids = Array.from({ length: o.promptTokens }, () => Math.floor(rand() * V));
  if (o.warmup ?? true) {
    const w = model.createSession();
    try {
      await w.prefill(ids.slice(0, Math.min(4, ids.length)), { signal: o.signal });
      await w.step(ids[0]);
    } finally {
      await w.dispose();
    }
  }
  const s = model.createSession();
  try {
    let t0 = performance.now();
    let logits = await s.prefill(ids, { signal: o.signal, onProgress: o.onPrefillProgress });
    const prefillMs = performance.now() - t0;
    o.onSample?.();
    t0 = performance.now();
    for (let i = 0; i < o.genTokens; i++) {
      if (o.signal?.aborted) break;
      logits = await s.step(argmax(logits));
      o.onSample?.();
    }
    const decodeMs = performance.now() - t0;
    return {
      promptTokens: o.promptTokens,
      prefillMs,
      prefillTokensPerSec: (o.promptTokens * 1000) / prefillMs,
      genTokens: o.genTokens,
      decodeMs,
      decodeTokensPerSec: (o.genTokens * 1000) / decodeMs,
    };
  } finally {
    await s.dispose();
  }
}
