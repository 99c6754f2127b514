/**
 * IEEE binary16 (f16) and bfloat16 (bf16) <-> f32 conversions, bit-exact.
 *
 * Decoding is exact (every f16 / bf16 value is an f32 value). Encoding rounds
 * to nearest, ties to even, like PyTorch / numpy casts, so fixtures written in
 * JS match tensors saved from Python bit for bit.
 *
 * Encoders take a JS number and first round it to f32 (they are meant for f32
 * data); NaN encodes as a quiet NaN.
 */

// Scratch views to get at an f32's bits without allocating per call.
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f16 bits (0..0xffff) -> the exact f32 value. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal: mant × 2^-24
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (0x400 | mant) * 2 ** (exp - 25); // (1.mant) × 2^(exp-15)
}

/** x (rounded to f32 first) -> f16 bits, round to nearest even; overflow gives ±Infinity. */
export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;

  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00; // inf / quiet NaN
  const e = exp - 127 + 15; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // too large for f16 even before rounding

  if (e <= 0) {
    // Result is an f16 subnormal (or rounds up to the smallest normal):
    // q = value / 2^-24 = (1.mant × 2^23) >> (14 - e), rounded.
    const shift = 14 - e;
    if (shift > 24) return sign; // value < 2^-25: below half the smallest subnormal -> ±0
    return sign | roundShift(0x800000 | mant, shift);
  }
  // Normal: drop 13 mantissa bits. A carry out of the mantissa correctly bumps
  // the exponent, and from the largest finite value up to Infinity (0x7c00).
  return sign | roundShift((e << 23) | mant, 13);
}

/** v >> shift, rounded to nearest, ties to even (v < 2^31, 1 ≤ shift ≤ 24). */
function roundShift(v: number, shift: number): number {
  const q = v >>> shift;
  const rem = v & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

/** bf16 bits -> the exact f32 value (bf16 is the top half of an f32). */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0];
}

/** x (rounded to f32 first) -> bf16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function f32ToBf16(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40; // NaN: keep sign/payload, force quiet
  // Adding 0x7fff plus the kept LSB rounds ties to even; carries may reach Infinity, as they should.
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;

/** All 65536 f16 values as f32 (256 KiB, built on first use): bulk decoding is one lookup per element. */
export function f16Table32(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(0x10000);
    for (let i = 0; i < 0x10000; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}
