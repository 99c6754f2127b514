/**
 * src/formats/gguf.ts against @huggingface/gguf (an independent GGUF parser, used here only as
 * an oracle) and against hand-built blocks whose values follow ggml-quants.c by hand.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf as hfGguf } from '@huggingface/gguf';
import { describe, expect, it } from 'vitest';
import { dequantize, parseGguf } from '../../src/formats/gguf.js';
import { f32ToBf16, f32ToF16 } from '../../src/formats/half.js';
import { goldenCases } from '../helpers/goldens.js';
import { goldenGguf } from './helpers.js';

const GGML_TYPE_IDS: Record<string, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 };

/** @huggingface/gguf gives u64 as bigint and arrays as JS arrays; bring both sides to plain JSON-able values. */
function norm(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(norm);
  return v;
}

describe('the GGUF header reader agrees with @huggingface/gguf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mamba-edge-gguf-oracle-'));
  const cases = goldenCases().filter((c) => ['m1-untied-bias', 'm2-g2-noconvbias', 'm2-g5-untied-bias'].includes(c.name));
  for (const c of cases) {
    for (const dtype of ['f32', 'q8_0', 'q4_0', 'bf16'] as const) {
      it(`${c.name} ${dtype}: every key, value, tensor name, shape, type and data offset`, async () => {
        const bytes = goldenGguf(c.dir, dtype);
        const path = join(dir, `${c.name}-${dtype}.gguf`);
        writeFileSync(path, bytes);
        const theirs = await hfGguf(path, { allowLocalFile: true });
        const ours = parseGguf(bytes, path);

        expect(ours.version).toBe(Number(theirs.metadata.version));
        const theirKeys = Object.keys(theirs.metadata).filter((k) => !['version', 'tensor_count', 'kv_count'].includes(k));
        expect([...ours.kv.keys()].sort()).toEqual(theirKeys.sort());
        for (const k of theirKeys) {
          const ourValue = ours.kv.get(k)!.value;
          const theirValue = (theirs.metadata as Record<string, unknown>)[k];
          // f32 metadata: they widen to a JS number exactly as we do.
          expect(norm(ourValue), k).toEqual(norm(theirValue));
        }

        expect(ours.tensors.size).toBe(theirs.tensorInfos.length);
        for (const t of theirs.tensorInfos) {
          const o = ours.tensors.get(t.name)!;
          expect(o, t.name).toBeDefined();
          expect(o.shape).toEqual(t.shape.map(Number).reverse()); // ggml ne order → PyTorch order
          expect(GGML_TYPE_IDS[o.type]).toBe(t.dtype);
          expect(o.fileOffset).toBe(Number(theirs.tensorDataOffset + t.offset));
        }
      });
    }
  }
});

describe('tensor data decoding (ggml-quants.c by hand)', () => {
  const f16 = (x: number) => [f32ToF16(x) & 0xff, f32ToF16(x) >> 8];

  it('q8_0: value = d × int8, 32 per 34-byte block', () => {
    const block = (d: number, q: (j: number) => number) => [...f16(d), ...Array.from({ length: 32 }, (_, j) => q(j) & 0xff)];
    const data = Uint8Array.from([...block(0.5, (j) => j - 16), ...block(-2, (j) => (j % 2 ? 127 : -128))]);
    const out = dequantize({ type: 'Q8_0', data });
    expect(Array.from(out.subarray(0, 32))).toEqual(Array.from({ length: 32 }, (_, j) => (j - 16) * 0.5));
    expect(Array.from(out.subarray(32))).toEqual(Array.from({ length: 32 }, (_, j) => (j % 2 ? 127 : -128) * -2));
  });

  it('q4_0: byte j holds element j in its low nibble and element j + 16 in its high nibble, value = d × (nibble − 8)', () => {
    const data = Uint8Array.from([...f16(0.25), ...Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4))]);
    const out = dequantize({ type: 'Q4_0', data });
    for (let j = 0; j < 16; j++) {
      expect(out[j]).toBe((j - 8) * 0.25);
      expect(out[j + 16]).toBe((15 - j - 8) * 0.25);
    }
  });

  it('f16 and bf16 widen exactly; f32 is copied (also from an unaligned offset)', () => {
    const values = [1, -2.5, 65504, 2 ** -24, 0];
    const h = new Uint16Array(values.map((v) => f32ToF16(v)));
    expect(Array.from(dequantize({ type: 'F16', data: new Uint8Array(h.buffer) }))).toEqual(values);
    // bf16 0x7f62 = sign 0, exponent 0xfe, mantissa 0x62: (1 + 0x62/128) × 2^127.
    const b = new Uint16Array([f32ToBf16(1), f32ToBf16(-2.5), 0x7f62]);
    expect(Array.from(dequantize({ type: 'BF16', data: new Uint8Array(b.buffer) }))).toEqual([1, -2.5, (1 + 0x62 / 128) * 2 ** 127]);
    const raw = new Uint8Array(1 + 8);
    new DataView(raw.buffer).setFloat32(1, 1.5, true);
    new DataView(raw.buffer).setFloat32(5, -3, true);
    expect(Array.from(dequantize({ type: 'F32', data: raw.subarray(1) }))).toEqual([1.5, -3]);
  });
});
