/**
 * Minimal safetensors writer for building test fixtures.
 *
 * Tensors are laid out in the order given, back to back; the header is padded
 * with spaces to a multiple of 8 bytes (as the reference writer does), so the
 * data section starts 8-aligned. F16 / BF16 are encoded with round-to-nearest-even
 * (src/formats/half.ts), matching torch's casts.
 *
 * @example
 * const bytes = writeSafetensors({ 'w': { dtype: 'F16', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } });
 */
import { f16ToF32, f32ToBf16, f32ToF16 } from '../../src/formats/half.js';

export type WriterDType = 'F32' | 'F16' | 'BF16';

export interface WriterTensor {
  dtype: WriterDType;
  shape: number[];
  data: Float32Array | ArrayLike<number>;
}

/** f32 value -> f16 bits (round to nearest even). */
export const f32ToF16Bits = f32ToF16;
/** f16 bits -> f32 value (exact). */
export const f16BitsToF32 = f16ToF32;
/** f32 value -> bf16 bits (round to nearest even). */
export const f32ToBf16Bits = f32ToBf16;

const BYTES: Record<WriterDType, number> = { F32: 4, F16: 2, BF16: 2 };
/** safetensors is little-endian; so is every platform JS runs on in practice, but check. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function writeSafetensors(tensors: Record<string, WriterTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) {
      throw new Error(`writeSafetensors: "${name}" has shape [${t.shape}] (${numel} elements) but ${t.data.length} values`);
    }
    const size = numel * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }

  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20); // trailing spaces are valid JSON whitespace
    p.set(json);
    json = p;
  }

  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const [, t] of entries) {
    if (t.dtype === 'F32' && t.data instanceof Float32Array && LITTLE_ENDIAN) {
      // the bytes as they are (benchmark models are gigabytes: a per-value loop takes seconds)
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
      pos += t.data.byteLength;
      continue;
    }
    for (let i = 0; i < t.data.length; i++) {
      const x = t.data[i];
      if (t.dtype === 'F32') view.setFloat32(pos, x, true);
      else view.setUint16(pos, t.dtype === 'F16' ? f32ToF16(x) : f32ToBf16(x), true);
      pos += BYTES[t.dtype];
    }
  }
  return out;
}

/**
 * Builds a safetensors file from a raw header object (or header text / bytes,
 * which win when given) and a data section, for tests that need malformed or
 * hand-laid-out files. No padding, no checks.
 */
export function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string | Uint8Array): Uint8Array {
  const json = headerText instanceof Uint8Array ? headerText : new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}
