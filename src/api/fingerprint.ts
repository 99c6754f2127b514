/**
 * A fast 64-bit content hash for model fingerprints: two independent 32-bit
 * multiply-xorshift lanes over the bytes. Not cryptographic; it tells copies of
 * the same weights apart from different weights, at memory speed.
 */
export class Hasher {
  private a = 0x811c9dc5 | 0;
  private b = 0x9747b28c | 0;

  update(bytes: Uint8Array): this {
    this.absorb(bytes);
    this.mixLength(bytes.length);
    return this;
  }

  /**
   * The same hash as `update` of the parts joined, fed part by part (a tensor uploaded piece by
   * piece is hashed without being whole in memory). Every part but the last must be a multiple
   * of 4 bytes long.
   */
  stream(): { push(part: Uint8Array): void; end(): void } {
    let total = 0, closed = false;
    return {
      push: (part) => {
        if (closed) throw new Error('Hasher.stream: a part after one whose length is not a multiple of 4');
        this.absorb(part);
        total += part.length;
        closed = (part.length & 3) !== 0;
      },
      end: () => this.mixLength(total),
    };
  }

  /** The lanes over `bytes`: whole 4-byte words, then the tail bytes one at a time. */
  private absorb(bytes: Uint8Array): void {
    const whole = bytes.length & ~3;
    // Word reads need 4-byte alignment; copy the rare unaligned view once.
    const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice(0, whole);
    const words = new Uint32Array(aligned.buffer, aligned.byteOffset, whole >>> 2);
    let a = this.a, b = this.b;
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      a = Math.imul(a ^ w, 0x01000193);
      b = Math.imul(b ^ w, 0x5bd1e995);
      b ^= b >>> 15;
    }
    for (let i = whole; i < bytes.length; i++) {
      a = Math.imul(a ^ bytes[i], 0x01000193);
      b = Math.imul(b ^ bytes[i], 0x5bd1e995);
    }
    this.a = a;
    this.b = b;
  }

  /** Length is mixed in so that trailing zeros change the hash. */
  private mixLength(length: number): void {
    this.a = Math.imul(this.a ^ length, 0x01000193);
    this.b = Math.imul(this.b ^ length, 0x5bd1e995);
  }

  updateString(s: string): this {
    return this.update(new TextEncoder().encode(s));
  }

  hex(): string {
    const h = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
    return h(this.a) + h(this.b);
  }
}

/**
 * Feeds a Hasher tensor by tensor in a fixed order (the model's tensor list) while the loader
 * reads the tensors in its own order, so that a loader reading each tensor from the file when it
 * needs it reads it once, not once for the hash and again for the weights. A tensor seen ahead
 * of its turn is kept until its turn (at most `maxAheadBytes` of them; beyond that they are read
 * again then); `finish` hashes whatever the loader never asked for, reading it with `read`.
 * The result is the same as hashing every tensor in order.
 */
export class OrderedHasher {
  private next = 0;
  private readonly position: Map<string, number>;
  private readonly ahead = new Map<string, Uint8Array>();
  private aheadBytes = 0;

  constructor(
    private readonly hasher: Hasher,
    private readonly order: readonly string[],
    private readonly read: (name: string) => Uint8Array,
    private readonly maxAheadBytes = 64 * 1024 * 1024,
  ) {
    this.position = new Map(order.map((n, i) => [n, i]));
  }

  /** The loader has `name`'s bytes in hand. */
  saw(name: string, bytes: Uint8Array): void {
    const at = this.position.get(name);
    if (at === undefined || at < this.next) return; // not hashed, or hashed already
    if (at > this.next) {
      if (!this.ahead.has(name) && this.aheadBytes + bytes.byteLength <= this.maxAheadBytes) {
        this.ahead.set(name, bytes);
        this.aheadBytes += bytes.byteLength;
      }
      return;
    }
    this.hasher.update(bytes);
    this.next++;
    this.drain();
  }

  /**
   * When `name` is the next tensor to hash: a stream to feed its bytes into in order (then `end`),
   * for a loader that reads it piece by piece. Null when it is not next: read it whole instead.
   */
  streamNext(name: string): { push(part: Uint8Array): void; end(): void } | null {
    if (this.position.get(name) !== this.next || this.ahead.has(name)) return null;
    const s = this.hasher.stream();
    return {
      push: (part) => s.push(part),
      end: () => {
        s.end();
        this.next++;
        this.drain();
      },
    };
  }

  /** Hashes the rest in order and returns the Hasher. */
  finish(): Hasher {
    while (this.next < this.order.length) {
      const name = this.order[this.next];
      this.hasher.update(this.ahead.get(name) ?? this.read(name));
      this.dropAhead(name);
      this.next++;
      this.drain();
    }
    return this.hasher;
  }

  private drain(): void {
    for (let name = this.order[this.next]; this.next < this.order.length && this.ahead.has(name); name = this.order[this.next]) {
      this.hasher.update(this.ahead.get(name)!);
      this.dropAhead(name);
      this.next++;
    }
  }

  private dropAhead(name: string): void {
    const b = this.ahead.get(name);
    if (b) {
      this.aheadBytes -= b.byteLength;
      this.ahead.delete(name);
    }
  }
}
