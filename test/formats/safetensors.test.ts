import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MambaEdgeError } from '../../src/errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/formats/half.js';
import {
  MAX_HEADER_BYTES,
  parseSafetensors,
  readSafetensorsWeights,
  toFloat32,
  type TensorEntry,
} from '../../src/formats/safetensors.js';
import { memorySource } from '../../src/formats/source.js';
import { directorySource } from '../../src/formats/source-node.js';
import { rawSafetensors, writeSafetensors } from '../helpers/safetensors-writer.js';
import { caught, rejected } from '../helpers/errors.js';

const f32 = (...xs: number[]) => new Float32Array(xs);
const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];

describe('half precision conversions', () => {
  it('decodes known f16 bit patterns', () => {
    expect(f16ToF32(0x0000)).toBe(0);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0xfc01)).toBeNaN();
  });

  it('round-trips every f16 bit pattern (NaNs stay NaN)', () => {
    for (let b = 0; b < 0x10000; b++) {
      const x = f16ToF32(b);
      if (Number.isNaN(x)) expect(Number.isNaN(f16ToF32(f32ToF16(x)))).toBe(true);
      else if (f32ToF16(x) !== b) expect.fail(`f16 0x${b.toString(16)} -> ${x} -> 0x${f32ToF16(x).toString(16)}`);
    }
  });

  it('rounds f32 -> f16 to nearest, ties to even, at every f16 gap (subnormals included)', () => {
    for (let b = 0; b < 0x7bff; b++) {
      const lo = f16ToF32(b);
      const hi = f16ToF32(b + 1);
      const mid = (lo + hi) / 2; // exact in f32: needs only 12 significant bits
      const even = b % 2 === 0 ? b : b + 1;
      if (f32ToF16(mid) !== even) expect.fail(`midpoint of 0x${b.toString(16)}: got 0x${f32ToF16(mid).toString(16)}`);
      if (f32ToF16(-mid) !== (even | 0x8000)) expect.fail(`negative midpoint of 0x${b.toString(16)}`);
      // Just below / above the midpoint go to the nearer neighbour.
      const below = mid - (mid - lo) / 1024;
      const above = mid + (hi - mid) / 1024;
      if (f32ToF16(below) !== b || f32ToF16(above) !== b + 1) expect.fail(`near midpoint of 0x${b.toString(16)}`);
    }
  });

  it('handles f16 overflow, underflow, infinities and NaN', () => {
    expect(f32ToF16(65519)).toBe(0x7bff); // below the max/inf midpoint
    expect(f32ToF16(65520)).toBe(0x7c00); // the midpoint rounds to even = Infinity
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-1e10)).toBe(0xfc00);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(NaN) & 0x7fff).toBeGreaterThan(0x7c00);
    expect(f32ToF16(2 ** -25)).toBe(0); // exactly half the smallest subnormal: tie to even (0)
    expect(f32ToF16(2 ** -25 * 1.0001)).toBe(1);
    expect(f32ToF16(2 ** -26)).toBe(0);
    expect(f32ToF16(-(2 ** -30))).toBe(0x8000); // underflow keeps the sign
    expect(f32ToF16(1e-45)).toBe(0); // f32 subnormal
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up from subnormal to the smallest normal
  });

  it('bf16: exact decode, round trip of every pattern, ties to even', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xff80)).toBe(-Infinity);
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    for (let b = 0; b < 0x10000; b++) {
      const x = bf16ToF32(b);
      if (Number.isNaN(x)) {
        expect(Number.isNaN(bf16ToF32(f32ToBf16(x)))).toBe(true);
        continue;
      }
      if (f32ToBf16(x) !== b) expect.fail(`bf16 0x${b.toString(16)}`);
      if ((b & 0x7fff) >= 0x7f7f) continue; // no finite upper neighbour
      // Midpoint between b and b+1: f32 bits b<<16 | 0x8000.
      const mid = new Float32Array(new Uint32Array([(b << 16) | 0x8000]).buffer)[0];
      const even = b % 2 === 0 ? b : b + 1;
      if (f32ToBf16(mid) !== even) expect.fail(`bf16 midpoint of 0x${b.toString(16)}`);
    }
    expect(f32ToBf16(3.4e38)).toBe(0x7f80); // rounds past the max to Infinity
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
  });
});

describe('parseSafetensors: round trips', () => {
  const values = f32(0, -0, 1, -2.5, 3.140625, 65504, 2 ** -24, 1e-3, -7, 100);

  it.each(['F32', 'F16', 'BF16'] as const)('%s: header, views and decoded values', (dtype) => {
    const bytes = writeSafetensors(
      { a: { dtype, shape: [2, 5], data: values }, s: { dtype, shape: [], data: f32(42) }, z: { dtype, shape: [3, 0], data: f32() } },
      { format: 'pt' },
    );
    const st = parseSafetensors(bytes, 'model.safetensors');
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...st.tensors.keys()]).toEqual(['a', 's', 'z']);
    const a = st.tensors.get('a')!;
    expect(a).toMatchObject({ name: 'a', dtype, shape: [2, 5], file: 'model.safetensors' });
    expect(a.data.buffer).toBe(bytes.buffer); // a view, not a copy
    expect(a.data.byteLength).toBe(10 * (dtype === 'F32' ? 4 : 2));
    const enc = (x: number) => (dtype === 'F32' ? Math.fround(x) : dtype === 'F16' ? f16ToF32(f32ToF16(x)) : bf16ToF32(f32ToBf16(x)));
    expect([...toFloat32(a)]).toEqual([...values].map(enc));
    expect([...toFloat32(st.tensors.get('s')!)]).toEqual([enc(42)]);
    expect(toFloat32(st.tensors.get('z')!).length).toBe(0);
  });

  it('F16 keeps subnormals, infinities and NaN', () => {
    const data = f32(2 ** -24, 3 * 2 ** -24, -(2 ** -20), Infinity, -Infinity, NaN, 65504, -0);
    const out = toFloat32(parseSafetensors(writeSafetensors({ t: { dtype: 'F16', shape: [8], data } }), 'f').tensors.get('t')!);
    expect([...out.slice(0, 5)]).toEqual([2 ** -24, 3 * 2 ** -24, -(2 ** -20), Infinity, -Infinity]);
    expect(out[5]).toBeNaN();
    expect(out[6]).toBe(65504);
    expect(Object.is(out[7], -0)).toBe(true);
  });

  it('F16 rounds when writing (ties to even)', () => {
    const out = toFloat32(parseSafetensors(writeSafetensors({ t: { dtype: 'F16', shape: [2], data: f32(1 + 2 ** -11, 1 + 3 * 2 ** -11) } }), 'f').tensors.get('t')!);
    expect([...out]).toEqual([1, 1 + 2 ** -9]);
  });

  it('BF16 keeps infinities, NaN and exact bits', () => {
    const data = f32(Infinity, -Infinity, NaN, 1.5, -3.0e38, 2 ** -130);
    const out = toFloat32(parseSafetensors(writeSafetensors({ t: { dtype: 'BF16', shape: [6], data } }), 'f').tensors.get('t')!);
    expect(out[0]).toBe(Infinity);
    expect(out[1]).toBe(-Infinity);
    expect(out[2]).toBeNaN();
    expect(out[3]).toBe(1.5);
    for (let i = 3; i < 6; i++) expect(bitsOf(out[i]) & 0xffff).toBe(0);
  });

  it('decodes tensors at unaligned offsets (odd byteOffset and 2-aligned F32) by copying', () => {
    // F16 × 3 = 6 bytes, so the F32 tensor after it starts 2-aligned, not 4-aligned.
    const file = writeSafetensors({
      h: { dtype: 'F16', shape: [3], data: f32(1, 2, 3) },
      f: { dtype: 'F32', shape: [2], data: f32(0.1, -4) },
      b: { dtype: 'BF16', shape: [1], data: f32(8) },
    });
    // Whole file at an odd offset inside a bigger buffer: every view is misaligned.
    const big = new Uint8Array(file.length + 1);
    big.set(file, 1);
    for (const bytes of [file, big.subarray(1)]) {
      const st = parseSafetensors(bytes, 'odd.safetensors');
      expect([...toFloat32(st.tensors.get('h')!)]).toEqual([1, 2, 3]);
      expect([...toFloat32(st.tensors.get('f')!)]).toEqual([Math.fround(0.1), -4]);
      expect([...toFloat32(st.tensors.get('b')!)]).toEqual([8]);
    }
    expect(parseSafetensors(big.subarray(1), 'odd').tensors.get('f')!.data.byteOffset % 4).not.toBe(0);
  });

  it('aligned F32 decodes to a view (no copy); others allocate', () => {
    const bytes = writeSafetensors({ f: { dtype: 'F32', shape: [2], data: f32(1, 2) } });
    const t = parseSafetensors(bytes, 'f').tensors.get('f')!;
    expect(toFloat32(t).buffer).toBe(bytes.buffer);
  });

  it('allows gaps between tensors, empty tensors anywhere, and a "__proto__" metadata key', () => {
    const data = new Uint8Array(16);
    new DataView(data.buffer).setFloat32(8, 5, true);
    const bytes = rawSafetensors({
      __metadata__: { a: 'b' },
      g: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      e: { dtype: 'F16', shape: [0, 4], data_offsets: [10, 10] },
    }, data);
    const st = parseSafetensors(bytes, 'f');
    expect([...toFloat32(st.tensors.get('g')!)]).toEqual([5]);
    expect(st.tensors.get('e')!.data.byteLength).toBe(0);
    const st2 = parseSafetensors(rawSafetensors(null, new Uint8Array(0), '{"__metadata__": {"__proto__": "x"}}'), 'f');
    expect(Object.getOwnPropertyDescriptor(st2.metadata, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(st2.metadata)).toBe(Object.prototype);
  });

  it('accepts a header padded with trailing spaces and an empty header object', () => {
    expect(parseSafetensors(rawSafetensors(null, undefined, '{}      '), 'f').tensors.size).toBe(0);
  });
});

describe('parseSafetensors: hostile and malformed input', () => {
  const header = (h: unknown, data = new Uint8Array(64)) => rawSafetensors(h, data);
  const t = (extra: Record<string, unknown>) => ({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8], ...extra } });

  function expectError(bytes: Uint8Array, code: string, ...parts: (string | RegExp)[]) {
    const e = caught(() => parseSafetensors(bytes, 'model.safetensors'));
    expect(e.code).toBe(code);
    expect(e.file).toBe('model.safetensors');
    expect(e.message).toContain('model.safetensors');
    for (const p of parts) expect(e.message).toMatch(p);
    return e;
  }

  it('rejects files shorter than 8 bytes', () => {
    for (const n of [0, 1, 7]) expectError(new Uint8Array(n), 'E_FORMAT', 'truncated', `${n} bytes`);
  });

  it('rejects a header length of 2^63 and 2^64-1 without precision loss', () => {
    const bytes = new Uint8Array(64);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, 2n ** 63n, true);
    expectError(bytes, 'E_FORMAT', '9223372036854775808', String(MAX_HEADER_BYTES));
    view.setBigUint64(0, 2n ** 64n - 1n, true);
    expectError(bytes, 'E_FORMAT', '18446744073709551615');
    // 2^53 + 1 would round to 2^53 as a double.
    view.setBigUint64(0, 2n ** 53n + 1n, true);
    expectError(bytes, 'E_FORMAT', '9007199254740993');
  });

  it('rejects a header length over the limit, and one past the end of the file', () => {
    const bytes = new Uint8Array(32);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
    expectError(bytes, 'E_FORMAT', String(MAX_HEADER_BYTES + 1), String(MAX_HEADER_BYTES));
    new DataView(bytes.buffer).setBigUint64(0, 25n, true);
    expectError(bytes, 'E_FORMAT', 'header length 25', '24 bytes');
  });

  it('rejects a header that is not UTF-8, not JSON, or not an object', () => {
    expectError(rawSafetensors(null, undefined, new Uint8Array([0x7b, 0xff, 0x7d])), 'E_FORMAT', 'UTF-8', 'header');
    expectError(rawSafetensors(null, undefined, '{"w": '), 'E_FORMAT', 'invalid safetensors header', 'line 1, column 7');
    for (const h of ['[]', '42', 'null', '"x"']) expectError(rawSafetensors(null, undefined, h), 'E_FORMAT', 'must be a JSON object');
  });

  it('rejects __metadata__ that is not an object of strings', () => {
    expectError(header({ __metadata__: [] }), 'E_FORMAT', '__metadata__', 'object of strings');
    expectError(header({ __metadata__: 'x' }), 'E_FORMAT', '__metadata__');
    expectError(header({ __metadata__: { a: 1 } }), 'E_FORMAT', '__metadata__["a"]', 'string');
  });

  it('rejects an entry that is not an object', () => {
    const e = expectError(header({ w: [1, 2] }), 'E_FORMAT', 'tensor "w"', 'expected an object');
    expect(e.field).toBe('w');
  });

  it('gives E_DTYPE for known but unsupported dtypes', () => {
    for (const dtype of ['F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'F8_E5M2', 'U64']) {
      const e = expectError(header(t({ dtype })), 'E_DTYPE', `tensor "w"`, dtype, 'expected F32, F16 or BF16');
      expect(e.field).toBe('w');
    }
  });

  it('gives E_FORMAT for unknown or non-string dtypes', () => {
    for (const dtype of ['F128', 'f32', 'toString', '__proto__', '']) expectError(header(t({ dtype })), 'E_FORMAT', 'unknown dtype');
    expectError(header(t({ dtype: 4 })), 'E_FORMAT', 'dtype must be a string');
    expectError(header({ w: { shape: [2], data_offsets: [0, 8] } }), 'E_FORMAT', 'dtype must be a string');
  });

  it('rejects bad shapes', () => {
    for (const shape of [undefined, 2, [-1], [1.5], ['2'], [null], [2 ** 53], [Infinity]]) {
      expectError(header(t({ shape })), 'E_FORMAT', 'tensor "w"', 'shape must be an array of non-negative integers');
    }
    // Non-integer shapes written as text (JSON.stringify would turn Infinity into null).
    expectError(rawSafetensors(null, undefined, '{"w": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 0]}}'), 'E_FORMAT', 'shape');
  });

  it('guards the element count against overflow', () => {
    expectError(header(t({ shape: [2 ** 30, 2 ** 30, 2 ** 30] })), 'E_FORMAT', 'too many elements');
    // ...but a zero dimension anywhere makes an empty tensor.
    const st = parseSafetensors(header(t({ shape: [2 ** 50, 2 ** 50, 0], data_offsets: [0, 0] })), 'f');
    expect(st.tensors.get('w')!.data.byteLength).toBe(0);
  });

  it('rejects malformed data_offsets', () => {
    for (const data_offsets of [undefined, [0], [0, 8, 9], [-1, 7], [0.5, 8], ['0', '8'], [0, 2 ** 53]]) {
      expectError(header(t({ data_offsets })), 'E_FORMAT', 'data_offsets must be [begin, end]');
    }
  });

  it('rejects offsets outside the file', () => {
    expectError(header(t({ data_offsets: [60, 68] })), 'E_FORMAT', 'outside the file', '64 bytes');
    expectError(header(t({ data_offsets: [8, 0] })), 'E_FORMAT', 'outside the file');
    expectError(header(t({ data_offsets: [2 ** 52, 2 ** 52 + 8] })), 'E_FORMAT', 'outside the file');
  });

  it('rejects a byte span that does not match shape × dtype size', () => {
    expectError(header(t({ data_offsets: [0, 12] })), 'E_FORMAT', '12 bytes', 'needs 8');
    expectError(header(t({ dtype: 'F16' })), 'E_FORMAT', '8 bytes', 'needs 4');
  });

  it('rejects overlapping tensors, naming both', () => {
    const e = expectError(
      header({
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        c: { dtype: 'F32', shape: [2], data_offsets: [32, 40] },
        b: { dtype: 'F16', shape: [2], data_offsets: [14, 18] },
      }),
      'E_FORMAT',
      'overlap',
      '"a"',
      '"b"',
    );
    expect(e.field).toBe('b');
    // Contained entirely inside a bigger one, listed first.
    expectError(
      header({ in: { dtype: 'F32', shape: [1], data_offsets: [20, 24] }, big: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }),
      'E_FORMAT',
      'overlap',
    );
    // Same span twice.
    expectError(header({ x: t({}).w, y: t({}).w }), 'E_FORMAT', 'overlap');
    // Touching is fine.
    expect(parseSafetensors(header({ a: t({}).w, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }), 'f').tensors.size).toBe(2);
  });

  it('survives random corruption of a valid file with typed errors only', () => {
    const good = writeSafetensors({ a: { dtype: 'F16', shape: [3, 4], data: new Float32Array(12).fill(1) }, b: { dtype: 'F32', shape: [5], data: new Float32Array(5) } });
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let k = 0; k < 2000; k++) {
      const bytes = good.slice(0, rand() < 0.2 ? Math.floor(rand() * good.length) : good.length);
      for (let j = 0; j < 3; j++) if (bytes.length) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      try {
        const st = parseSafetensors(bytes, 'fuzz');
        for (const tensor of st.tensors.values()) toFloat32(tensor);
      } catch (e) {
        if (!(e instanceof MambaEdgeError)) throw e;
      }
    }
  });
});

describe('readSafetensorsWeights', () => {
  const shardA = writeSafetensors({ 'layers.0.w': { dtype: 'F32', shape: [2], data: f32(1, 2) }, emb: { dtype: 'F16', shape: [1], data: f32(3) } });
  const shardB = writeSafetensors({ 'layers.1.w': { dtype: 'BF16', shape: [2], data: f32(4, 5) } });
  const A = 'model-00001-of-00002.safetensors';
  const B = 'model-00002-of-00002.safetensors';
  const index = (weightMap: unknown) => new TextEncoder().encode(JSON.stringify({ metadata: { total_size: 20 }, weight_map: weightMap }));
  const goodIndex = index({ 'layers.0.w': A, emb: A, 'layers.1.w': B });
  const INDEX = 'model.safetensors.index.json';

  const values = (ws: { tensors: Map<string, TensorEntry> }) =>
    Object.fromEntries([...ws.tensors].map(([k, v]) => [k, [...toFloat32(v)]]));

  it('reads a single model.safetensors', async () => {
    const ws = await readSafetensorsWeights(memorySource({ 'model.safetensors': shardA }));
    expect(ws.files).toEqual(['model.safetensors']);
    expect(values(ws)).toEqual({ 'layers.0.w': [1, 2], emb: [3] });
  });

  it('reads a sharded model through memorySource, each shard once', async () => {
    const src = memorySource({ [INDEX]: goodIndex, [A]: shardA, [B]: shardB });
    const reads: string[] = [];
    const orig = src.read.bind(src);
    src.read = (name, o) => (reads.push(name), orig(name, o));
    const ws = await readSafetensorsWeights(src);
    expect(ws.files).toEqual([A, B]);
    expect(values(ws)).toEqual({ 'layers.0.w': [1, 2], emb: [3], 'layers.1.w': [4, 5] });
    expect(ws.tensors.get('layers.1.w')!.file).toBe(B);
    expect(reads).toEqual([INDEX, A, B]);
  });

  it('E_FILE when there are no weights', async () => {
    const e = await rejected(readSafetensorsWeights(memorySource({ 'config.json': new Uint8Array(2) })));
    expect(e.code).toBe('E_FILE');
    expect(e.message).toContain('model.safetensors.index.json');
  });

  it('E_FILE naming a missing shard', async () => {
    const e = await rejected(readSafetensorsWeights(memorySource({ [INDEX]: goodIndex, [A]: shardA })));
    expect(e.code).toBe('E_FILE');
    expect(e.file).toBe(B);
    expect(e.message).toContain(`<memory>/${B} not found`);
    expect(e.message).toContain('layers.1.w');
  });

  it('E_FORMAT for a malformed index', async () => {
    const cases: [Uint8Array, string][] = [
      [new TextEncoder().encode('{"weight_map": {'), 'invalid JSON'],
      [new TextEncoder().encode('[]'), 'expected a JSON object'],
      [index(undefined), 'weight_map'],
      [index(['x']), 'weight_map'],
      [index({}), 'lists no tensors'],
      [index({ w: 3 }), 'weight_map["w"]'],
      [index({ w: '' }), 'weight_map["w"]'],
    ];
    for (const [bytes, msg] of cases) {
      const e = await rejected(readSafetensorsWeights(memorySource({ [INDEX]: bytes, [A]: shardA })));
      expect(e.code).toBe('E_FORMAT');
      expect(e.file).toBe(INDEX);
      expect(e.message).toContain(msg);
    }
  });

  it('E_FORMAT for path traversal in shard names', async () => {
    for (const shard of ['../secret.safetensors', '/etc/passwd', 'a/../../b', '..\\x', 'C:\\x.safetensors', '\\\\server\\x']) {
      const e = await rejected(readSafetensorsWeights(memorySource({ [INDEX]: index({ w: shard }) })));
      expect(e.code, shard).toBe('E_FORMAT');
      expect(e.message).toContain('relative file name');
    }
  });

  it('E_FORMAT when a listed tensor is missing from its shard', async () => {
    const e = await rejected(
      readSafetensorsWeights(memorySource({ [INDEX]: index({ 'layers.0.w': A, 'layers.1.w': A }), [A]: shardA })),
    );
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toContain(`${A}: tensor "layers.1.w" is missing`);
  });

  it('E_FORMAT when a tensor is present in two shards', async () => {
    const dup = writeSafetensors({ emb: { dtype: 'F32', shape: [1], data: f32(9) }, 'layers.1.w': { dtype: 'F32', shape: [1], data: f32(1) } });
    const e = await rejected(readSafetensorsWeights(memorySource({ [INDEX]: goodIndex, [A]: shardA, [B]: dup })));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toContain('"emb" is present in two shards');
    expect(e.message).toContain(A);
    expect(e.message).toContain(B);
  });

  it('passes shard errors through with the shard name', async () => {
    const e = await rejected(readSafetensorsWeights(memorySource({ [INDEX]: goodIndex, [A]: shardA, [B]: new Uint8Array(3) })));
    expect(e.code).toBe('E_FORMAT');
    expect(e.file).toBe(B);
  });

  it('rejects an oversized index before reading it', async () => {
    const src = memorySource({ [INDEX]: new Uint8Array(16 * 1024 * 1024 + 1) });
    src.read = async () => expect.fail('must not read');
    const e = await rejected(readSafetensorsWeights(src));
    expect(e.code).toBe('E_FORMAT');
    expect(e.message).toContain('limit');
  });

  it('passes progress and abort through', async () => {
    const src = memorySource({ [INDEX]: goodIndex, [A]: shardA, [B]: shardB });
    const seen: string[] = [];
    await readSafetensorsWeights(src, { onProgress: (p) => seen.push(p.file) });
    expect(seen).toEqual([INDEX, A, B]);

    const ac = new AbortController();
    const e = await rejected(readSafetensorsWeights(src, { signal: ac.signal, onProgress: (p) => p.file === A && ac.abort() }));
    expect(e.code).toBe('E_ABORTED');
    expect(e.name).toBe('AbortError');
  });

  describe('through directorySource', () => {
    const dirs: string[] = [];
    afterAll(async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });
    async function folder(files: Record<string, Uint8Array>): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'mamba-edge-st-'));
      dirs.push(dir);
      for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
      return dir;
    }

    it('reads a sharded model from disk', async () => {
      const dir = await folder({ [INDEX]: goodIndex, [A]: shardA, [B]: shardB });
      const progress: { file: string; loaded: number; total: number }[] = [];
      const ws = await readSafetensorsWeights(directorySource(dir), { onProgress: (p) => progress.push(p) });
      expect(values(ws)).toEqual({ 'layers.0.w': [1, 2], emb: [3], 'layers.1.w': [4, 5] });
      expect(progress.map((p) => p.file)).toEqual([INDEX, A, B]);
      expect(progress.every((p) => p.loaded === p.total)).toBe(true);
    });

    it('byTensor: reads headers first and each tensor when asked for, with the same values and checks', async () => {
      const dir = await folder({ [INDEX]: goodIndex, [A]: shardA, [B]: shardB });
      const progress: { file: string; loaded: number; total: number }[] = [];
      const ws = await readSafetensorsWeights(directorySource(dir), { byTensor: true, onProgress: (p) => progress.push(p) });
      expect(progress.map((p) => p.file)).toEqual([INDEX]); // no tensor read yet
      expect(values(ws)).toEqual({ 'layers.0.w': [1, 2], emb: [3], 'layers.1.w': [4, 5] });
      values(ws); // a second read: progress counts each tensor once
      expect(progress.map((p) => `${p.file} ${p.loaded}/${p.total}`)).toEqual([INDEX + ` ${goodIndex.byteLength}/${goodIndex.byteLength}`, `${A} 8/10`, `${A} 10/10`, `${B} 4/4`]);

      // Read at the time of asking (nothing kept): a file cut short afterwards is an E_FILE naming it.
      await writeFile(join(dir, B), shardB.subarray(0, shardB.byteLength - 4));
      const e = caught(() => ws.tensors.get('layers.1.w')!.data);
      expect(e.code).toBe('E_FILE');
      expect(e.message).toContain(`${dir}/${B} shrank`);
    });

    it('byTensor: a bad header is refused as by parseSafetensors', async () => {
      for (const bytes of [new Uint8Array(5), shardA.subarray(0, 20), shardA.subarray(0, shardA.byteLength - 1)]) {
        const dir = await folder({ 'model.safetensors': bytes });
        const want = caught(() => parseSafetensors(bytes, 'model.safetensors'));
        const e = await rejected(readSafetensorsWeights(directorySource(dir), { byTensor: true }));
        expect([e.code, e.message]).toEqual([want.code, want.message]);
      }
    });

    it('names the missing shard with the directory', async () => {
      const dir = await folder({ [INDEX]: goodIndex, [A]: shardA });
      const e = await rejected(readSafetensorsWeights(directorySource(dir)));
      expect(e.code).toBe('E_FILE');
      expect(e.message).toContain(`${dir}/${B} not found`);
    });

    it('never leaves the directory for traversal names', async () => {
      const parent = await folder({ 'secret.safetensors': shardA });
      const dir = join(parent, 'model');
      await mkdir(dir);
      await writeFile(join(dir, INDEX), index({ 'layers.0.w': '../secret.safetensors' }));
      const e = await rejected(readSafetensorsWeights(directorySource(dir)));
      expect(e.code).toBe('E_FORMAT');
    });
  });
});
