/**
 * The one fetch layer of remote sources: HEAD probes and streaming GETs with retries,
 * progress and abort. Browser-, worker- and Node-safe (the global fetch only).
 *
 * Retried (exponential backoff, Retry-After honoured up to a cap): network errors, HTTP 408,
 * 429 and 5xx, a connection dropped mid-body, a body whose length differs from its
 * Content-Length (or from the size the HEAD probe announced). Not retried: 404/410 (the file
 * does not exist), 401/403 (access), other 4xx. Every failure is a MambaEdgeError naming the URL.
 */
import { fail, MambaEdgeError } from '../../errors.js';
import { isWindowScope, isWorkerScope } from '../../browser/context.js';

export interface FetchPolicy {
  fetch: typeof fetch;
  /** Attempts after the first on transient errors. */
  retries: number;
  /** First backoff delay; doubled each attempt (± 25% jitter). */
  retryBaseMs: number;
  headers: Record<string, string>;
  signal?: AbortSignal;
}

export const DEFAULT_RETRIES = 4;
export const DEFAULT_RETRY_BASE_MS = 500;
const MAX_DELAY_MS = 30_000;
/** Progress is reported at most once per this many bytes (and always at the start and end). */
const PROGRESS_STEP = 1 << 20;

export type Probe =
  | { found: false; status: number }
  | { found: true; size?: number; etag?: string };

/**
 * Where a download's bytes go. `begin(size, 0)` starts the file over; `begin(size, n)` with n
 * the bytes written so far continues after them (a resumed download).
 */
export interface ByteSink {
  begin(expectedSize: number | undefined, offset: number): Promise<void>;
  write(chunk: Uint8Array): Promise<void>;
}

/** A failure worth another attempt; carries Retry-After when the server sent one. */
class Transient extends Error {
  constructor(message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const STATUS_TEXT: Record<number, string> = {
  401: 'unauthorized: the repo does not exist, or it is private or gated and needs an access token, e.g. headers: { Authorization: "Bearer hf_…" }',
  403: 'forbidden: a private or gated repo needs an access token with access to it, e.g. headers: { Authorization: "Bearer hf_…" }',
  404: 'not found', 410: 'gone', 429: 'too many requests',
};

/** True for an E_NETWORK that came from transient failures (offline, 5xx, drops), not from a refusal (403, 400). */
export function isTransientFailure(e: unknown): boolean {
  return e instanceof MambaEdgeError && e.code === 'E_NETWORK' && e.cause instanceof Transient;
}

function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function retryAfterMs(res: Response): number | undefined {
  const h = res.headers.get('retry-after');
  if (!h) return undefined;
  const secs = Number(h);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(h);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function aborted(signal: AbortSignal | undefined, url: string): MambaEdgeError {
  return fail('E_ABORTED', `downloading ${url} was aborted`, { file: url, cause: signal?.reason });
}

function sleep(ms: number, signal: AbortSignal | undefined, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal, url));
    const onAbort = () => { clearTimeout(timer); reject(aborted(signal, url)); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `attempt` until it succeeds, fails for good, or the retries are spent. */
async function withRetries<T>(url: string, what: string, policy: FetchPolicy, attempt: () => Promise<T>): Promise<T> {
  for (let n = 0; ; n++) {
    if (policy.signal?.aborted) throw aborted(policy.signal, url);
    try {
      return await attempt();
    } catch (e) {
      if (policy.signal?.aborted) throw aborted(policy.signal, url);
      if (!(e instanceof Transient)) throw e;
      if (n >= policy.retries) {
        const tries = n + 1;
        throw fail('E_NETWORK', `${what} ${url} failed after ${tries} attempt${tries === 1 ? '' : 's'}: ${e.message}`, { file: url, cause: e });
      }
      const backoff = policy.retryBaseMs * 2 ** n * (0.75 + Math.random() * 0.5);
      await sleep(Math.min(MAX_DELAY_MS, Math.max(backoff, e.retryAfterMs ?? 0)), policy.signal, url);
    }
  }
}

// Browsers: the Cache API (or nothing, if disabled) is the cache; do not keep a second copy in
// the HTTP cache. Only in pages and workers: some runtimes (older Cloudflare Workers) throw on
// the `cache` field, and then it is dropped for the rest of the process.
let noStore = isWindowScope() || isWorkerScope();

async function request(url: string, method: 'HEAD' | 'GET', policy: FetchPolicy, extra?: Record<string, string>): Promise<Response> {
  const fetchFn = policy.fetch; // called unbound: browsers' fetch throws "Illegal invocation" with another `this`
  const init = (): RequestInit => ({
    method,
    // identity: Content-Length must count the bytes we receive (browsers drop this header themselves).
    headers: { 'accept-encoding': 'identity', ...policy.headers, ...extra },
    redirect: 'follow', // the Hub answers 302 to its CDN for large files
    ...(policy.signal ? { signal: policy.signal } : {}),
    ...(noStore ? { cache: 'no-store' as RequestCache } : {}),
  });
  try {
    try {
      return await fetchFn(url, init());
    } catch (e) {
      if (!noStore || policy.signal?.aborted || !/\bcache\b/i.test(String((e as Error)?.message))) throw e;
      noStore = false;
      return await fetchFn(url, init());
    }
  } catch (e) {
    if (policy.signal?.aborted) throw aborted(policy.signal, url);
    throw new Transient(`network error: ${e instanceof Error ? (e.cause instanceof Error ? `${e.message} (${e.cause.message})` : e.message) : String(e)}`, undefined, { cause: e });
  }
}

function statusError(url: string, what: string, res: Response): Error {
  // The Hub says why in X-Error-Message (e.g. "Repository not found", "Access to model … is restricted").
  const server = res.headers.get('x-error-message');
  const text = `HTTP ${res.status}${STATUS_TEXT[res.status] ? ` (${STATUS_TEXT[res.status]})` : res.statusText ? ` ${res.statusText}` : ''}${server ? `: ${server}` : ''}`;
  if (isTransientStatus(res.status)) return new Transient(text, retryAfterMs(res));
  return fail('E_NETWORK', `${what} ${url}: ${text}`, { file: url });
}

function contentLength(res: Response): number | undefined {
  const h = res.headers.get('content-length');
  if (h === null || !/^\d+$/.test(h.trim())) return undefined;
  return Number(h);
}

/**
 * True when Content-Length is known to count the bytes we read. Not when a Content-Encoding
 * (gzip, br) was decoded for us; and not for a browser's cross-origin ('cors') response
 * without a visible Content-Encoding, because browsers hide that header unless the server
 * exposes it and do not let us ask for identity. There the browser's own network stack
 * still fails a body cut short of its Content-Length (ERR_CONTENT_LENGTH_MISMATCH), and the
 * cache's SHA-256 and ETag still apply.
 */
function lengthIsBodyLength(res: Response): boolean {
  const enc = res.headers.get('content-encoding');
  if (enc === null) return res.type !== 'cors';
  return enc.trim() === '' || enc.trim().toLowerCase() === 'identity';
}

/**
 * The Hub tells a missing repo (401, as it answers for private repos too) or revision (404)
 * from a missing file by X-Error-Code: those are E_FILE for every file, not an optional
 * file's absence.
 */
function hubNotFound(url: string, res: Response): void {
  const code = res.headers.get('x-error-code');
  if (code !== 'RepoNotFound' && code !== 'RevisionNotFound') return;
  const what = code === 'RepoNotFound'
    ? 'repository not found (check the repo id; a private or gated repo also needs an access token, e.g. headers: { Authorization: "Bearer hf_…" })'
    : 'revision not found (check the branch, tag or commit)';
  const server = res.headers.get('x-error-message');
  throw fail('E_FILE', `${url}: ${what}; HTTP ${res.status}${server ? `: ${server}` : ''}`, { file: url });
}

/**
 * HEAD: does the file exist, its size and ETag. `retries: 0` for revalidating a cached file,
 * so a machine that is offline falls back to its cache at once.
 */
export async function probe(url: string, policy: FetchPolicy): Promise<Probe> {
  return withRetries(url, 'HEAD', policy, async () => {
    const res = await request(url, 'HEAD', policy);
    hubNotFound(url, res);
    if (res.status === 404 || res.status === 410) return { found: false, status: res.status };
    if (res.status === 405) return { found: true }; // a server without HEAD: nothing to compare, the GET will tell
    // A storage server behind a redirect may refuse HEAD on a URL signed for GET (S3 answers 403):
    // unless the Hub itself refused (it says why in X-Error-Code), the GET will tell.
    if ((res.status === 400 || res.status === 403) && res.redirected && !res.headers.has('x-error-code')) return { found: true };
    if (!res.ok) throw statusError(url, 'HEAD', res);
    const size = lengthIsBodyLength(res) ? contentLength(res) : undefined;
    const etag = res.headers.get('etag') ?? undefined;
    return { found: true, ...(size !== undefined ? { size } : {}), ...(etag !== undefined ? { etag } : {}) };
  });
}

export interface Downloaded {
  size: number;
  etag?: string;
}

/** `Content-Range: bytes a-b/size` → [a, size]; undefined when absent or malformed. */
function contentRange(res: Response): [number, number] | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range')?.trim() ?? '');
  return m ? [Number(m[1]), Number(m[3])] : undefined;
}

/**
 * GET `url` into `sink`, whole: the bytes received must equal Content-Length and, when the
 * probe announced one, `expectedSize`. A retry after a connection dropped mid-file asks
 * for the rest only (`Range` + `If-Range` with the strong ETag of the first response, as
 * huggingface_hub does); a server that answers 200 instead (no ranges, or the file changed)
 * restarts the file (so does every retry of a browser's cross-origin download). Progress is monotone across retries (a restarted file reports nothing
 * until it passes the bytes reported before).
 */
export async function download(
  url: string,
  policy: FetchPolicy,
  sink: ByteSink,
  expectedSize: number | undefined,
  onProgress?: (loaded: number, total: number | undefined) => void,
): Promise<Downloaded | { missing: number }> {
  let reported = -1;
  const report = (loaded: number, total: number | undefined, force: boolean) => {
    if (loaded > reported && (force || loaded - reported >= PROGRESS_STEP || reported < 0)) {
      reported = loaded;
      onProgress?.(loaded, total);
    }
  };
  // What an interrupted attempt leaves for the next one to resume from.
  let have = 0;
  let resume: { etag: string; total: number } | undefined;
  return withRetries(url, 'GET', policy, async () => {
    const ranged = resume !== undefined && have > 0 && have < resume.total ? resume : undefined;
    const res = await request(url, 'GET', policy, ranged ? { range: `bytes=${have}-`, 'if-range': ranged.etag } : undefined);
    hubNotFound(url, res);
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel().catch(() => undefined);
      return { missing: res.status };
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      resume = undefined;
      throw statusError(url, 'GET', res);
    }
    let start = 0;
    let total: number | undefined;
    let checkable: boolean;
    if (res.status === 206) {
      const range = contentRange(res);
      if (!ranged || !range || range[0] !== have || range[1] !== ranged.total) {
        await res.body?.cancel().catch(() => undefined);
        resume = undefined; // start over with a plain GET
        throw new Transient(`unexpected partial response (Content-Range ${res.headers.get('content-range') ?? 'missing'})`);
      }
      [start, total] = [have, ranged.total];
      checkable = true;
    } else {
      checkable = lengthIsBodyLength(res);
      const declared = checkable ? contentLength(res) : undefined;
      if (declared !== undefined && expectedSize !== undefined && declared !== expectedSize) {
        await res.body?.cancel().catch(() => undefined);
        throw new Transient(`the response says Content-Length ${declared}, but HEAD said ${expectedSize} bytes`);
      }
      total = declared ?? (checkable ? expectedSize : undefined);
    }
    const etag = res.headers.get('etag') ?? undefined;
    // Not for browsers' cross-origin responses: If-Range is no CORS-safelisted header, and a
    // server that does not allow it in a preflight would turn every retry into a failure.
    const resumable = etag !== undefined && !etag.startsWith('W/') && total !== undefined && checkable && res.type !== 'cors';
    resume = resumable ? { etag: etag!, total: total! } : undefined;
    // Unverifiable lengths still give progress a denominator (never below what has arrived).
    const shown = total ?? contentLength(res);
    const reportTotal = (loaded: number) => (shown === undefined ? undefined : Math.max(shown, loaded));
    await sink.begin(total, start);
    have = start;
    let loaded = start;
    report(loaded, reportTotal(loaded), false);
    if (res.body) {
      const reader = res.body.getReader();
      let finished = false;
      try {
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (e) {
            if (policy.signal?.aborted) throw aborted(policy.signal, url);
            const why = e instanceof Error ? (e.cause instanceof Error ? `${e.message} (${e.cause.message})` : e.message) : String(e);
            throw new Transient(`the connection dropped after ${loaded}${total !== undefined ? ` of ${total}` : ''} bytes: ${why}`, undefined, { cause: e });
          }
          if (chunk.done) { finished = true; break; }
          loaded += chunk.value.byteLength;
          if (total !== undefined && loaded > total) {
            resume = undefined; // the server's lengths are not to be trusted: no resuming from here
            throw new Transient(`received more than the ${total} bytes announced`);
          }
          await sink.write(chunk.value);
          have = loaded;
          report(loaded, reportTotal(loaded), false);
        }
      } finally {
        if (!finished) await reader.cancel().catch(() => undefined); // stop the transfer we gave up on
        reader.releaseLock();
      }
    }
    if (total !== undefined && loaded !== total) {
      throw new Transient(`truncated: received ${loaded} of ${total} bytes`);
    }
    report(loaded, total ?? loaded, true);
    return { size: loaded, ...(etag !== undefined ? { etag } : {}) };
  });
}
