/**
 * FileSource over a remote folder (`hf:owner/name`, `https://…/folder/`), so the rest of
 * loading (config, safetensors shards, tokenizer) is the same as for a local directory.
 *
 * Per file, once: a HEAD says whether it exists, its size and ETag. A cached copy is used when
 * its recorded size and ETag match the HEAD's and its bytes still match their SHA-256;
 * otherwise the file is downloaded (streamed into the cache where there is one) and the
 * cache entry replaced. When the HEAD cannot reach the server (offline), a cached copy is
 * used as it is. A 404 on HEAD means the file does not exist: `has` is false, `read` throws
 * E_FILE naming the URL.
 */
import { fail, throwIfAborted } from '../../errors.js';
import type { FileSource, ReadOptions } from '../source.js';
import { memoryWriter, type CacheMeta, type RemoteCache } from './cache.js';
import { DEFAULT_RETRIES, DEFAULT_RETRY_BASE_MS, download, isTransientFailure, probe, type FetchPolicy } from './fetch.js';
import { fileUrl, parseRemoteSource, type RemoteLocation } from './url.js';

export interface RemoteSourceOptions {
  revision?: string;
  endpoint?: string;
  headers?: Record<string, string>;
  retries?: number;
  /** First backoff delay in ms (doubles per attempt). */
  retryBaseMs?: number;
  /** Where files are kept; undefined: no cache. */
  cache?: RemoteCache;
  /** Fires for probes too (reads may pass their own). */
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

type FileState =
  | { found: false; url: string; status: number }
  | { found: true; url: string; size?: number; etag?: string; cached?: CacheMeta };

export function remoteSource(source: string, opts: RemoteSourceOptions = {}): FileSource & { location: RemoteLocation } {
  const loc = parseRemoteSource(source, opts);
  const retries = opts.retries ?? DEFAULT_RETRIES;
  if (!Number.isInteger(retries) || retries < 0) {
    throw fail('E_ARGUMENT', `retries must be a non-negative integer, got ${retries}`, { field: 'retries' });
  }
  if (opts.headers !== undefined && (typeof opts.headers !== 'object' || opts.headers === null || Object.values(opts.headers).some((v) => typeof v !== 'string'))) {
    throw fail('E_ARGUMENT', 'headers must be an object of header name → string value', { field: 'headers' });
  }
  const fetchFn = opts.fetch ?? globalThis.fetch;
  if (typeof fetchFn !== 'function') throw fail('E_ARGUMENT', `loadModel("${source}"): this runtime has no fetch()`);
  const cache = opts.cache;
  const policy = (signal: AbortSignal | undefined): FetchPolicy => ({
    fetch: fetchFn, retries, retryBaseMs: opts.retryBaseMs ?? DEFAULT_RETRY_BASE_MS, headers: opts.headers ?? {},
    ...(signal ?? opts.signal ? { signal: (signal ?? opts.signal)! } : {}),
  });

  const states = new Map<string, Promise<FileState>>();
  /** Bytes size() had to fetch (no Content-Length on HEAD), handed to the next read. */
  const held = new Map<string, Uint8Array>();
  function state(name: string): Promise<FileState> {
    let p = states.get(name);
    if (!p) {
      p = look(fileUrl(loc, name));
      states.set(name, p);
      p.catch(() => states.delete(name)); // a failed probe is asked again next time
    }
    return p;
  }

  async function look(url: string): Promise<FileState> {
    const meta = cache ? await cache.meta(url) : undefined;
    let head;
    try {
      // With a cached copy, one try: offline should not wait through the backoff.
      head = await probe(url, { ...policy(undefined), retries: meta ? 0 : retries });
    } catch (e) {
      if (meta && isTransientFailure(e)) return { found: true, url, size: meta.size, ...(meta.etag ? { etag: meta.etag } : {}), cached: meta };
      throw e;
    }
    if (!head.found) {
      if (meta) await cache!.delete(url); // gone upstream
      return { found: false, url, status: head.status };
    }
    const fresh = meta !== undefined && (head.size === undefined || head.size === meta.size) && (head.etag === undefined || head.etag === meta.etag);
    return { found: true, url, ...(head.size !== undefined ? { size: head.size } : {}), ...(head.etag !== undefined ? { etag: head.etag } : {}), ...(fresh ? { cached: meta } : {}) };
  }

  const notFound = (name: string, st: { url: string; status: number }) =>
    fail('E_FILE', `${st.url} not found (HTTP ${st.status}): the model folder has no ${name}`, { file: name });

  const src: FileSource & { location: RemoteLocation } = {
    label: loc.label,
    location: loc,
    async has(name) {
      return (await state(name)).found;
    },
    async size(name) {
      const st = await state(name);
      if (!st.found) throw notFound(name, st);
      if (st.size !== undefined) return st.size;
      // The server did not say: fetch it, and keep the bytes for the read that follows.
      const bytes = await src.read(name);
      held.set(name, bytes);
      return bytes.byteLength;
    },
    async read(name, ropts: ReadOptions = {}) {
      const signal = ropts.signal ?? opts.signal;
      throwIfAborted(signal, `reading ${loc.label}/${name}`);
      const kept = held.get(name);
      if (kept) {
        held.delete(name);
        ropts.onProgress?.({ file: name, loaded: kept.byteLength, total: kept.byteLength, from: 'network' });
        return kept;
      }
      const st = await state(name);
      if (!st.found) throw notFound(name, st);
      if (st.cached) {
        const bytes = await cache!.read(st.url, st.cached);
        if (bytes) {
          ropts.onProgress?.({ file: name, loaded: bytes.byteLength, total: bytes.byteLength, from: 'cache' });
          return bytes;
        }
        // corrupt on disk: dropped by read(); download it again below
      }
      throwIfAborted(signal, `reading ${loc.label}/${name}`);
      const writer = cache ? await cache.writer(st.url) : memoryWriter();
      try {
        const r = await download(st.url, policy(signal), writer, st.size, (loaded, total) =>
          ropts.onProgress?.({ file: name, loaded, total: total ?? 0, from: 'network' }));
        if ('missing' in r) throw notFound(name, { url: st.url, status: r.missing });
        return await writer.commit(r.etag !== undefined ? { etag: r.etag } : {});
      } catch (e) {
        await writer.discard();
        states.delete(name); // the next read probes again
        throw e;
      }
    },
  };
  return src;
}
