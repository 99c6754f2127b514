/**
 * The HTTP plumbing of the handler, on the web fetch API only (Request, Response,
 * ReadableStream, atob/btoa), so it runs unchanged in edge runtimes, Deno, Bun and Node.
 */
import { MambaEdgeError, type ErrorCode } from '../errors.js';

/** An error answered with `status` and an OpenAI-style body `{ error: { message, type, param, code } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** HTTP status for a library error a request caused (or did not). */
const STATUS: Partial<Record<ErrorCode, number>> = {
  E_ARGUMENT: 400,
  E_TOKEN: 400,
  E_STATE: 422,
  E_MEMORY: 503, // the server cannot hold another session now (LoadOptions.maxMemoryBytes)
  E_ABORTED: 499,
};

export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof MambaEdgeError) {
    const status = STATUS[e.code] ?? 500;
    return new HttpError(status, e.message, e.code === 'E_STATE' ? 'invalid_state' : e.code, e.field ?? null);
  }
  return new HttpError(500, e instanceof Error ? e.message : String(e), 'internal_error');
}

export function errorBody(e: HttpError): { error: { message: string; type: string; param: string | null; code: string } } {
  const type = e.status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message: e.message, type, param: e.param, code: e.code } };
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/**
 * The request body, refusing more than `limit` bytes with 413: at once when Content-Length
 * says so, else as soon as the stream passes the limit (so a huge body is never buffered).
 */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = (n: string) => new HttpError(413,
    `request body is ${n} bytes, more than this server's limit of ${limit} bytes (one saved state of this model in base64 plus the prompt allowance; see maxBodyBytes)`,
    'request_too_large');
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    request.body?.cancel().catch(() => undefined);
    throw tooLarge(declared);
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      reader.cancel().catch(() => undefined);
      throw tooLarge(`over ${total}`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.byteLength; }
  return out;
}

/** Parses a JSON object body; 400 with the parser's message otherwise. */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON (UTF-8): ${(e as Error).message}`, 'invalid_json');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'request body must be a JSON object', 'invalid_json');
  return v as Record<string, unknown>;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function fromBase64(s: string, field: string): Uint8Array {
  if (s.length % 4 !== 0 || !BASE64.test(s)) throw new HttpError(400, `${field} must be standard base64 (A-Z a-z 0-9 + /, padded with =)`, 'invalid_state', field);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** One server-sent event carrying JSON (or the literal [DONE]). */
export function sseEvent(data: unknown): Uint8Array {
  return new TextEncoder().encode(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

export const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
