import { describe, expect, it } from 'vitest';
import { Rng, sampleToken, validateSamplerParams, type SamplerParams } from '../../src/api/sampler.js';
import { MambaEdgeError } from '../../src/errors.js';

const greedy: SamplerParams = { temperature: 0, topK: 0, topP: 1 };

function errorOf(fn: () => unknown): MambaEdgeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MambaEdgeError);
    return e as MambaEdgeError;
  }
  throw new Error('expected a MambaEdgeError');
}

/** Random logits; `levels` > 0 quantizes them so that ties are frequent. */
function randomLogits(rng: Rng, n: number, levels = 0): Float32Array {
  return Float32Array.from({ length: n }, () => {
    const u = rng.nextFloat() * 8 - 4;
    return levels > 0 ? Math.round(u * levels) / levels : u;
  });
}

/** The sampling rule written the slow, obvious way: sort everything, then cut. */
function naiveSample(logits: Float32Array, p: SamplerParams, rng: Rng): number {
  const ids = [...logits.keys()].filter((i) => logits[i] > -Infinity);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  const cand = p.topK > 0 ? ids.slice(0, p.topK) : ids;
  const max = logits[cand[0]];
  const w = cand.map((i) => Math.exp((logits[i] - max) / p.temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let kept = w.length;
  let cum = 0;
  for (let i = 0; i < w.length && p.topP < 1; i++) {
    cum += w[i];
    if (cum / total >= p.topP) { kept = i + 1; break; }
  }
  const keptW = w.slice(0, kept).reduce((a, b) => a + b, 0);
  const r = rng.nextFloat() * keptW;
  let c = 0;
  for (let i = 0; i < kept; i++) { c += w[i]; if (c > r) return cand[i]; }
  return cand[kept - 1];
}

describe('Rng', () => {
  it('matches the xoshiro128** reference output', () => {
    // From the C reference (prng.di.unimi.it/xoshiro128starstar.c) with state {1, 2, 3, 4}.
    const r = new Rng(0);
    r.setState(Uint32Array.from([1, 2, 3, 4]));
    expect(Array.from({ length: 5 }, () => r.nextUint32())).toEqual([11520, 0, 5927040, 70819200, 2031721883]);
  });

  it('seeds through splitmix64 (golden numbers)', () => {
    const r = new Rng(42);
    expect(Array.from(r.getState())).toEqual([803958421, 3184996902, 2993090819, 686809907]);
    expect(Array.from({ length: 5 }, () => r.nextFloat())).toEqual([
      0.4137016534805298, 0.9697872400283813, 0.003983974456787109, 0.5395373106002808, 0.6500836610794067,
    ]);
    expect(Array.from(new Rng(0).getState())).toEqual([2065550767, 3793791033, 2713282036, 1853398634]);
  });

  it('gives floats in [0, 1) with 24 bits', () => {
    const r = new Rng(5);
    const fs = Array.from({ length: 10000 }, () => r.nextFloat());
    expect(fs.every((f) => f >= 0 && f < 1 && Number.isInteger(f * 2 ** 24))).toBe(true);
    const mean = fs.reduce((a, b) => a + b) / fs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
  });

  it('continues identically after save and restore', () => {
    const a = new Rng(123456789012);
    for (let i = 0; i < 17; i++) a.nextFloat();
    const saved = a.getState();
    const expected = Array.from({ length: 20 }, () => a.nextFloat());
    const b = new Rng(1);
    b.setState(saved);
    expect(Array.from({ length: 20 }, () => b.nextFloat())).toEqual(expected);
    saved[0] ^= 1; // getState returns a copy: mutating it changes nothing
    expect(Array.from(a.getState())).not.toEqual(Array.from(saved));
  });

  it('distinguishes large and negative seeds, rejects bad ones', () => {
    const first = (s: number) => new Rng(s).nextUint32();
    expect(new Set([first(1), first(2), first(-1), first(2 ** 40), first(2 ** 40 + 1)]).size).toBe(5);
    expect(errorOf(() => new Rng(1.5)).field).toBe('seed');
    expect(errorOf(() => new Rng(NaN)).code).toBe('E_ARGUMENT');
    expect(errorOf(() => new Rng(0).setState(new Uint32Array(4))).code).toBe('E_ARGUMENT');
    expect(errorOf(() => new Rng(0).setState(new Uint32Array(3).fill(1))).code).toBe('E_ARGUMENT');
  });
});

describe('sampleToken', () => {
  const logits16 = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i * 1.7) * 3);

  it('gives a fixed sequence for a fixed seed (golden numbers)', () => {
    const a = new Rng(7);
    expect(Array.from({ length: 12 }, () => sampleToken(logits16, { temperature: 1, topK: 0, topP: 1 }, a))).toEqual([1, 1, 5, 4, 1, 12, 5, 12, 12, 1, 5, 11]);
    const b = new Rng(7);
    expect(Array.from({ length: 12 }, () => sampleToken(logits16, { temperature: 0.8, topK: 5, topP: 0.9 }, b))).toEqual([1, 1, 8, 8, 1, 12, 8, 12, 12, 1, 8, 5]);
  });

  it('continues identically after restoring the rng state', () => {
    const p = { temperature: 1.3, topK: 8, topP: 0.97 };
    const a = new Rng(31);
    for (let i = 0; i < 10; i++) sampleToken(logits16, p, a);
    const saved = a.getState();
    const rest = Array.from({ length: 30 }, () => sampleToken(logits16, p, a));
    const b = new Rng(0);
    b.setState(saved);
    expect(Array.from({ length: 30 }, () => sampleToken(logits16, p, b))).toEqual(rest);
  });

  it('draws exactly one number per token when temperature > 0, none when greedy', () => {
    const r = new Rng(3);
    const ref = new Rng(3);
    sampleToken(logits16, { temperature: 0.5, topK: 1, topP: 1 }, r);
    sampleToken(logits16, { temperature: 2, topK: 0, topP: 0.01 }, r);
    sampleToken(logits16, greedy, r);
    ref.nextFloat();
    ref.nextFloat();
    expect(Array.from(r.getState())).toEqual(Array.from(ref.getState()));
  });

  it('greedy takes the highest logit, lowest id on ties, ignoring NaN', () => {
    const r = new Rng(1);
    expect(sampleToken(Float32Array.from([1, 3, 3, 2]), greedy, r)).toBe(1);
    expect(sampleToken(Float32Array.from([NaN, -1, NaN]), greedy, r)).toBe(1);
    expect(sampleToken(Float32Array.from([-Infinity, -Infinity, -1e30]), greedy, r)).toBe(2);
    expect(sampleToken(Float32Array.from([5, Infinity, Infinity]), greedy, r)).toBe(1);
  });

  it('topK = 1 and a tiny topP equal greedy', () => {
    const rng = new Rng(11);
    const draws = new Rng(12);
    for (let t = 0; t < 200; t++) {
      const l = randomLogits(rng, 1 + (t % 37), t % 2 ? 2 : 0);
      const g = sampleToken(l, greedy, draws);
      expect(sampleToken(l, { temperature: 1.5, topK: 1, topP: 1 }, draws)).toBe(g);
      expect(sampleToken(l, { temperature: 0.7, topK: 0, topP: 1e-9 }, draws)).toBe(g);
      expect(sampleToken(l, { temperature: 0.7, topK: 10, topP: 1e-9 }, draws)).toBe(g);
    }
  });

  it('matches a naive sort-everything implementation (heap selection, ties, NaN, -inf)', () => {
    const rng = new Rng(77);
    for (let t = 0; t < 300; t++) {
      const n = 1 + Math.floor(rng.nextFloat() * 300);
      const l = randomLogits(rng, n, t % 3 === 0 ? 1 : 0);
      if (t % 5 === 0) for (let i = 0; i < n; i += 7) l[i] = i % 2 ? NaN : -Infinity;
      if (![...l].some((v) => v > -Infinity)) l[0] = 0;
      const p = {
        temperature: [0.3, 1, 2.5][t % 3],
        topK: [0, 1, 3, 40, 1000][t % 5],
        topP: [1, 0.9, 0.5, 0.99][t % 4],
      };
      const seed = 1000 + t;
      expect(sampleToken(l, p, new Rng(seed)), JSON.stringify(p)).toBe(naiveSample(l, p, new Rng(seed)));
    }
  });

  it('follows the softmax distribution on a 3-token toy', () => {
    const probs = [0.5, 0.3, 0.2];
    const logits = Float32Array.from(probs, Math.log);
    const N = 60000;
    /** Chi-square statistic of N draws against expected probabilities (absent ids must never appear). */
    const chi2 = (p: SamplerParams, expected: number[], seed: number) => {
      const rng = new Rng(seed);
      const counts = [0, 0, 0];
      for (let i = 0; i < N; i++) counts[sampleToken(logits, p, rng)]++;
      let x = 0;
      for (let k = 0; k < 3; k++) {
        if (expected[k] === 0) expect(counts[k]).toBe(0);
        else x += (counts[k] - N * expected[k]) ** 2 / (N * expected[k]);
      }
      return x;
    };
    // 2 degrees of freedom: P(χ² > 13.8) = 0.001. The seeds are fixed, so this is not flaky.
    expect(chi2({ temperature: 1, topK: 0, topP: 1 }, probs, 1)).toBeLessThan(13.8);
    const sq = probs.map(Math.sqrt);
    const z = sq.reduce((a, b) => a + b);
    expect(chi2({ temperature: 2, topK: 0, topP: 1 }, sq.map((v) => v / z), 2)).toBeLessThan(13.8);
    // topK 2 and topP 0.7 both keep {0, 1}, renormalized (1 degree of freedom: 10.8).
    expect(chi2({ temperature: 1, topK: 2, topP: 1 }, [0.625, 0.375, 0], 3)).toBeLessThan(10.8);
    expect(chi2({ temperature: 1, topK: 0, topP: 0.7 }, [0.625, 0.375, 0], 4)).toBeLessThan(10.8);
  });

  it('treats +Infinity logits as certain and NaN as impossible', () => {
    const r = new Rng(8);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(sampleToken(Float32Array.from([0, Infinity, 3, Infinity, NaN]), { temperature: 1, topK: 0, topP: 1 }, r));
    expect([...seen].sort()).toEqual([1, 3]);
    for (let i = 0; i < 200; i++) expect(sampleToken(Float32Array.from([NaN, 0, NaN]), { temperature: 1, topK: 2, topP: 0.9 }, r)).toBe(1);
  });

  it('rejects logits with nothing to sample', () => {
    for (const p of [greedy, { temperature: 1, topK: 0, topP: 1 }, { temperature: 1, topK: 5, topP: 0.5 }]) {
      expect(errorOf(() => sampleToken(Float32Array.from([-Infinity, NaN]), p, new Rng(1))).code).toBe('E_ARGUMENT');
      expect(errorOf(() => sampleToken(new Float32Array(0), p, new Rng(1))).code).toBe('E_ARGUMENT');
    }
  });

  it('samples a 50k vocab with topK quickly (sanity bound, not a benchmark)', () => {
    const l = randomLogits(new Rng(4), 50280);
    const r = new Rng(9);
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) sampleToken(l, { temperature: 0.8, topK: 40, topP: 0.95 }, r);
    const t1 = performance.now();
    for (let i = 0; i < 10; i++) sampleToken(l, { temperature: 0.8, topK: 0, topP: 0.95 }, r);
    const t2 = performance.now();
    console.log(`50k vocab: topK=40 ${((t1 - t0) / 100).toFixed(2)} ms/token, topK=0 ${((t2 - t1) / 10).toFixed(2)} ms/token`);
    expect((t1 - t0) / 100).toBeLessThan(50); // generous: catches an accidental O(V log V) per draw on a slow CI box only when badly off
  });
});

describe('validateSamplerParams', () => {
  it('fills in defaults', () => {
    expect(validateSamplerParams({})).toEqual({ temperature: 0.8, topK: 40, topP: 0.95 });
    expect(validateSamplerParams({ temperature: 0, topK: 0, topP: 1 })).toEqual({ temperature: 0, topK: 0, topP: 1 });
    expect(validateSamplerParams({ topP: 0.5 })).toEqual({ temperature: 0.8, topK: 40, topP: 0.5 });
  });

  it('names the bad option', () => {
    const bad: [Partial<SamplerParams>, string][] = [
      [{ temperature: -0.1 }, 'temperature'],
      [{ temperature: NaN }, 'temperature'],
      [{ temperature: Infinity }, 'temperature'],
      [{ temperature: '1' as unknown as number }, 'temperature'],
      [{ topK: 1.5 }, 'topK'],
      [{ topK: -1 }, 'topK'],
      [{ topK: NaN }, 'topK'],
      [{ topP: 0 }, 'topP'],
      [{ topP: 1.01 }, 'topP'],
      [{ topP: -0.5 }, 'topP'],
      [{ topP: NaN }, 'topP'],
    ];
    for (const [p, field] of bad) {
      const e = errorOf(() => validateSamplerParams(p));
      expect(e.code).toBe('E_ARGUMENT');
      expect(e.field).toBe(field);
      expect(e.message).toContain(field);
    }
  });
});
