/**
 * The saved-session format: everything needed to continue a session exactly as if
 * it had never stopped, in a blob that can be stored, sent and resumed on any backend.
 *
 *   offset 0   8 bytes  magic "MAMBAST\0"
 *          8   u32 LE   format version (1)
 *         12   u32 LE   header length H
 *         16   H bytes  header JSON (StateHeader)
 *   16+H (padded to 4)  f32 LE payload: each state tensor in header order, then each
 *                       KV cache's K then V ([1, kvHeads, length, headDim] each, header.kv
 *                       order; absent for pure SSM models), then the last logits when header.hasLogits
 *   end−4      u32 LE   CRC-32 of every byte before it
 *
 * Nothing from the blob is trusted until the checksum, the fingerprint and every
 * shape have been checked against the model resuming it.
 */
import { fail } from '../errors.js';

const MAGIC = [0x4d, 0x41, 0x4d, 0x42, 0x41, 0x53, 0x54, 0x00]; // "MAMBAST\0"
export const STATE_FORMAT_VERSION = 1;
const MAX_HEADER_BYTES = 1 << 20;

export interface StateHeader {
  fingerprint: string;
  architecture: string;
  /** Tokens consumed into the state. */
  position: number;
  /** Sampled and emitted, not yet fed to the model. */
  pendingToken: number | null;
  /** Sampler random state (4 × uint32). */
  rng: number[];
  /** Generated ids not yet turned into text (an incomplete UTF-8 sequence). */
  decoderPending: number[];
  /** Shapes of the state tensors, in order. */
  tensors: number[][];
  /** Whether the next-token logits follow the tensors (a session that ended on prefill). */
  hasLogits: boolean;
  /** The attention layers' KV caches, in layer order (hybrids and transformers; omitted when none). */
  kv?: KvHeader[];
}

export interface KvHeader {
  kvHeads: number;
  headDim: number;
  /** Tokens held (equals `position`). */
  length: number;
}

export interface StateContents {
  header: StateHeader;
  tensors: Float32Array[];
  /** K and V of each cache, [1, kvHeads, length, headDim] each. */
  kv?: { k: Float32Array; v: Float32Array }[];
  logits: Float32Array | null;
}

let crcTable: Uint32Array | undefined;
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function encodeState({ header, tensors, kv = [], logits }: StateContents): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const payloadStart = (16 + json.length + 3) & ~3;
  tensors = [...tensors, ...kv.flatMap(({ k, v }) => [k, v])];
  const floats = tensors.reduce((n, t) => n + t.length, 0) + (logits?.length ?? 0);
  const out = new Uint8Array(payloadStart + floats * 4 + 4);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(8, STATE_FORMAT_VERSION, true);
  view.setUint32(12, json.length, true);
  out.set(json, 16);
  let off = payloadStart;
  for (const t of [...tensors, ...(logits ? [logits] : [])]) {
    for (let i = 0; i < t.length; i++, off += 4) view.setFloat32(off, t[i], true);
  }
  view.setUint32(off, crc32(out.subarray(0, off)), true);
  return out;
}

function bad(message: string): never {
  throw fail('E_STATE', `saved state: ${message}`, { field: 'state' });
}

/** Parse and check a blob against what the resuming model expects. */
export function decodeState(
  blob: Uint8Array,
  expect: { fingerprint: string; tensorShapes: number[][]; vocabSize: number; kvCaches?: { kvHeads: number; headDim: number }[]; maxContext?: number },
): StateContents {
  if (!(blob instanceof Uint8Array)) bad('expected a Uint8Array from session.saveState()');
  if (blob.length < 20 || MAGIC.some((b, i) => blob[i] !== b)) bad('not a mamba-edge state blob (bad magic)');
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const version = view.getUint32(8, true);
  if (version !== STATE_FORMAT_VERSION) bad(`format version ${version} is not supported (expected ${STATE_FORMAT_VERSION})`);
  const stored = view.getUint32(blob.length - 4, true);
  if (crc32(blob.subarray(0, blob.length - 4)) !== stored) bad('checksum mismatch: the blob is corrupted or truncated');
  const headerLength = view.getUint32(12, true);
  if (headerLength > MAX_HEADER_BYTES || 16 + headerLength > blob.length - 4) bad(`header length ${headerLength} runs past the blob`);
  let header: StateHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(blob.subarray(16, 16 + headerLength)));
  } catch {
    bad('header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null) bad('header is not an object');
  if (header.fingerprint !== expect.fingerprint) {
    bad(`it belongs to model ${String(header.fingerprint)}, not to this model (${expect.fingerprint})`);
  }
  const isInt = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  if (!isInt(header.position, 0, Number.MAX_SAFE_INTEGER)) bad('position is not a non-negative integer');
  if (header.pendingToken !== null && !isInt(header.pendingToken, 0, expect.vocabSize - 1)) bad('pendingToken is not a token id');
  if (!Array.isArray(header.rng) || header.rng.length !== 4 || !header.rng.every((v) => isInt(v, 0, 0xffffffff))) bad('rng is not 4 uint32 words');
  if (!Array.isArray(header.decoderPending) || header.decoderPending.length > 64 || !header.decoderPending.every((v) => isInt(v, 0, expect.vocabSize - 1))) {
    bad('decoderPending is not a short list of token ids');
  }
  if (typeof header.hasLogits !== 'boolean') bad('hasLogits is not a boolean');
  const shapes = expect.tensorShapes;
  if (!Array.isArray(header.tensors) || header.tensors.length !== shapes.length
    || header.tensors.some((s, i) => !Array.isArray(s) || s.length !== shapes[i].length || s.some((d, j) => d !== shapes[i][j]))) {
    bad('state tensor shapes do not match this model');
  }
  const kv = header.kv ?? [];
  if (!Array.isArray(kv) || kv.some((c) => typeof c !== 'object' || c === null || !isInt(c.kvHeads, 1, 1 << 16) || !isInt(c.headDim, 1, 1 << 16) || c.length !== header.position)) {
    bad('kv is not a list of { kvHeads, headDim, length = position } caches');
  }
  if (expect.kvCaches && (kv.length !== expect.kvCaches.length || kv.some((c, i) => c.kvHeads !== expect.kvCaches![i].kvHeads || c.headDim !== expect.kvCaches![i].headDim))) {
    bad(`KV caches [${kv.map((c) => `${c.kvHeads}×${c.headDim}`)}] do not match this model's attention layers [${expect.kvCaches.map((c) => `${c.kvHeads}×${c.headDim}`)}]`);
  }
  if (kv.length > 0 && expect.maxContext !== undefined && header.position > expect.maxContext) {
    throw fail('E_MEMORY', `saved state: its KV caches hold ${header.position} tokens, but maxMemoryBytes fits at most ${expect.maxContext}`, { field: 'maxMemoryBytes' });
  }
  const kvFloats = kv.map((c) => c.kvHeads * c.length * c.headDim);
  const payloadStart = (16 + headerLength + 3) & ~3;
  const floats = shapes.reduce((n, s) => n + numel(s), 0) + 2 * kvFloats.reduce((a, b) => a + b, 0) + (header.hasLogits ? expect.vocabSize : 0);
  if (payloadStart + floats * 4 + 4 !== blob.length) bad(`payload is ${blob.length - 4 - payloadStart} bytes, expected ${floats * 4}`);
  let off = blob.byteOffset + payloadStart;
  const take = (n: number) => {
    const copy = new Float32Array(n);
    new Uint8Array(copy.buffer).set(new Uint8Array(blob.buffer, off, n * 4));
    off += n * 4;
    return copy;
  };
  const tensors = shapes.map((s) => take(numel(s)));
  const caches = kvFloats.map((n) => ({ k: take(n), v: take(n) }));
  const logits = header.hasLogits ? take(expect.vocabSize) : null;
  return { header, tensors, kv: caches, logits };
}
