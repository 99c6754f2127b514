/**
 * Mutations shared by the fuzz targets: hostile JSON values and edits of a parsed JSON
 * document (structure-aware), a Python-style JSON writer that can also emit what
 * JSON.stringify cannot (NaN, Infinity, absurd nesting, enormous strings and arrays, duplicate keys),
 * and byte-level edits (bit flips, truncation, insertion, overwrite) of the serialized result.
 *
 * A new parser's target (GGUF, a KV-cache blob, ...) builds its inputs from these: see RELIABILITY.md.
 */
import fc from 'fast-check';

/** Placeholders the writer expands: their size is decided at write time, not stored in memory. */
export interface Deep { readonly $deep: number; readonly open: '[' | '{"a":' }
export interface Big { readonly $big: number; readonly kind: 'string' | 'array' | 'object' }
const placeholderSize = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 1_000_000;
// A later edit may have changed a placeholder's fields: then it is written as the plain object it now is.
export const isDeep = (v: unknown): v is Deep => typeof v === 'object' && v !== null && '$deep' in v && placeholderSize(v.$deep) && ((v as Deep).open === '[' || (v as Deep).open === '{"a":');
export const isBig = (v: unknown): v is Big => typeof v === 'object' && v !== null && '$big' in v && placeholderSize(v.$big) && ['string', 'array', 'object'].includes((v as Big).kind);

/** Numbers that break careless size and offset arithmetic. */
export const HOSTILE_NUMBERS = [
  0, -0, 1, -1, 2, 3, 7, 8, 31, 32, 255, 256, 65535, 65536, 2 ** 24, 2 ** 24 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
  2 ** 32 + 1, 2 ** 40, 2 ** 52, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e21, 1e300, 1.7976931348623157e308,
  -(2 ** 31), -(2 ** 53), -1e300, 0.5, 1.5, -0.5, 1e-300, 5e-324, NaN, Infinity, -Infinity,
];

/** Strings that mean something to one of our parsers or to JavaScript objects. */
export const HOSTILE_STRINGS = [
  '', 'F32', 'F16', 'BF16', 'I64', 'F64', 'U8', 'BOOL', 'F8_E4M3', 'f32', 'Q8_0', 'toString', '__proto__', 'constructor',
  'hasOwnProperty', '__metadata__', '__float__', 'NaN', 'Infinity', 'mamba', 'mamba2', 'rnn', 'lstm', 'gru', 's4d', 'llama',
  'BPE', 'WordPiece', 'Unigram', 'ByteLevel', 'Split', 'Sequence', '<|endoftext|>', '\u0000', '\ud800', '\uffff', '..', '../x',
  '/etc/passwd', 'C:\\x', 'a'.repeat(300), '1e999', '-1', '{}', '[]',
];

/** A JSON value meant to upset a parser: boundary numbers, odd strings, wrong types, deep or huge containers. */
export function hostileValue(): fc.Arbitrary<unknown> {
  const scalar = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...HOSTILE_NUMBERS) },
    { weight: 3, arbitrary: fc.integer({ min: -1000, max: 100_000 }) },
    { weight: 1, arbitrary: fc.double() },
    { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 2, arbitrary: fc.constantFrom(null, true, false) },
  );
  return fc.oneof(
    { weight: 12, arbitrary: scalar },
    { weight: 3, arbitrary: fc.array(scalar, { maxLength: 5 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('a', 'type', 'id', '__float__', '__proto__'), scalar, { maxKeys: 3 }) },
    { weight: 1, arbitrary: fc.record({ $deep: fc.constantFrom(100, 5_000, 200_000), open: fc.constantFrom('[' as const, '{"a":' as const) }) },
    { weight: 1, arbitrary: fc.record({ $big: fc.constantFrom(10_000, 200_000), kind: fc.constantFrom('string' as const, 'array' as const, 'object' as const) }) },
  );
}

type Path = (string | number)[];

/** Every node's path in a JSON document (the root is []). */
export function pathsOf(doc: unknown, limit = 5000): Path[] {
  const out: Path[] = [];
  const stack: [unknown, Path][] = [[doc, []]];
  while (stack.length && out.length < limit) {
    const [v, p] = stack.pop()!;
    out.push(p);
    if (Array.isArray(v)) v.forEach((x, i) => stack.push([x, [...p, i]]));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) stack.push([x, [...p, k]]);
  }
  return out;
}

export type JsonEdit =
  | { op: 'replace'; at: number; value: unknown }
  | { op: 'delete'; at: number }
  | { op: 'insert'; at: number; key: string; value: unknown }
  | { op: 'duplicate'; at: number }
  | { op: 'wrap'; at: number };

export function jsonEdit(keys: string[] = []): fc.Arbitrary<JsonEdit> {
  const at = fc.nat();
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('replace' as const), at, value: hostileValue() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at, key: keys.length ? fc.constantFrom(...keys, ...HOSTILE_STRINGS) : fc.constantFrom(...HOSTILE_STRINGS), value: hostileValue() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), at }) },
  );
}

const clone = <T>(v: T): T => structuredClone(v);

function parentOf(doc: unknown, path: Path): [Record<string | number, unknown> | unknown[], string | number] | null {
  if (path.length === 0) return null;
  let node = doc as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  return [node, path[path.length - 1]];
}

/** Applies edits to a copy of `doc` (paths are re-read after each edit). */
export function applyJsonEdits(doc: unknown, edits: JsonEdit[]): unknown {
  let root = clone(doc);
  for (const e of edits) {
    const paths = pathsOf(root);
    const path = paths[e.at % paths.length];
    const parent = parentOf(root, path);
    const get = () => (parent ? (parent[0] as Record<string | number, unknown>)[parent[1]] : root);
    const set = (v: unknown) => { if (parent) (parent[0] as Record<string | number, unknown>)[parent[1]] = v; else root = v; };
    switch (e.op) {
      case 'replace': set(clone(e.value)); break;
      case 'delete':
        if (!parent) break;
        if (Array.isArray(parent[0])) parent[0].splice(parent[1] as number, 1);
        else delete (parent[0] as Record<string, unknown>)[parent[1]];
        break;
      case 'insert': {
        const node = get();
        if (Array.isArray(node)) node.push(clone(e.value));
        else if (node !== null && typeof node === 'object') Object.defineProperty(node, e.key, { value: clone(e.value), enumerable: true, writable: true, configurable: true });
        break;
      }
      case 'duplicate': {
        if (!parent) break;
        if (Array.isArray(parent[0])) parent[0].splice(parent[1] as number, 0, clone(get()));
        else (parent[0] as Record<string, unknown>)[`${parent[1]}_copy`] = clone(get());
        break;
      }
      case 'wrap': set([get()]); break;
    }
  }
  return root;
}

/**
 * Python-flavoured JSON: NaN / Infinity as bare literals (as json.dumps writes them), the
 * Deep and Big placeholders expanded, and `dupKey` repeating the root object's first key
 * at its end (JSON.parse keeps the last). Iterative over the document's own depth is not
 * needed: documents are seed-sized; the absurd depth comes from Deep, written flat.
 */
export function writePyJson(v: unknown, dupKey = false): string {
  const parts: string[] = [];
  const emit = (x: unknown): void => {
    if (isDeep(x)) { parts.push(x.open.repeat(x.$deep), '1', (x.open === '[' ? ']' : '}').repeat(x.$deep)); return; }
    if (isBig(x)) {
      if (x.kind === 'string') parts.push('"', 'x'.repeat(x.$big), '"');
      else if (x.kind === 'array') parts.push('[', new Array(x.$big).fill('0').join(','), ']');
      else parts.push('{', Array.from({ length: x.$big }, (_, i) => `"k${i}":${i}`).join(','), '}');
      return;
    }
    if (typeof x === 'number') { parts.push(Number.isNaN(x) ? 'NaN' : x === Infinity ? 'Infinity' : x === -Infinity ? '-Infinity' : Object.is(x, -0) ? '-0.0' : String(x)); return; }
    if (Array.isArray(x)) {
      parts.push('[');
      x.forEach((y, i) => { if (i) parts.push(','); emit(y); });
      parts.push(']');
      return;
    }
    if (x !== null && typeof x === 'object') {
      parts.push('{');
      Object.entries(x).forEach(([k, y], i) => { if (i) parts.push(','); parts.push(JSON.stringify(k), ':'); emit(y); });
      parts.push('}');
      return;
    }
    parts.push(x === undefined ? 'null' : JSON.stringify(x));
  };
  emit(v);
  if (dupKey && v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const first = Object.entries(v)[0];
    if (first) {
      const closer = parts.pop()!;
      parts.push(',', JSON.stringify(first[0]), ':');
      emit(Array.isArray(first[1]) ? [] : 0);
      parts.push(closer);
    }
  }
  return parts.join('');
}

export type ByteEdit =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'overwrite'; at: number; bytes: Uint8Array };

/** Byte edits; `at` is taken modulo the length when applied. */
export function byteEdit(): fc.Arbitrary<ByteEdit> {
  const at = fc.nat();
  const bytes = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 8 }),
    fc.constantFrom(new Uint8Array(8).fill(0xff), new Uint8Array([0, 0, 0, 0x80]), new Uint8Array([0xef, 0xbb, 0xbf]), new Uint8Array([0xc3]), new Uint8Array([0x7b, 0x22])),
  );
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('insert' as const), at, bytes }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at, count: fc.integer({ min: 1, max: 64 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('overwrite' as const), at, bytes }) },
  );
}

/** Applies byte edits; the input is not modified. `from` confines positions to [from, length) (e.g. past a length field). */
export function applyByteEdits(input: Uint8Array, edits: ByteEdit[], from = 0): Uint8Array {
  let b = input.slice();
  for (const e of edits) {
    const span = Math.max(1, b.length - from);
    const at = Math.min(b.length, from + (e.at % span));
    switch (e.op) {
      case 'flip': if (at < b.length) b[at] ^= 1 << e.bit; break;
      case 'truncate': b = b.slice(0, at); break;
      case 'insert': { const n = new Uint8Array(b.length + e.bytes.length); n.set(b.subarray(0, at)); n.set(e.bytes, at); n.set(b.subarray(at), at + e.bytes.length); b = n; break; }
      case 'delete': { const n = new Uint8Array(Math.max(0, b.length - Math.min(e.count, b.length - at))); n.set(b.subarray(0, at)); n.set(b.subarray(at + e.count), at); b = n; break; }
      case 'overwrite': for (let i = 0; i < e.bytes.length && at + i < b.length; i++) b[at + i] = e.bytes[i]; break;
    }
  }
  return b;
}

export const utf8 = (s: string) => new TextEncoder().encode(s);
