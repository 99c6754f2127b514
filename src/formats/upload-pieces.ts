/**
 * Uploading a large checkpoint tensor without holding it whole in JavaScript memory: read from
 * the file a few MiB at a time straight into the backend (Backend.uploadFrom), hashed into the
 * model's fingerprint on the way. Shared by the safetensors and GGUF loaders.
 */
import type { Backend, Tensor, WeightDType } from '../backends/backend.js';

/** How a getter hands the fingerprint the bytes it reads (OrderedHasher). */
export interface FingerprintFeed {
  saw(name: string, bytes: Uint8Array): void;
  /** A stream for `name`'s bytes piece by piece, when it is the next to hash; else null. */
  streamNext(name: string): { push(part: Uint8Array): void; end(): void } | null;
}

/**
 * One load's piece buffers, reused from tensor to tensor: a piece is hashed, decoded and copied
 * into the backend before the next is read, so no piece outlives its turn and the load makes no
 * garbage per piece (V8 and the C allocator give large freed buffers back late, if at all).
 */
export class PieceBuffers {
  private bytes: Uint8Array | null = null;
  private values: Float32Array | null = null;
  bytesFor(n: number): Uint8Array {
    if (!this.bytes || this.bytes.byteLength < n) this.bytes = new Uint8Array(n);
    return this.bytes;
  }
  /** An f32 buffer of exactly `n` values (a view of the reused one). */
  valuesFor(n: number): Float32Array {
    if (!this.values || this.values.length < n) this.values = new Float32Array(n);
    return this.values.subarray(0, n);
  }
}

/**
 * `backend.uploadFrom` of a checkpoint tensor read from the file piece by piece (`readPiece`: bytes
 * of the tensor's data, read into `into`), each piece hashed into the fingerprint as it passes and
 * decoded to f32 by `decode` (which may return a view of the piece or of `buffers.valuesFor`); null
 * (the caller reads the tensor whole) when the backend or the file cannot, or the fingerprint
 * needs other tensors first.
 */
export function uploadInPieces(
  hash: FingerprintFeed, buffers: PieceBuffers, name: string, backend: Backend, shape: readonly number[], dtype: WeightDType,
  bytesPerValue: number, readPiece: ((offset: number, length: number, into?: Uint8Array) => Uint8Array) | undefined,
  decode: (bytes: Uint8Array) => Float32Array,
): Tensor | null {
  if (!backend.uploadFrom || !readPiece) return null;
  const stream = hash.streamNext(name);
  if (!stream) return null;
  const t = backend.uploadFrom(shape, dtype, (start, count) => {
    const bytes = readPiece(start * bytesPerValue, count * bytesPerValue, buffers.bytesFor(count * bytesPerValue));
    stream.push(bytes);
    return decode(bytes);
  });
  stream.end();
  return t;
}

