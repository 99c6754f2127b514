/** Test data and time slicing for sequence ops, shared by every op suite. */

/** A seeded source of test data (xorshift32; reproducible across runs and machines). */
export function seeded(seed: number) {
  let s = (seed * 2654435761) >>> 0 || 1;
  const u32 = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
  const unit = () => u32() / 4294967296; // [0, 1)
  const next = () => 2 * unit() - 1; //     [−1, 1)
  return { unit, next, array: (n: number, scale = 1) => Float32Array.from({ length: n }, () => next() * scale) };
}

/** [t0, len] of each consecutive piece of a sequence split into `lens`. */
export function splitTime(lens: number[]): [number, number][] {
  const out: [number, number][] = [];
  let t0 = 0;
  for (const len of lens) { out.push([t0, len]); t0 += len; }
  return out;
}

/** Tokens [t0, t0 + len) of every row of a [B, T, C] array, as a [B, len, C] array. */
export function timeRows(data: Float32Array, B: number, T: number, C: number, t0: number, len: number): Float32Array {
  const out = new Float32Array(B * len * C);
  for (let b = 0; b < B; b++) out.set(data.subarray((b * T + t0) * C, (b * T + t0 + len) * C), b * len * C);
  return out;
}

/** The inverse: [B, len_i, C] pieces in time order → [B, Σ len_i, C]. */
export function concatRows(parts: Float32Array[], B: number, lens: number[], C: number): Float32Array {
  const T = lens.reduce((a, b) => a + b, 0);
  const out = new Float32Array(B * T * C);
  splitTime(lens).forEach(([t0, len], i) => {
    for (let b = 0; b < B; b++) out.set(parts[i].subarray(b * len * C, (b + 1) * len * C), (b * T + t0) * C);
  });
  return out;
}

/** Seeded uniform [−1, 1) (mulberry32): the op suites' random operands. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** n values of r() · scale. */
export const rand = (n: number, r: () => number, scale = 1) => Float32Array.from({ length: n }, () => r() * scale);
