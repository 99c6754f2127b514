/**
 * FileSource: the one way the format layer reads a model's files, so the same
 * loaders work on a Node directory (source-node.ts), on bytes handed over in
 * memory (browsers, tests) and later on remote fetches. Browser-safe: no Node imports.
 */
import { fail, throwIfAborted } from '../errors.js';

export interface ReadOptions {
  signal?: AbortSignal;
  onProgress?: (p: { file: string; loaded: number; total: number; from?: 'network' | 'cache' }) => void;
}

export interface FileSource {
  /** For messages: the directory path, or '<memory>'. */
  readonly label: string;
  has(name: string): Promise<boolean>;
  /** Size in bytes; E_FILE naming the file if missing. */
  size(name: string): Promise<number>;
  /** Whole file; E_FILE if missing/unreadable; E_ABORTED if signal fires; reports progress. */
  read(name: string, opts?: ReadOptions): Promise<Uint8Array>;
  /**
   * Set when the source names one model file rather than a folder (a path to a .gguf file,
   * or bytes given alone): the loader reads that file and checks its magic.
   */
  entry?: string;
  /**
   * Optional (Node's directory source has it): `length` bytes of a file from `offset`, read
   * synchronously, into a fresh buffer. Lets a loader read one tensor at a time and drop it
   * once copied, instead of holding the whole file. E_FILE if the file is missing or shorter.
   * With `into` (at least `length` bytes), reads into it instead and returns its first `length`
   * bytes: a loader taking a tensor in pieces reuses one buffer.
   */
  readRangeSync?(name: string, offset: number, length: number, into?: Uint8Array): Uint8Array;
}

/** Path-joins for messages: `${label}/${name}` */
export function describe(source: FileSource, name: string): string {
  return `${source.label}/${name}`;
}

// Tag checks rather than instanceof, so bytes from another realm (worker, iframe, vm) are accepted too.
const tagOf = (v: unknown): string => Object.prototype.toString.call(v);
const isUint8Array = (v: unknown): v is Uint8Array => ArrayBuffer.isView(v) && tagOf(v) === '[object Uint8Array]';
const isArrayBuffer = (v: unknown): v is ArrayBuffer => tagOf(v) === '[object ArrayBuffer]';

/**
 * Files given as bytes: `{ 'config.json': bytes, ... }` or a Map of the same.
 * The entries are snapshotted (later changes to the record do not show), the
 * bytes are not copied: `read` returns the caller's Uint8Array itself.
 */
export function memorySource(
  files: Record<string, Uint8Array | ArrayBuffer> | Map<string, Uint8Array | ArrayBuffer>,
  label = '<memory>',
): FileSource {
  if (files === null || typeof files !== 'object') {
    throw fail('E_ARGUMENT', `memory source ${label}: expected an object or Map of file name -> bytes, got ${files === null ? 'null' : typeof files}`);
  }
  const entries: Iterable<[unknown, unknown]> = files instanceof Map ? files.entries() : Object.entries(files);
  const map = new Map<string, Uint8Array>();
  for (const [name, value] of entries) {
    if (typeof name !== 'string') {
      throw fail('E_ARGUMENT', `memory source ${label}: file names must be strings, got ${typeof name}`);
    }
    if (isUint8Array(value)) map.set(name, value);
    else if (isArrayBuffer(value)) map.set(name, new Uint8Array(value));
    else {
      const got = value === null ? 'null' : typeof value === 'object' ? tagOf(value).slice(8, -1) : typeof value;
      throw fail('E_ARGUMENT', `memory source ${label}: "${name}" must be a Uint8Array or ArrayBuffer, got ${got}`, { field: name });
    }
  }

  const source: FileSource = {
    label,
    async has(name) {
      return map.has(name);
    },
    async size(name) {
      return get(name).byteLength;
    },
    async read(name, opts = {}) {
      throwIfAborted(opts.signal, `reading ${describe(source, name)}`);
      const bytes = get(name);
      // Already in memory: one progress event, at the end.
      opts.onProgress?.({ file: name, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    },
  };
  function get(name: string): Uint8Array {
    const bytes = map.get(name);
    if (!bytes) throw fail('E_FILE', `${describe(source, name)} not found`, { file: name });
    return bytes;
  }
  return source;
}

/**
 * What a caller may hand over in memory: `{ name: bytes }`, a Map of the same, or the bytes of
 * one GGUF file alone. A lone GGUF (bytes alone, or `{ 'x.gguf': bytes }` without a
 * config.json) becomes the source's `entry`.
 */
export function inMemorySource(source: Record<string, Uint8Array | ArrayBuffer> | Map<string, Uint8Array | ArrayBuffer> | Uint8Array | ArrayBuffer): FileSource {
  if (isUint8Array(source) || isArrayBuffer(source) || ArrayBuffer.isView(source)) {
    const bytes = isArrayBuffer(source) ? new Uint8Array(source) : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    return Object.assign(memorySource({ 'model.gguf': bytes }), { entry: 'model.gguf' });
  }
  const files = memorySource(source);
  const names = [...(source instanceof Map ? source.keys() : Object.keys(source))];
  const ggufs = names.filter((n) => typeof n === 'string' && n.toLowerCase().endsWith('.gguf'));
  return !names.includes('config.json') && ggufs.length === 1 ? Object.assign(files, { entry: ggufs[0] }) : files;
}
