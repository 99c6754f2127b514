/**
 * Seeded token sampling in plain JS, so the same seed gives the same tokens on
 * every backend: backends only hand us f32 logits, every decision after that is
 * made here in f64 with a fixed order of operations.
 *
 * The rule, precisely (it is the contract for reproducibility):
 * - temperature 0: argmax, lowest id on ties, no random draw.
 * - otherwise: candidates = the topK highest logits (0 = all), ordered by logit
 *   descending, ties by lower id (the same order as probability, since softmax is
 *   monotone). p_i ∝ exp((l_i − l_max) / temperature) in f64. Keep the shortest
 *   prefix whose cumulative probability is ≥ topP (1 = all). Draw one u ∈ [0,1)
 *   and pick the first candidate whose running weight exceeds u × (kept weight).
 *   Exactly one draw per sampled token, whatever topK/topP are, so the random
 *   stream stays aligned when only those change.
 * - NaN logits count as −∞; if every logit is −∞/NaN, E_ARGUMENT.
 */
import { fail } from '../errors.js';

export interface SamplerParams {
  temperature: number;
  topK: number;
  topP: number;
}

export const DEFAULT_SAMPLER_PARAMS: Readonly<SamplerParams> = { temperature: 0.8, topK: 40, topP: 0.95 };

/**
 * xoshiro128** (Blackman & Vigna): small, fast, good quality, and its whole state
 * is four uint32 words, so a session can save and restore it exactly. Seeded
 * through splitmix64 so that nearby seeds (1, 2, 3...) give unrelated streams.
 */
export class Rng {
  private s = new Uint32Array(4);

  /** `seed`: any safe integer (negative ones are taken modulo 2^64). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw fail('E_ARGUMENT', `seed must be a safe integer, got ${seed}`, { field: 'seed' });
    // splitmix64 in BigInt: only runs at seeding, and keeps all 53 bits of the seed.
    let x = BigInt.asUintN(64, BigInt(seed));
    const M = (1n << 64n) - 1n;
    for (let i = 0; i < 4; i += 2) {
      x = (x + 0x9e3779b97f4a7c15n) & M;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
      z ^= z >> 31n;
      this.s[i] = Number(z & 0xffffffffn);
      this.s[i + 1] = Number(z >> 32n);
    }
    if (this.s.every((w) => w === 0)) this.s[0] = 1; // the all-zero state is a fixed point
  }

  /** Next raw 32-bit output. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 24 bits (exactly representable in f32 as well as f64). */
  nextFloat(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  getState(): Uint32Array {
    return this.s.slice();
  }

  setState(state: Uint32Array): void {
    if (!(state instanceof Uint32Array) || state.length !== 4 || state.every((w) => w === 0)) {
      throw fail('E_ARGUMENT', 'rng state must be a Uint32Array of 4 words, not all zero', { field: 'rngState' });
    }
    this.s.set(state);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Fills in defaults and rejects values that would make sampling meaningless. */
export function validateSamplerParams(p: Partial<SamplerParams> = {}): SamplerParams {
  const { temperature = DEFAULT_SAMPLER_PARAMS.temperature, topK = DEFAULT_SAMPLER_PARAMS.topK, topP = DEFAULT_SAMPLER_PARAMS.topP } = p;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw fail('E_ARGUMENT', `temperature must be a finite number ≥ 0 (0 = greedy), got ${temperature}`, { field: 'temperature' });
  }
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 0) {
    throw fail('E_ARGUMENT', `topK must be an integer ≥ 0 (0 = no limit), got ${topK}`, { field: 'topK' });
  }
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
    throw fail('E_ARGUMENT', `topP must be in (0, 1] (1 = no limit), got ${topP}`, { field: 'topP' });
  }
  return { temperature, topK, topP };
}

export function sampleToken(logits: Float32Array, params: SamplerParams, rng: Rng): number {
  if (params.temperature === 0) return argmax(logits);
  const ids = candidates(logits, params.topK);
  if (ids.length === 0) throw noCandidates(logits);
  const ranked = new Float32Array(ids.length);
  for (let i = 0; i < ids.length; i++) ranked[i] = logits[ids[i]];
  return choose(ids, ranked, params, rng.nextFloat());
}

/**
 * The same rule as `sampleToken` over a row whose only finite-or-+∞ entries are the given k
 * candidates (what a backend's top-k read returns: `ids[i]` has logit `values[i]`, any order, k ≥
 * params.topK or the row's whole support), with the uniform draw `u` already made. A device that
 * samples on its own (Backend.deviceSampling) is checked against this on every token: the host's
 * answer is the rule, the device's is an early guess of it.
 */
export function sampleFromCandidates(ids: Int32Array, values: Float32Array, vocabSize: number, params: SamplerParams, u: number): number {
  const keep: number[] = [];
  for (let i = 0; i < ids.length; i++) if (values[i] > -Infinity) keep.push(i);
  // Best first, ties by lower id: the order `candidates` gives over the whole row.
  keep.sort((a, b) => (values[b] > values[a] ? 1 : values[b] < values[a] ? -1 : ids[a] - ids[b]));
  if (keep.length === 0) throw noCandidates(new Float32Array(vocabSize).fill(-Infinity));
  if (params.temperature === 0) return ids[keep[0]];
  const n = params.topK > 0 ? Math.min(params.topK, keep.length) : keep.length;
  return choose(Int32Array.from(keep.slice(0, n), (i) => ids[i]), Float32Array.from(keep.slice(0, n), (i) => values[i]), params, u);
}

/**
 * The draw over candidates already ranked best first (`logits[i]` is the logit of `ids[i]`):
 * softmax weights at the temperature in f64, the top-p prefix, then the uniform number `u`.
 */
function choose(ids: Int32Array, logits: Float32Array, params: SamplerParams, u: number): number {
  const n = ids.length;
  const max = logits[0];

  // Unnormalized probabilities in f64. A +∞ logit would give ∞ − ∞ = NaN: treat
  // the +∞ ones as equally likely and everything else as impossible.
  const w = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const l = logits[i];
    w[i] = max === Infinity ? (l === Infinity ? 1 : 0) : Math.exp((l - max) / params.temperature);
    total += w[i];
  }

  // Nucleus: the shortest prefix with cumulative probability ≥ topP.
  let kept = n;
  let keptWeight = total;
  if (params.topP < 1) {
    let cum = 0;
    for (let i = 0; i < n; i++) {
      cum += w[i];
      if (cum / total >= params.topP) {
        kept = i + 1;
        keptWeight = cum;
        break;
      }
    }
  }

  const r = u * keptWeight;
  let cum = 0;
  let last = 0;
  for (let i = 0; i < kept; i++) {
    if (w[i] === 0) continue;
    cum += w[i];
    last = i;
    if (cum > r) return ids[i];
  }
  return ids[last]; // only reachable through rounding at the very end
}

/** Highest logit, lowest id on ties; NaN never wins. */
function argmax(logits: Float32Array): number {
  let best = -1;
  let bestVal = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > bestVal) {
      bestVal = v;
      best = i;
    }
  }
  if (best < 0) throw noCandidates(logits);
  return best;
}

function noCandidates(logits: Float32Array): Error {
  return fail('E_ARGUMENT', `cannot sample: all ${logits.length} logits are -Infinity or NaN`, { field: 'logits' });
}

/**
 * Every id with a logit above −∞ (NaN dropped), best first. A comparator sort of
 * 50k ids costs ~30 ms and even a comparator-free Float64Array sort ~5 ms, so
 * this is a stable LSD radix sort (3 passes of 11 bits) on the logits' f32 bits,
 * mapped to integers that grow as the logit falls. Stable + ids fed in ascending
 * order = ties come out lowest id first, as the comparator would give.
 */
function sortAll(logits: Float32Array): Int32Array {
  const V = logits.length;
  const bits = new Uint32Array(logits.buffer, logits.byteOffset, V);
  let keys = new Uint32Array(V);
  let ids = new Int32Array(V);
  let n = 0;
  for (let i = 0; i < V; i++) {
    if (!(logits[i] > -Infinity)) continue;
    const b = bits[i] === 0x80000000 ? 0 : bits[i]; // −0 ties with +0
    const ascending = b & 0x80000000 ? ~b : b | 0x80000000; // order-preserving: larger float, larger uint
    keys[n] = ~ascending; // stored as uint32: larger float, smaller key
    ids[n++] = i;
  }
  let keys2 = new Uint32Array(n);
  let ids2 = new Int32Array(n);
  const count = new Uint32Array(2048);
  for (let shift = 0; shift < 32; shift += 11) {
    count.fill(0);
    for (let j = 0; j < n; j++) count[(keys[j] >>> shift) & 0x7ff]++;
    for (let d = 0, pos = 0; d < 2048; d++) {
      const c = count[d];
      count[d] = pos;
      pos += c;
    }
    for (let j = 0; j < n; j++) {
      const pos = count[(keys[j] >>> shift) & 0x7ff]++;
      keys2[pos] = keys[j];
      ids2[pos] = ids[j];
    }
    [keys, keys2] = [keys2, keys];
    [ids, ids2] = [ids2, ids];
  }
  return ids.subarray(0, n);
}

/** Is a (logit va, id ia) ranked after b? Descending logit, then ascending id. */
function after(va: number, ia: number, vb: number, ib: number): boolean {
  return va < vb || (va === vb && ia > ib);
}

/**
 * Ids of the topK best finite-or-+∞ logits (all of them if topK is 0), best first.
 * topK > 0: one pass with a size-k heap whose root is the worst kept entry,
 * O(V log k) — about a millisecond for a 50k vocab at k = 40. Otherwise one sort.
 */
function candidates(logits: Float32Array, topK: number): Int32Array {
  const V = logits.length;
  if (topK === 0 || topK >= V) return sortAll(logits);
  const heapIds = new Int32Array(topK);
  const heapVals = new Float64Array(topK);
  let size = 0;
  const swap = (i: number, j: number) => {
    const ti = heapIds[i], tv = heapVals[i];
    heapIds[i] = heapIds[j]; heapVals[i] = heapVals[j];
    heapIds[j] = ti; heapVals[j] = tv;
  };
  for (let id = 0; id < V; id++) {
    const v = logits[id];
    if (!(v > -Infinity)) continue;
    if (size < topK) {
      // Sift up: the parent must rank after (be worse than) the child.
      let i = size++;
      heapIds[i] = id;
      heapVals[i] = v;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!after(heapVals[i], heapIds[i], heapVals[p], heapIds[p])) break;
        swap(i, p);
        i = p;
      }
    } else if (v > heapVals[0]) {
      // Ids come in increasing order, so an equal logit never beats the root: only v > root matters.
      heapIds[0] = id;
      heapVals[0] = v;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let worst = i;
        if (l < size && after(heapVals[l], heapIds[l], heapVals[worst], heapIds[worst])) worst = l;
        if (r < size && after(heapVals[r], heapIds[r], heapVals[worst], heapIds[worst])) worst = r;
        if (worst === i) break;
        swap(i, worst);
        i = worst;
      }
    }
  }
  const ids = heapIds.slice(0, size);
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  return ids;
}
