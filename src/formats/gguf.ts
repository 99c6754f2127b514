/**
 * GGUF reader (llama.cpp's model file format), written for untrusted bytes. Browser-safe.
 *
 * Why our own and not @huggingface/gguf: that package imports `fs` (it does not bundle for
 * browsers) and weighs 69 kB gzip; what the runtime needs is this one strict reader. The
 * tests hold it against @huggingface/gguf as an independent oracle.
 *
 * Layout (ggml/docs/gguf.md, ggml/src/gguf.cpp; little-endian; versions 2 and 3 share it):
 *   u32 magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
 *   kv_count × { string key | u32 value_type | value }          (arrays: u32 type, u64 n, n values)
 *   tensor_count × { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
 *   padding to `general.alignment` (default 32) | data section (offsets relative to its start)
 * Strings are u64 length + UTF-8 bytes. ne[] is ggml order (innermost first): a PyTorch
 * [rows, cols] matrix is stored as ne = [cols, rows]; `shape` below is PyTorch order.
 *
 * Every count and length is checked against the bytes left before anything is allocated for
 * it, so a hostile header cannot make us allocate more than the file itself justifies.
 */
import { fail } from '../errors.js';
import { f16Table32 } from './half.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32

/** ggml_type values (ggml.h) and their names, for messages; only some are loadable. */
const GGML_TYPE_NAMES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1',
  10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K',
  16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS',
  24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

/** Tensor types this reader decodes: block size (values) and bytes per block (ggml-common.h). */
export type GgmlType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0';
const LOADABLE: Record<number, { type: GgmlType; block: number; bytes: number }> = {
  0: { type: 'F32', block: 1, bytes: 4 },
  1: { type: 'F16', block: 1, bytes: 2 },
  30: { type: 'BF16', block: 1, bytes: 2 },
  8: { type: 'Q8_0', block: 32, bytes: 34 }, //  block_q8_0 { ggml_half d; int8_t qs[32]; }
  2: { type: 'Q4_0', block: 32, bytes: 18 }, //  block_q4_0 { ggml_half d; uint8_t qs[16]; }
};
const LOADABLE_NAMES = 'F32, F16, BF16, Q8_0 or Q4_0';

/** GGUF metadata value types (gguf.h `enum gguf_type`). */
const VT = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;
const VT_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
/** Bytes of one value of each fixed-size type (strings: at least their 8-byte length). */
const VT_MIN_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];

export type GgufScalar = number | bigint | boolean | string;
export interface GgufKv {
  /** gguf value type name: 'u32', 'string', 'array', ... */
  type: string;
  /** Arrays: the element type name. */
  itemType?: string;
  /** Numbers as numbers, except u64/i64 beyond 2^53 (kept as bigint); arrays as JS arrays or typed arrays. */
  value: GgufScalar | GgufScalar[] | ArrayLike<number>;
}

export interface GgufTensorInfo {
  name: string;
  type: GgmlType;
  /** PyTorch order (outermost first): ggml's ne reversed. */
  shape: number[];
  /** Bytes in the file (from parseGgufFromRanges: read from the file at each access, never kept). */
  data: Uint8Array;
  /** Offset of the data from the file start (for messages). */
  fileOffset: number;
  /** Bytes of data (data.byteLength, known without reading it). */
  size: number;
  /** From parseGgufFromRanges: `length` bytes of the data from byte `offset` of it, read now. */
  readRange?: (offset: number, length: number, into?: Uint8Array) => Uint8Array;
}

export interface GgufFile {
  file: string;
  version: number;
  alignment: number;
  kv: Map<string, GgufKv>;
  tensors: Map<string, GgufTensorInfo>;
}

/** Hard ceilings on top of "fits in the file": ggml's own limits. */
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_STRING_BYTES = 1 << 24; // no key, name or token is anywhere near 16 MiB

/** Thrown by a Reader over the first part of a file when the header goes on past it: read more and parse again. */
class NeedMoreBytes extends Error {}

class Reader {
  pos = 0;
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });
  /** `bytes` may be the file's first part only (`fileBytes` long in all): limits and messages are the file's. */
  constructor(readonly bytes: Uint8Array, readonly file: string, readonly fileBytes = bytes.byteLength) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get left(): number {
    return this.fileBytes - this.pos;
  }
  bad(msg: string, field?: string): never {
    throw fail('E_FORMAT', `${this.file}: ${msg}`, { file: this.file, field });
  }
  need(n: number, what: string, field?: string): void {
    if (n > this.left) this.bad(`truncated: ${what} at byte ${this.pos} needs ${n} bytes, ${this.left} left`, field);
    if (this.pos + n > this.bytes.byteLength) throw new NeedMoreBytes();
  }
  u8(what: string): number { this.need(1, what); return this.view.getUint8(this.pos++); }
  u32(what: string, field?: string): number { this.need(4, what, field); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  u64(what: string, field?: string): bigint { this.need(8, what, field); const v = this.view.getBigUint64(this.pos, true); this.pos += 8; return v; }
  /** A u64 that must be a count: ≤ `max` (what the remaining bytes can hold). */
  count(what: string, max: number, field?: string): number {
    const v = this.u64(what, field);
    if (v > BigInt(max)) this.bad(`${what} is ${v}, but the ${this.left} bytes left can hold at most ${max} (truncated or corrupt file?)`, field);
    return Number(v);
  }
  string(what: string, field?: string): string {
    const n = this.count(`${what} length`, Math.min(this.left, MAX_STRING_BYTES), field);
    this.need(n, what, field);
    const s = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return this.utf8.decode(s);
    } catch {
      return this.bad(`${what} at byte ${this.pos - n} is not valid UTF-8`, field);
    }
  }
  scalar(type: number, what: string, field: string): GgufScalar {
    const p = this.pos;
    this.need(VT_MIN_BYTES[type], what, field);
    switch (type) {
      case VT.U8: this.pos += 1; return this.view.getUint8(p);
      case VT.I8: this.pos += 1; return this.view.getInt8(p);
      case VT.U16: this.pos += 2; return this.view.getUint16(p, true);
      case VT.I16: this.pos += 2; return this.view.getInt16(p, true);
      case VT.U32: this.pos += 4; return this.view.getUint32(p, true);
      case VT.I32: this.pos += 4; return this.view.getInt32(p, true);
      case VT.F32: this.pos += 4; return this.view.getFloat32(p, true);
      case VT.F64: this.pos += 8; return this.view.getFloat64(p, true);
      case VT.BOOL: {
        this.pos += 1;
        const b = this.view.getUint8(p);
        if (b > 1) this.bad(`${what} is a bool holding ${b}, expected 0 or 1`, field);
        return b === 1;
      }
      case VT.U64: case VT.I64: {
        this.pos += 8;
        const v = type === VT.U64 ? this.view.getBigUint64(p, true) : this.view.getBigInt64(p, true);
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case VT.STRING: return this.string(what, field);
      default: return this.bad(`${what} has value type ${type}, expected one of 0..12 (gguf_type)`, field);
    }
  }
}

/**
 * Parses a whole GGUF file held in memory. Tensors come back as views into `bytes` (no copy),
 * with their shapes, types and byte spans validated; the data itself is not decoded here.
 */
export function parseGguf(bytes: Uint8Array, file: string): GgufFile {
  return parseLayout(bytes, bytes.byteLength, file, (at, size) => bytes.subarray(at, at + size), false);
}

/** The first read of a GGUF header by ranges: most headers (a 50k-token vocabulary is ~1 MiB) fit. */
const FIRST_HEADER_READ = 4 * 1024 * 1024;

/**
 * A GGUF file read one tensor at a time (`source.readRangeSync`): only the header is read here
 * (its first 4 MiB, more if it goes on); each tensor's `data` is read from the file when asked
 * for and not kept, so a loader that copies a tensor and drops it never holds more than one
 * tensor of the file. Every check of parseGguf applies, against the file's size.
 */
export function parseGgufFromRanges(
  readRange: (offset: number, length: number, into?: Uint8Array) => Uint8Array, fileBytes: number, file: string, firstRead = FIRST_HEADER_READ,
): GgufFile {
  for (let want = Math.min(fileBytes, firstRead); ; want = Math.min(fileBytes, want * 4)) {
    try {
      return parseLayout(readRange(0, want), fileBytes, file, readRange, true);
    } catch (e) {
      if (!(e instanceof NeedMoreBytes) || want >= fileBytes) throw e;
    }
  }
}

function parseLayout(
  bytes: Uint8Array, fileBytes: number, file: string, dataOf: (at: number, size: number, into?: Uint8Array) => Uint8Array, lazy: boolean,
): GgufFile {
  const r = new Reader(bytes, file, fileBytes);
  if (fileBytes < 4) r.bad(`truncated: ${fileBytes} bytes, but a GGUF file starts with the 4-byte magic "GGUF"`);
  const magic = r.u32('magic');
  if (magic !== GGUF_MAGIC) {
    const shown = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    r.bad(`not a GGUF file: the magic is ${shown}, expected 47 47 55 46 ("GGUF")`, 'magic');
  }
  const version = r.u32('version', 'version');
  if (version !== 2 && version !== 3) {
    const why = version === 1 ? ' (version 1 used 32-bit counts; convert the file again with a current llama.cpp)'
      : (version & 0xffff) === 0 ? ' (a big-endian GGUF? only little-endian files are supported)' : '';
    r.bad(`GGUF version ${version} is not supported, expected 2 or 3${why}`, 'version');
  }
  // Each tensor info takes ≥ 24 bytes (8 name length + 4 n_dims + 4 type + 8 offset), each kv ≥ 13.
  const tensorCount = r.count('tensor count', Math.floor(r.left / 24), 'tensor_count');
  const kvCount = r.count('metadata key-value count', Math.floor(r.left / 13), 'kv_count');

  const kv = new Map<string, GgufKv>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(`metadata key #${i}`);
    if (kv.has(key)) r.bad(`metadata key "${key}" appears twice`, key);
    const type = r.u32(`type of "${key}"`, key);
    if (type > 12) r.bad(`metadata "${key}" has value type ${type}, expected one of 0..12 (gguf_type)`, key);
    if (type !== VT.ARRAY) {
      kv.set(key, { type: VT_NAMES[type], value: r.scalar(type, `metadata "${key}"`, key) });
      continue;
    }
    const itemType = r.u32(`element type of "${key}"`, key);
    if (itemType > 12) r.bad(`metadata "${key}" is an array of value type ${itemType}, expected one of 0..12`, key);
    if (itemType === VT.ARRAY) r.bad(`metadata "${key}" is an array of arrays, which GGUF models do not use`, key);
    const n = r.count(`length of "${key}"`, Math.floor(r.left / VT_MIN_BYTES[itemType]), key);
    kv.set(key, { type: 'array', itemType: VT_NAMES[itemType], value: readArray(r, itemType, n, key) });
  }

  const alignKv = kv.get('general.alignment');
  let alignment = 32; // GGUF_DEFAULT_ALIGNMENT
  if (alignKv !== undefined) {
    const a = alignKv.value;
    if (alignKv.type !== 'u32' || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
      r.bad(`general.alignment must be a u32 power of two, got ${alignKv.type} ${String(a)}`, 'general.alignment');
    }
    alignment = a as number;
  }

  interface Pending { name: string; type: GgmlType; shape: number[]; offset: number; size: number }
  const pending: Pending[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(`tensor #${i} name`);
    const t = `tensor "${name}"`;
    if (names.has(name)) r.bad(`${t} appears twice`, name);
    names.add(name);
    const nDims = r.u32(`${t} n_dims`, name);
    if (nDims < 1 || nDims > MAX_DIMS) r.bad(`${t} has ${nDims} dimensions, expected 1 to ${MAX_DIMS}`, name);
    const ne: number[] = [];
    let numel = 1;
    for (let d = 0; d < nDims; d++) {
      const v = r.u64(`${t} dimension ${d}`, name);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) r.bad(`${t} dimension ${d} is ${v}, too large`, name);
      const n = Number(v);
      if (n !== 0 && numel > Number.MAX_SAFE_INTEGER / n) r.bad(`${t} has too many elements (dimensions ${[...ne, n].join(' × ')} …)`, name);
      ne.push(n);
      numel *= n;
    }
    const typeId = r.u32(`${t} type`, name);
    const spec = LOADABLE[typeId];
    if (!spec) {
      const known = GGML_TYPE_NAMES[typeId];
      if (known) throw fail('E_DTYPE', `${file}: ${t} has ggml type ${known}, which mamba-edge does not load (expected ${LOADABLE_NAMES}); convert or quantize the model to one of those`, { file, field: name });
      r.bad(`${t} has type ${typeId}, which is not a ggml type`, name);
    }
    if (ne[0] % spec.block !== 0) r.bad(`${t}: ${spec.type} stores blocks of ${spec.block} values along the first ggml dimension, but it is ${ne[0]}`, name);
    const offset = r.u64(`${t} offset`, name);
    if (offset > BigInt(fileBytes)) r.bad(`${t} data offset ${offset} is beyond the end of the file (${fileBytes} bytes)`, name);
    if (Number(offset) % alignment !== 0) r.bad(`${t} data offset ${offset} is not a multiple of the alignment ${alignment}`, name);
    pending.push({ name, type: spec.type, shape: ne.slice().reverse(), offset: Number(offset), size: (numel / spec.block) * spec.bytes });
  }

  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  if (dataStart > fileBytes && tensorCount > 0) r.bad(`truncated: the header ends at byte ${r.pos}, and no tensor data follows`);
  const dataLen = Math.max(0, fileBytes - dataStart);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const p of pending) {
    if (p.offset + p.size > dataLen) {
      r.bad(`tensor "${p.name}" (${p.type} [${p.shape.join(', ')}], ${p.size} bytes at data offset ${p.offset}) runs past the end of the file: the data section has ${dataLen} bytes (truncated file?)`, p.name);
    }
    const at = dataStart + p.offset;
    const info: GgufTensorInfo = { name: p.name, type: p.type, shape: p.shape, data: new Uint8Array(0), fileOffset: at, size: p.size };
    if (lazy) {
      Object.defineProperty(info, 'data', { get: () => dataOf(at, p.size), enumerable: true });
      const readRange = (offset: number, length: number, into?: Uint8Array) => {
        if (offset < 0 || length < 0 || offset + length > p.size) throw new RangeError(`readRange ${offset}+${length} of a ${p.size}-byte tensor`);
        return dataOf(at + offset, length, into);
      };
      Object.defineProperty(info, 'readRange', { value: readRange, enumerable: false });
    }
    else info.data = dataOf(at, p.size);
    tensors.set(p.name, info);
  }
  // No two tensors may share bytes (in offset order, each starts at or after the furthest end so far).
  const spans = pending.filter((p) => p.size > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1, prev = spans[0]; i < spans.length; i++) {
    const cur = spans[i];
    if (cur.offset < prev.offset + prev.size) {
      r.bad(`tensors "${prev.name}" [${prev.offset}, ${prev.offset + prev.size}) and "${cur.name}" [${cur.offset}, ${cur.offset + cur.size}) overlap in the data section`, cur.name);
    }
    if (cur.offset + cur.size > prev.offset + prev.size) prev = cur;
  }
  return { file, version, alignment, kv, tensors };
}

function readArray(r: Reader, type: number, n: number, key: string): GgufScalar[] | ArrayLike<number> {
  const what = `metadata "${key}"`;
  // Numeric arrays (token types, scores) as typed arrays of their own element type: exactly the
  // bytes the file holds for them, never more.
  const Typed = ({
    [VT.U8]: Uint8Array, [VT.I8]: Int8Array, [VT.U16]: Uint16Array, [VT.I16]: Int16Array,
    [VT.U32]: Uint32Array, [VT.I32]: Int32Array, [VT.F32]: Float32Array, [VT.F64]: Float64Array,
  } as Record<number, (new (n: number) => { [i: number]: number; length: number }) | undefined>)[type];
  if (Typed) {
    r.need(n * VT_MIN_BYTES[type], what, key);
    const out = new Typed(n);
    for (let i = 0; i < n; i++) out[i] = r.scalar(type, what, key) as number;
    return out;
  }
  const out: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = r.scalar(type, `${what}[${i}]`, key);
  return out;
}

// ---- typed metadata ------------------------------------------------------------

/** Reads typed metadata values; every failure is E_CONFIG naming the file and the key. */
export class GgufMeta {
  constructor(readonly g: GgufFile) {}
  private bad(key: string, expected: string, kv: GgufKv | undefined): never {
    const got = kv === undefined ? 'nothing (the key is missing)' : `${kv.type} ${JSON.stringify(typeof kv.value === 'bigint' ? String(kv.value) : kv.value)?.slice(0, 60)}`;
    throw fail('E_CONFIG', `${this.g.file}: metadata "${key}" must be ${expected}, got ${got}`, { file: this.g.file, field: key });
  }
  has(key: string): boolean {
    return this.g.kv.has(key);
  }
  int(key: string, min: number, max: number, def?: number): number {
    const kv = this.g.kv.get(key);
    if (kv === undefined && def !== undefined) return def;
    const v = kv?.value;
    const isInt = kv !== undefined && ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64'].includes(kv.type) && typeof v === 'number';
    if (!isInt || (v as number) < min || (v as number) > max) this.bad(key, `an integer in [${min}, ${max}]`, kv);
    return v as number;
  }
  float(key: string, min: number, max: number): number {
    const kv = this.g.kv.get(key);
    const v = kv?.value;
    if (kv === undefined || (kv.type !== 'f32' && kv.type !== 'f64') || typeof v !== 'number' || !(v >= min && v <= max)) this.bad(key, `a float in [${min}, ${max}]`, kv);
    return v as number;
  }
  bool(key: string, def: boolean): boolean {
    const kv = this.g.kv.get(key);
    if (kv === undefined) return def;
    if (kv.type !== 'bool') this.bad(key, 'a bool', kv);
    return kv.value as boolean;
  }
  str(key: string, def?: string): string {
    const kv = this.g.kv.get(key);
    if (kv === undefined && def !== undefined) return def;
    if (kv === undefined || kv.type !== 'string') this.bad(key, 'a string', kv);
    return kv.value as string;
  }
  /** An array of `itemType` (a JS array, or a typed array for numbers). */
  array(key: string, itemTypes: string[]): ArrayLike<unknown> | undefined {
    const kv = this.g.kv.get(key);
    if (kv === undefined) return undefined;
    if (kv.type !== 'array' || !itemTypes.includes(kv.itemType!)) this.bad(key, `an array of ${itemTypes.join(' or ')}`, kv);
    return kv.value as ArrayLike<unknown>;
  }
}

// ---- decoding tensor data ------------------------------------------------------

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Halves (f16/bf16 bits) of a tensor's bytes, copying when the view is unaligned or the host big-endian. */
function halves(data: Uint8Array): Uint16Array {
  const n = data.byteLength >> 1;
  if (LITTLE_ENDIAN && data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, n);
  const out = new Uint16Array(n);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

/**
 * A tensor's values as a fresh f32 array: F32 copied, F16/BF16 widened exactly, Q8_0 and Q4_0
 * dequantized as ggml-quants.c dequantize_row_q8_0 / dequantize_row_q4_0 do:
 *   q8_0: y[j] = d · qs[j]                       (32 int8 per block)
 *   q4_0: y[j] = d · ((qs[j] & 0xF) − 8),  y[j + 16] = d · ((qs[j] >> 4) − 8)   (j < 16)
 * with d the block's f16 scale. Products of an f16 and a small integer are exact in f32.
 */
export function dequantize(t: Pick<GgufTensorInfo, 'type' | 'data'>): Float32Array {
  const { data } = t;
  const table = f16Table32();
  switch (t.type) {
    case 'F32': {
      const n = data.byteLength / 4;
      if (LITTLE_ENDIAN) {
        const out = new Float32Array(n);
        new Uint8Array(out.buffer).set(data);
        return out;
      }
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
    }
    case 'F16': {
      const h = halves(data);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = table[h[i]];
      return out;
    }
    case 'BF16': {
      const h = halves(data);
      const bits = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) bits[i] = h[i] << 16; // bf16 is the top half of an f32
      return new Float32Array(bits.buffer);
    }
    case 'Q8_0': {
      const blocks = data.byteLength / 34;
      const out = new Float32Array(blocks * 32);
      for (let b = 0; b < blocks; b++) {
        const at = b * 34;
        const d = table[data[at] | (data[at + 1] << 8)];
        for (let j = 0; j < 32; j++) out[b * 32 + j] = d * ((data[at + 2 + j] << 24) >> 24);
      }
      return out;
    }
    case 'Q4_0': {
      const blocks = data.byteLength / 18;
      const out = new Float32Array(blocks * 32);
      for (let b = 0; b < blocks; b++) {
        const at = b * 18;
        const d = table[data[at] | (data[at + 1] << 8)];
        for (let j = 0; j < 16; j++) {
          const q = data[at + 2 + j];
          out[b * 32 + j] = d * ((q & 0x0f) - 8);
          out[b * 32 + j + 16] = d * ((q >> 4) - 8);
        }
      }
      return out;
    }
  }
}

/** How many tensors of each type a file holds: `{ F32: 50, Q8_0: 24 }` (for model.info). */
export function tensorTypeCounts(g: GgufFile): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of g.tensors.values()) counts[t.type] = (counts[t.type] ?? 0) + 1;
  return counts;
}
