/**
 * A fast 64-bit content hash for model fingerprints: two independent 32-bit
 * multiply-xorshift lanes over the bytes. Not cryptographic; it tells copies of
 * the same weights apart from different weights, at memory speed.
 */
export class Hasher {
  private a = 0x811c9dc5 | 0;
  private b = 0x9747b28c | 0;

  update(bytes: Uint8Array): this {
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
    // Length is mixed in so that trailing zeros change the hash.
    this.a = Math.imul(a ^ bytes.length, 0x01000193);
    this.b = Math.imul(b ^ bytes.length, 0x5bd1e995);
    return this;
  }

  updateString(s: string): this {
    return this.update(new TextEncoder().encode(s));
  }

  hex(): string {
    const h = (x: number) => (x >>> 0).toString(16).padStart(8, '0');
    return h(this.a) + h(this.b);
  }
}
