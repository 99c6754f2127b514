/**
 * safetensors reader, written for untrusted bytes.
 *
 * Layout: u64 LE header length N | N bytes of UTF-8 JSON header | data section.
 * The header maps tensor name -> { dtype, shape, data_offsets: [begin, end] }
 * (offsets relative to the data section) plus an optional "__metadata__"
 * object of strings. Every field is checked before a byte of data is touched;
 * tensors come back as views into the caller's bytes (no copy).
 */
import { fail, throwIfAborted } from '../errors.js';
import { f16Table32 } from './half.js';
import { decodeUtf8Json, DEFAULT_MAX_JSON_BYTES } from './pyjson.js';
import { describe, type FileSource, type ReadOptions } from './source.js';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16';

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  file: string;
  /** bytes of this tensor (a view, no copy) */
  data: Uint8Array;
  /**
   * Files read by tensor (parseSafetensorsFromRanges): `length` bytes of this tensor's data from
   * byte `offset` of it, read from the file now — for loaders that take a large tensor in pieces.
   */
  readRange?: (offset: number, length: number, into?: Uint8Array) => Uint8Array;
}

export interface SafetensorsFile {
  file: string;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

export const MAX_HEADER_BYTES = 100_000_000; // the safetensors spec's own limit

export const DTYPE_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };

/** dtypes safetensors defines that we do not load: E_DTYPE rather than "malformed". */
const OTHER_DTYPES = new Set([
  'BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'I32', 'U64', 'I64', 'F64', 'C64',
  'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4',
]);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  return parseLayout(bytes, bytes.byteLength, file, (begin, end) => bytes.subarray(begin, end), false);
}

/** The header length field (bytes 0..8 of a file of `fileBytes` bytes), checked. */
function headerLength(first8: Uint8Array, fileBytes: number, file: string): number {
  const bad = (msg: string) => fail('E_FORMAT', `${file}: ${msg}`, { file });
  if (fileBytes < 8 || first8.byteLength < 8) {
    throw bad(`truncated: ${fileBytes} bytes, but a safetensors file starts with an 8-byte header length`);
  }
  // u64 as BigInt: a hostile length like 2^63 must not lose precision and slip through as a "small" number.
  const headerLen = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw bad(`header length ${headerLen} exceeds the safetensors limit of ${MAX_HEADER_BYTES} bytes`);
  }
  if (headerLen > BigInt(fileBytes - 8)) {
    throw bad(`header length ${headerLen} exceeds the ${fileBytes - 8} bytes after the length field (truncated file?)`);
  }
  return Number(headerLen);
}

/**
 * A safetensors file read one tensor at a time (`source.readRangeSync`): only the header is
 * read here; each entry's `data` is read from the file when asked for and not kept, so a
 * loader that copies a tensor and drops it never holds more than one tensor of the file.
 * Every check of parseSafetensors applies (the file size stands in for the bytes' length).
 */
export function parseSafetensorsFromRanges(
  readRange: (offset: number, length: number, into?: Uint8Array) => Uint8Array, fileBytes: number, file: string,
): SafetensorsFile {
  const n = headerLength(fileBytes >= 8 ? readRange(0, 8) : new Uint8Array(0), fileBytes, file);
  const head = readRange(0, 8 + n);
  return parseLayout(head, fileBytes, file, (begin, end, into) => readRange(begin, end - begin, into), true);
}

function parseLayout(
  head: Uint8Array, fileBytes: number, file: string, slice: (begin: number, end: number, into?: Uint8Array) => Uint8Array, lazy: boolean,
): SafetensorsFile {
  const bad = (msg: string, field?: string) => fail('E_FORMAT', `${file}: ${msg}`, { file, field });
  const n = headerLength(head, fileBytes, file);
  const header = decodeUtf8Json(head.subarray(8, 8 + n), file, MAX_HEADER_BYTES, 'safetensors header');
  if (!isObject(header)) throw bad(`safetensors header must be a JSON object, got ${kind(header)}`);

  const dataStart = 8 + n;
  const dataLen = fileBytes - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  const spans: { name: string; begin: number; end: number }[] = [];

  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(entry)) throw bad(`__metadata__ must be an object of strings, got ${kind(entry)}`, name);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`__metadata__["${k}"] must be a string, got ${kind(v)}`, name);
        // defineProperty: a key named "__proto__" stays a plain key instead of replacing the prototype.
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const t = `tensor "${name}"`;
    if (!isObject(entry)) throw bad(`${t}: expected an object with dtype, shape and data_offsets, got ${kind(entry)}`, name);

    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') throw bad(`${t}: dtype must be a string, got ${kind(dtype)}`, name);
    if (!Object.hasOwn(DTYPE_BYTES, dtype)) { // hasOwn: "toString" is not a dtype
      if (OTHER_DTYPES.has(dtype)) {
        throw fail('E_DTYPE', `${file}: ${t} has dtype ${dtype}, expected F32, F16 or BF16`, { file, field: name });
      }
      throw bad(`${t}: unknown dtype ${JSON.stringify(dtype).slice(0, 40)}, expected F32, F16 or BF16`, name);
    }
    const dt = dtype as SafetensorsDType;

    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw bad(`${t}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)?.slice(0, 80)}`, name);
    }
    // Element count, refusing to leave the exactly-representable range (a zero dim makes it 0 regardless).
    let numel = 1;
    if (!shape.includes(0)) {
      for (const d of shape as number[]) {
        if (numel > Number.MAX_SAFE_INTEGER / d) throw bad(`${t}: shape [${shape.join(', ')}] has too many elements`, name);
        numel *= d;
      }
    } else numel = 0;

    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw bad(`${t}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)?.slice(0, 80)}`, name);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) {
      throw bad(`${t}: data_offsets [${begin}, ${end}] are outside the file (data section is ${dataLen} bytes)`, name);
    }
    const expected = numel * DTYPE_BYTES[dt];
    if (end - begin !== expected) {
      throw bad(`${t}: data_offsets span ${end - begin} bytes, but ${dt} shape [${shape.join(', ')}] needs ${expected}`, name);
    }

    const te: TensorEntry = { name, dtype: dt, shape: shape.slice() as number[], file, data: new Uint8Array(0) };
    const [from, to] = [dataStart + begin, dataStart + end];
    if (lazy) {
      Object.defineProperty(te, 'data', { get: () => slice(from, to), enumerable: true });
      const readRange = (offset: number, length: number, into?: Uint8Array) => {
        if (offset < 0 || length < 0 || from + offset + length > to) throw new RangeError(`readRange ${offset}+${length} of a ${to - from}-byte tensor`);
        return slice(from + offset, from + offset + length, into);
      };
      Object.defineProperty(te, 'readRange', { value: readRange, writable: true, enumerable: false });
    }
    else te.data = slice(from, to);
    tensors.set(name, te);
    if (end > begin) spans.push({ name, begin, end }); // empty tensors share no bytes with anything
  }

  // Overlap check: in begin order, each span must start at or after the furthest end so far.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1, prev = spans[0]; i < spans.length; i++) {
    const cur = spans[i];
    if (cur.begin < prev.end) {
      throw bad(`tensors "${prev.name}" [${prev.begin}, ${prev.end}] and "${cur.name}" [${cur.begin}, ${cur.end}] overlap`, cur.name);
    }
    prev = cur.end > prev.end ? cur : prev;
  }

  return { file, tensors, metadata };
}

function tensorBytes(t: TensorEntry): number {
  return t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decode a tensor's data to f32 (F16 and BF16 converted exactly; little-endian; handle unaligned offsets by copying).
 * Aligned F32 data on a little-endian host comes back as a view sharing memory with the file bytes: treat it as read-only.
 */
export function toFloat32(t: TensorEntry, widenF16?: (bits: Uint16Array) => Float32Array): Float32Array {
  const { data } = t;
  const size = DTYPE_BYTES[t.dtype];
  const n = data.byteLength / size;
  if (!LITTLE_ENDIAN) return decodeWithDataView(t, n);
  // Typed-array views need byteOffset aligned to the element size; otherwise copy to a fresh (aligned) buffer.
  const aligned = data.byteOffset % size === 0 ? data : data.slice();
  if (t.dtype === 'F32') return new Float32Array(aligned.buffer, aligned.byteOffset, n);
  const halves = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  if (t.dtype === 'BF16') {
    // bf16 is the high half of an f32: shifting the bits is exact and keeps NaN payloads.
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = halves[i] << 16;
    return new Float32Array(out.buffer);
  }
  if (widenF16) return widenF16(halves);
  const table = f16Table32();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[halves[i]];
  return out;
}

/** Big-endian hosts (rare): read each element explicitly as little-endian. */
function decodeWithDataView(t: TensorEntry, n: number): Float32Array {
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Float32Array(n);
  const table = f16Table32();
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    if (t.dtype === 'F32') out[i] = view.getFloat32(i * 4, true);
    else if (t.dtype === 'F16') out[i] = table[view.getUint16(i * 2, true)];
    else bits[i] = view.getUint16(i * 2, true) << 16;
  }
  return out;
}

export interface WeightSet {
  files: string[];
  tensors: Map<string, TensorEntry>;
}

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';

/**
 * model.safetensors, or model.safetensors.index.json + its shards. Progress/abort passed through to source.read.
 * E_FILE if neither exists. When both exist the single file wins (as in transformers).
 */
export async function readSafetensorsWeights(source: FileSource, opts: ReadOptions & { byTensor?: boolean } = {}): Promise<WeightSet> {
  throwIfAborted(opts.signal, `loading weights from ${source.label}`);
  // byTensor: where the source reads byte ranges, read headers now and each tensor when asked for.
  const readWeights = async (name: string, readOpts: ReadOptions): Promise<SafetensorsFile> => {
    if (!opts.byTensor || !source.readRangeSync) return parseSafetensors(await source.read(name, readOpts), name);
    const size = await source.size(name);
    const readRange = source.readRangeSync.bind(source, name);
    const parsed = parseSafetensorsFromRanges(readRange, size, name);
    const total = [...parsed.tensors.values()].reduce((t, e) => t + tensorBytes(e), 0);
    let loaded = 0;
    // progress: the tensor bytes read so far (each byte of a tensor counted once, however often it is read)
    const counted = new Map<string, number>();
    const count = (e: TensorEntry, bytes: number) => {
      const before = counted.get(e.name) ?? 0, after = Math.min(tensorBytes(e), before + bytes);
      if (after === before) return;
      counted.set(e.name, after);
      loaded += after - before;
      readOpts.onProgress?.({ file: name, loaded, total });
    };
    for (const e of parsed.tensors.values()) {
      const { get } = Object.getOwnPropertyDescriptor(e, 'data')!;
      const readRange = e.readRange!;
      Object.defineProperty(e, 'data', {
        enumerable: true,
        get: () => {
          throwIfAborted(opts.signal, `reading ${describe(source, name)}`);
          const bytes = get!.call(e) as Uint8Array;
          count(e, bytes.byteLength);
          return bytes;
        },
      });
      e.readRange = (offset, length, into) => {
        throwIfAborted(opts.signal, `reading ${describe(source, name)}`);
        const bytes = readRange(offset, length, into);
        count(e, length);
        return bytes;
      };
    }
    return parsed;
  };
  if (await source.has(SINGLE)) {
    const parsed = await readWeights(SINGLE, opts);
    return { files: [SINGLE], tensors: parsed.tensors };
  }
  if (!(await source.has(INDEX))) {
    throw fail('E_FILE', `${source.label}: no weights found, expected ${SINGLE} or ${INDEX}`, { file: SINGLE });
  }

  // Check the size before reading so a huge hostile index is never loaded.
  const indexSize = await source.size(INDEX);
  if (indexSize > DEFAULT_MAX_JSON_BYTES) {
    throw fail('E_FORMAT', `${describe(source, INDEX)} is ${indexSize} bytes, more than the ${DEFAULT_MAX_JSON_BYTES}-byte limit`, { file: INDEX });
  }
  const index = decodeUtf8Json(await source.read(INDEX, opts), INDEX);
  const badIndex = (msg: string, field?: string) => fail('E_FORMAT', `${INDEX}: ${msg}`, { file: INDEX, field });
  if (!isObject(index)) throw badIndex(`expected a JSON object, got ${kind(index)}`);
  const weightMap = index.weight_map;
  if (!isObject(weightMap)) throw badIndex(`"weight_map" must be an object of tensor name -> shard file, got ${kind(weightMap)}`, 'weight_map');

  const byShard = new Map<string, string[]>(); // shard -> tensors the index puts there
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || !isPlainRelativePath(shard)) {
      throw badIndex(`weight_map["${tensor}"] must be a relative file name inside the model folder, got ${JSON.stringify(shard)?.slice(0, 80)}`, tensor);
    }
    const list = byShard.get(shard) ?? [];
    list.push(tensor);
    byShard.set(shard, list);
  }
  if (byShard.size === 0) throw badIndex('"weight_map" lists no tensors', 'weight_map');

  const files = [...byShard.keys()].sort();
  // Every shard must exist before we spend time reading any of them.
  for (const shard of files) {
    if (!(await source.has(shard))) {
      const tensor = byShard.get(shard)![0];
      throw fail('E_FILE', `${describe(source, shard)} not found (listed in ${INDEX} for tensor "${tensor}")`, { file: shard, field: tensor });
    }
  }

  const tensors = new Map<string, TensorEntry>();
  for (const shard of files) {
    throwIfAborted(opts.signal, `loading weights from ${source.label}`);
    const parsed = await readWeights(shard, opts);
    for (const tensor of byShard.get(shard)!) {
      if (!parsed.tensors.has(tensor)) {
        throw fail('E_FORMAT', `${shard}: tensor "${tensor}" is missing, though ${INDEX} lists it there`, { file: shard, field: tensor });
      }
    }
    for (const [name, entry] of parsed.tensors) {
      const other = tensors.get(name);
      if (other) {
        throw fail('E_FORMAT', `tensor "${name}" is present in two shards: ${other.file} and ${shard}`, { file: shard, field: name });
      }
      tensors.set(name, entry);
    }
  }
  return { files, tensors };
}

/** Shard names come from an untrusted file: no absolute paths, drive letters or '..' segments. */
function isPlainRelativePath(name: string): boolean {
  return (
    name !== '' &&
    !name.includes('\0') &&
    !/^[\\/]/.test(name) &&
    !/^[a-zA-Z]:/.test(name) &&
    !name.split(/[\\/]/).includes('..')
  );
}
