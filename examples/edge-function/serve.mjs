#!/usr/bin/env node
/**
 * Serves the built edge function (build.mjs output) over HTTP on 127.0.0.1 under Node, Deno or
 * Bun, with the edge platform's restrictions (platform.mjs):
 *
 *   node serve.mjs DIST [--port N]
 *   deno run --allow-read=DIST --allow-net=127.0.0.1 serve.mjs DIST [--port N]
 *   bun serve.mjs DIST [--port N]
 *
 * Prints one JSON line when listening: { "runtime", "port", "restrictions": {...} }.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { asyncRefusals, provideWasmModules, restrictToEdge } from './platform.mjs';

const args = (globalThis.Deno ? globalThis.Deno.args : process.argv.slice(2));
const dist = resolve(args[0] ?? join(import.meta.dirname ?? '.', 'dist'));
const portArg = args.indexOf('--port');
const port = portArg === -1 ? 0 : Number(args[portArg + 1]);
const hostname = '127.0.0.1';
const runtime = globalThis.Deno ? 'deno' : globalThis.Bun ? 'bun' : 'node';

await provideWasmModules(dist, ['kernels-as-st.wasm', 'kernels-c-st.wasm']);
const restrictions = { ...restrictToEdge(), ...(await asyncRefusals()) };
const worker = (await import(pathToFileURL(join(dist, 'worker.js')).href)).default;
const fetchHandler = (request) => worker.fetch(request);
const ready = (p) => console.log(JSON.stringify({ runtime, port: p, restrictions }));

if (runtime === 'deno') {
  globalThis.Deno.serve({ hostname, port, onListen: ({ port: p }) => ready(p) }, fetchHandler);
} else if (runtime === 'bun') {
  const server = globalThis.Bun.serve({ hostname, port, fetch: fetchHandler, idleTimeout: 0 });
  ready(server.port);
} else {
  // Node 20 has no fetch-style server: adapt node:http to Request/Response (disconnects abort the request).
  const { createServer } = await import('node:http');
  // The request body as a web stream; a body the handler refuses (413) is drained, not reset, so the answer arrives.
  const bodyStream = (req) => {
    let open = true;
    return new ReadableStream({
      start(c) {
        req.on('data', (chunk) => { if (!open) return; c.enqueue(new Uint8Array(chunk)); if (c.desiredSize <= 0) req.pause(); });
        req.on('end', () => { if (open) { open = false; c.close(); } });
        req.on('error', (e) => { if (open) { open = false; c.error(e); } });
      },
      pull() { req.resume(); },
      cancel() { open = false; req.resume(); },
    }, { highWaterMark: 4 });
  };
  const server = createServer(async (req, res) => {
    const ctrl = new AbortController();
    res.on('close', () => { if (!res.writableFinished) ctrl.abort(new Error('client disconnected')); });
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const request = new Request(`http://${req.headers.host ?? hostname}${req.url}`, {
      method: req.method, headers: req.headers, signal: ctrl.signal,
      ...(hasBody ? { body: bodyStream(req), duplex: 'half' } : {}),
    });
    let response;
    try {
      response = await fetchHandler(request);
    } catch (e) {
      response = new Response(`edge function threw: ${e?.message ?? e}`, { status: 500 });
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) { res.end(); return; }
    const reader = response.body.getReader();
    ctrl.signal.addEventListener('abort', () => reader.cancel().catch(() => undefined), { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        res.write(value);
      }
    } catch { /* the client went away */ }
    res.end();
  });
  server.listen(port, hostname, () => ready(server.address().port));
}
