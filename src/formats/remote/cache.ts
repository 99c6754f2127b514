/**
 * Where remote files are kept between loads. One interface, two stores: a directory in Node
 * (cache-node.ts) and the Cache API in browsers and workers (here). Entries are keyed by the
 * file's URL, which holds the revision, and record the size, the server's ETag and the
 * SHA-256 of the bytes: a read whose bytes do not match (a file corrupted or cut short on
 * disk) drops the entry and the caller downloads again. Nothing is visible under a key
 * until the whole file has arrived and matched its length (commit), so a partial download
 * is never kept.
 */
import type { ByteSink } from './fetch.js';

export interface CacheMeta {
  url: string;
  size: number;
  etag?: string;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
}

export interface EntryWriter extends ByteSink {
  /** Makes the entry visible (atomically) and returns its bytes. */
  commit(info: { etag?: string }): Promise<Uint8Array>;
  /** Drops what was written. */
  discard(): Promise<void>;
}

export interface RemoteCache {
  /** For messages: the directory, or `Cache API "name"`. */
  readonly where: string;
  meta(url: string): Promise<CacheMeta | undefined>;
  /** The entry's bytes if they match its recorded size and SHA-256; otherwise the entry is dropped and undefined returned. */
  read(url: string, meta: CacheMeta): Promise<Uint8Array | undefined>;
  writer(url: string): Promise<EntryWriter>;
  delete(url: string): Promise<void>;
}

export function hex(bytes: ArrayBuffer | Uint8Array): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

/** Collects a download in memory: one buffer when the size is known up front. */
export class MemoryCollector implements ByteSink {
  private buf: Uint8Array | undefined;
  private chunks: Uint8Array[] = [];
  private length = 0;

  async begin(expectedSize: number | undefined, offset = 0): Promise<void> {
    if (offset > 0) {
      if (offset !== this.length) throw new Error(`resume at ${offset}, but ${this.length} bytes are held`);
      return;
    }
    this.buf = expectedSize !== undefined ? new Uint8Array(expectedSize) : undefined;
    this.chunks = [];
    this.length = 0;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.buf && this.length + chunk.byteLength <= this.buf.byteLength) this.buf.set(chunk, this.length);
    else {
      if (this.buf) { this.chunks.push(this.buf.subarray(0, this.length)); this.buf = undefined; }
      this.chunks.push(chunk.slice());
    }
    this.length += chunk.byteLength;
  }

  bytes(): Uint8Array {
    if (this.buf) return this.length === this.buf.byteLength ? this.buf : this.buf.subarray(0, this.length);
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) { out.set(c, at); at += c.byteLength; }
    return out;
  }
}

/** No cache: the download goes to memory only. */
export function memoryWriter(): EntryWriter {
  const c = new MemoryCollector();
  return {
    begin: (n, at) => c.begin(n, at),
    write: (chunk) => c.write(chunk),
    commit: async () => c.bytes(),
    discard: async () => c.begin(0, 0),
  };
}

const H_SIZE = 'x-mamba-edge-size';
const H_SHA = 'x-mamba-edge-sha256';
const H_ETAG = 'x-mamba-edge-etag';

async function sha256(bytes: Uint8Array): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

/** True where the Cache API can be used (browsers and workers in secure contexts). */
export function hasCacheApi(): boolean {
  return typeof (globalThis as { caches?: CacheStorage }).caches?.open === 'function' && typeof crypto?.subtle?.digest === 'function';
}

/**
 * The Cache API store: one named cache, one Response per file, the metadata in its headers.
 * The bytes are collected in memory (the loader needs them there anyway), then put.
 * A put that fails (storage quota) leaves the load working, uncached.
 */
export function cacheApiStore(name: string): RemoteCache {
  const open = () => caches.open(name);
  return {
    where: `Cache API "${name}"`,
    async meta(url) {
      // Opaque origins (sandboxed frames) have `caches` but refuse to open one: run uncached there.
      const res = await open().then((c) => c.match(url)).catch(() => undefined);
      if (!res) return undefined;
      await res.body?.cancel().catch(() => undefined);
      const size = Number(res.headers.get(H_SIZE));
      const sha = res.headers.get(H_SHA);
      if (!Number.isSafeInteger(size) || size < 0 || !sha) return undefined;
      const etag = res.headers.get(H_ETAG) ?? undefined;
      return { url, size, sha256: sha, ...(etag !== undefined ? { etag } : {}) };
    },
    async read(url, meta) {
      try {
        const cache = await open();
        const res = await cache.match(url);
        const bytes = res ? new Uint8Array(await res.arrayBuffer()) : undefined;
        if (bytes && bytes.byteLength === meta.size && (await sha256(bytes)) === meta.sha256) return bytes;
        await cache.delete(url); // altered or cut short: fetch it again
      } catch {
        // unreadable: fetch it again
      }
      return undefined;
    },
    async writer(url) {
      const c = new MemoryCollector();
      return {
        begin: (n, at) => c.begin(n, at),
        write: (chunk) => c.write(chunk),
        async commit(info) {
          const bytes = c.bytes();
          const headers: Record<string, string> = {
            'content-type': 'application/octet-stream', [H_SIZE]: String(bytes.byteLength), [H_SHA]: await sha256(bytes),
            ...(info.etag !== undefined ? { [H_ETAG]: info.etag } : {}),
          };
          try {
            await (await open()).put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
          } catch {
            // quota or storage error: this load still has its bytes, the next one downloads again
          }
          return bytes;
        },
        discard: async () => c.begin(0, 0),
      };
    },
    async delete(url) {
      await open().then((c) => c.delete(url)).catch(() => undefined);
    },
  };
}
