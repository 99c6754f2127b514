/**
 * Serving a fetch-style handler from Node's http module (Node 20 has no built-in
 * Request/Response server). Node entry only.
 *
 * @example
 * import { createServer } from 'node:http';
 * import { loadModel, createHandler, nodeListener } from 'mamba-edge';
 * createServer(nodeListener(createHandler(await loadModel()))).listen(8080, '127.0.0.1');
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The request body as a web stream. A body the handler refuses unread (413) is drained and
 * dropped rather than the socket reset, so the client receives the answer.
 */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let open = true;
  return new ReadableStream<Uint8Array>({
    start(c) {
      req.on('data', (chunk: Buffer) => {
        if (!open) return;
        c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((c.desiredSize ?? 1) <= 0) req.pause();
      });
      req.on('end', () => { if (open) { open = false; c.close(); } });
      req.on('error', (e) => { if (open) { open = false; c.error(e); } });
    },
    pull() { req.resume(); },
    cancel() { open = false; req.resume(); },
  }, { highWaterMark: 4 });
}

/** A `(req, res)` listener for `http.createServer` that runs `handler`; a client that disconnects aborts `request.signal` and cancels the response stream. */
export function nodeListener(handler: (request: Request) => Promise<Response>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      const ctrl = new AbortController();
      res.on('close', () => { if (!res.writableFinished) ctrl.abort(new Error('the client disconnected')); });
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      let response: Response;
      try {
        const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, {
          method: req.method, headers, signal: ctrl.signal,
          ...(hasBody ? { body: bodyStream(req), duplex: 'half' } : {}),
        } as RequestInit);
        response = await handler(request);
      } catch (e) {
        response = new Response(JSON.stringify({ error: { message: (e as Error)?.message ?? String(e), type: 'server_error', param: null, code: 'internal_error' } }), {
          status: 500, headers: { 'content-type': 'application/json' },
        });
      }
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (!response.body) { res.end(); return; }
      const reader = response.body.getReader();
      ctrl.signal.addEventListener('abort', () => { reader.cancel().catch(() => undefined); }, { once: true });
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          // Respect backpressure: a slow client slows generation instead of buffering it.
          if (!res.write(value)) await new Promise<void>((r) => { res.once('drain', r); res.once('close', r); });
        }
      } catch {
        // the client went away mid-stream
      }
      res.end();
    })();
  };
}
