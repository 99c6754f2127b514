/**
 * Weight encodings as the WGSL loaders read them (gpu/wgsl/weights_*.wgsl), produced on the host
 * at upload. Every function returns whole u32 words (WebGPU buffers are sized in 4-byte units).
 */
import { f16ToF32, f32ToF16 } from '../../formats/half.js';
import { Q8_BLOCK } from '../backend.js';

/** f16, two per u32 word, element i in the low half when i is even (unpack2x16float's order). */
export function packF16(data: Float32Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(data.length / 2));
  for (let i = 0; i < data.length; i += 2) {
    const lo = f32ToF16(data[i]);
    const hi = i + 1 < data.length ? f32ToF16(data[i + 1]) : 0;
    words[i >> 1] = (lo | (hi << 16)) >>> 0;
  }
  return words;
}

/**
 * q8_0 as ggml-quants.c quantize_row_q8_0_ref writes it (the same rule as wasm/c/q8_0.c):
 * per block of 32, d = amax/127, q = roundf(x/d) (halves away from zero), d rounded to f16.
 * GPU layout: the blocks' scales (f16 value widened to f32) first, then the int8 values four per word.
 */
export function packQ8_0(data: Float32Array): Uint32Array {
  const blocks = data.length / Q8_BLOCK;
  const words = new Uint32Array(blocks + data.length / 4);
  const scales = new Float32Array(words.buffer, 0, blocks);
  const qs = new Int8Array(words.buffer, blocks * 4, data.length);
  const f = new Float32Array(1);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < Q8_BLOCK; j++) amax = Math.max(amax, Math.abs(data[b * Q8_BLOCK + j]));
    f[0] = amax / 127;
    const d = f[0];
    f[0] = d ? 1 / d : 0;
    const id = f[0];
    for (let j = 0; j < Q8_BLOCK; j++) {
      f[0] = data[b * Q8_BLOCK + j] * id;
      const v = f[0];
      qs[b * Q8_BLOCK + j] = Math.sign(v) * Math.floor(Math.abs(v) + 0.5); // roundf
    }
    scales[b] = f16ToF32(f32ToF16(d));
  }
  return words;
}
