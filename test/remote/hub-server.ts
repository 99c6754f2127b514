/**
 * A small stand-in for the Hugging Face Hub on 127.0.0.1, for tests: files in the Hub's layout
 * (`/{owner}/{name}/resolve/{revision}/{file}`), `.safetensors` answered with a 302 to a "CDN"
 * path as the Hub does for LFS files, ETags that follow the content, HEAD and GET, CORS headers
 * so a page on another origin can fetch. Faults are queued per file to make the failures a
 * download layer must survive: a connection dropped mid-file, a Content-Length that lies, a
 * stall (for abort), HTTP 500/429/403. Range requests (`bytes=N-` with If-Range) are answered with 206.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { gzipSync } from 'node:zlib';

export type Fault =
  | 'drop' // 200 with the full Content-Length, half the body, then the connection is cut
  | 'long-length' // Content-Length 100 bytes more than the body; the body, then the connection closes
  | 'short-length' // Content-Length 10 bytes less than the body (the client sees a cut file)
  | 'stall' // half the body, then nothing until the client gives up
  | 'gzip' // the body gzip-encoded (a server that ignores Accept-Encoding: identity): Content-Length counts the encoded bytes
  | 500 | 429 | 403;

export interface HubRequest {
  method: string;
  path: string;
  /** The Range header, if any. */
  range?: string;
}

export interface HubServer {
  /** The endpoint, e.g. http://127.0.0.1:port (no trailing slash). */
  endpoint: string;
  /** Sets (or replaces: the ETag changes with the bytes) `file` of `repo` at `revision`. */
  put(repo: string, file: string, bytes: Uint8Array, revision?: string): void;
  remove(repo: string, file: string, revision?: string): void;
  /** Queues faults for the next GETs of `file` (in order); `always` repeats the last one forever. */
  fault(file: string, faults: Fault[], opts?: { always?: boolean }): void;
  /** Whether Range requests are honoured (default true; false: always the whole file, as some servers do). */
  setRanges(on: boolean): void;
  /** Status of HEADs on the CDN hop (default 200; 403 as S3 answers a HEAD on a URL signed for GET). */
  setCdnHeadStatus(status: number): void;
  /** Whether HEAD answers carry Content-Length (default true). */
  setHeadLengths(on: boolean): void;
  /** Every request served, in order. */
  requests: HubRequest[];
  /** GETs whose path ends with `/file` (redirect hops count once: only the CDN hop for redirected files). */
  gets(file: string): number;
  close(): Promise<void>;
}

const etagOf = (b: Uint8Array) => `"${createHash('sha256').update(b).digest('hex').slice(0, 32)}"`;

export async function startHubServer(): Promise<HubServer> {
  const files = new Map<string, Uint8Array>(); // `${repo}/${revision}/${file}`
  const faults = new Map<string, { queue: Fault[]; always: boolean }>();
  const requests: HubRequest[] = [];
  const sockets = new Set<Socket>();
  let ranges = true;
  let headLengths = true;
  let cdnHeadStatus = 200;

  function nextFault(file: string): Fault | undefined {
    const f = faults.get(file);
    if (!f || f.queue.length === 0) return undefined;
    return f.queue.length === 1 && f.always ? f.queue[0] : f.queue.shift();
  }

  const cors = {
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'ETag, Content-Length, Location, X-Error-Code, X-Error-Message',
    'cross-origin-resource-policy': 'cross-origin',
  };

  function serve(req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ method: req.method ?? '', path, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-methods': 'GET, HEAD', 'access-control-allow-headers': '*' }).end();
      return;
    }
    // /{owner}/{name}/resolve/{revision}/{file…}  or the CDN hop  /cdn/{owner}/{name}/{revision}/{file…}
    const cdn = path.startsWith('/cdn/');
    const m = cdn ? /^\/cdn\/([^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(path) : /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const key = m ? `${m[1]}/${m[2]}/${m[3]}` : '';
    const bytes = files.get(key);
    if (!m || !bytes) {
      // As the Hub answers: an unknown repo is 401 RepoNotFound (the same answer a private repo gets),
      // an unknown revision 404 RevisionNotFound, a missing file 404 EntryNotFound.
      const repoKnown = m !== null && [...files.keys()].some((k) => k.startsWith(`${m[1]}/`));
      const revKnown = m !== null && [...files.keys()].some((k) => k.startsWith(`${m[1]}/${m[2]}/`));
      const [status, code, message] = !repoKnown ? [401, 'RepoNotFound', 'Repository not found'] : !revKnown ? [404, 'RevisionNotFound', 'Invalid rev id'] : [404, 'EntryNotFound', 'Entry not found'];
      res.writeHead(status, { ...cors, 'content-type': 'text/plain', 'x-error-code': code, 'x-error-message': message }).end(`${message}: ${path}`);
      return;
    }
    const file = m[3]!;
    if (!cdn && file.endsWith('.safetensors')) {
      // The Hub: LFS files are a 302 to the CDN (a relative Location here, same host).
      res.writeHead(302, { ...cors, location: `/cdn/${m[1]}/${encodeURIComponent(m[2]!)}/${file}`, etag: etagOf(bytes), 'x-linked-size': String(bytes.byteLength) }).end();
      return;
    }
    const headers = { ...cors, 'content-type': 'application/octet-stream', etag: etagOf(bytes), ...(ranges ? { 'accept-ranges': 'bytes' } : {}) };
    if (req.method === 'HEAD' && cdn && cdnHeadStatus !== 200) {
      res.writeHead(cdnHeadStatus, { ...cors, 'content-type': 'application/xml' }).end();
      return;
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...headers, ...(headLengths ? { 'content-length': String(bytes.byteLength) } : {}) }).end();
      return;
    }
    const fault = nextFault(file);
    const half = bytes.subarray(0, bytes.byteLength >> 1);
    // Range requests as RFC 9110 has them: `bytes=N-`, honoured when If-Range (if sent) is the current ETag.
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (fault === undefined && range && ranges && (ifRange === undefined || ifRange === etagOf(bytes)) && Number(range[1]) < bytes.byteLength) {
      const from = Number(range[1]);
      res.writeHead(206, { ...headers, 'content-length': String(bytes.byteLength - from), 'content-range': `bytes ${from}-${bytes.byteLength - 1}/${bytes.byteLength}` })
        .end(bytes.subarray(from));
      return;
    }
    switch (fault) {
      case undefined:
        res.writeHead(200, { ...headers, 'content-length': String(bytes.byteLength) }).end(bytes);
        return;
      case 500: case 429: case 403:
        res.writeHead(fault, { ...cors, 'content-type': 'text/plain', ...(fault === 429 ? { 'retry-after': '0' } : {}) }).end(`fault ${fault}`);
        return;
      case 'drop':
        res.writeHead(200, { ...headers, 'content-length': String(bytes.byteLength) });
        res.write(half, () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      case 'gzip': {
        const z = gzipSync(bytes);
        res.writeHead(200, { ...headers, 'content-encoding': 'gzip', 'content-length': String(z.byteLength) }).end(z);
        return;
      }
      case 'stall':
        res.writeHead(200, { ...headers, 'content-length': String(bytes.byteLength) });
        res.write(half);
        return; // the test's abort (or close()) ends it
      case 'long-length':
        res.writeHead(200, { ...headers, 'content-length': String(bytes.byteLength + 100) });
        res.write(bytes, () => res.socket?.end());
        return;
      case 'short-length': {
        // Written on the raw socket: node:http would refuse a body longer than its Content-Length.
        const socket = res.socket!;
        res.detachSocket(socket);
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\netag: ${etagOf(bytes)}\r\ncontent-length: ${bytes.byteLength - 10}\r\nconnection: close\r\n\r\n`);
        socket.end(bytes);
        return;
      }
    }
  }

  const server = createServer(serve);
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    put(repo, file, bytes, revision = 'main') { files.set(`${repo}/${revision}/${file}`, bytes); },
    remove(repo, file, revision = 'main') { files.delete(`${repo}/${revision}/${file}`); },
    fault(file, list, opts = {}) { faults.set(file, { queue: [...list], always: opts.always ?? false }); },
    requests,
    setRanges(on) { ranges = on; },
    setHeadLengths(on) { headLengths = on; },
    setCdnHeadStatus(status) { cdnHeadStatus = status; },
    gets(file) {
      return requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/${file}`) && (r.path.startsWith('/cdn/') || !file.endsWith('.safetensors'))).length;
    },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
