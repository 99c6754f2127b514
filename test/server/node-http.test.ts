/** nodeListener: the handler behind node:http, with real sockets. */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, createHandler, nodeListener, type Generation, type Model } from '../../src/node.js';
import { watched } from '../helpers/watched-model.js';

let model: Model;
let server: Server;
let base: string;
const generations: Generation[] = [];

beforeAll(async () => {
  model = await loadModel(undefined, { backend: 'wasm', threads: 1 });
  server = createServer(nodeListener(createHandler(watched(model, generations))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await model.dispose();
});

describe('nodeListener', { timeout: 60_000 }, () => {
  it('serves the handler over HTTP; a refused oversized body leaves the connection usable', async () => {
    const ok = await fetch(`${base}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'And', max_tokens: 8, temperature: 0 }) });
    expect(ok.status).toBe(200);
    const lib = await model.createSession().generate('And', { maxTokens: 8, temperature: 0 }).finished;
    expect((await ok.json()).choices[0].text).toBe(lib.text);
    const big = await fetch(`${base}/v1/completions`, { method: 'POST', body: 'x'.repeat(4_000_000) });
    expect(big.status).toBe(413);
    await big.text();
    expect((await fetch(`${base}/v1/models`)).status).toBe(200);
  });

  it('a client that disconnects mid-stream stops the generation', async () => {
    generations.length = 0;
    await new Promise<void>((done, reject) => {
      const req = httpRequest(`${base}/v1/completions`, { method: 'POST' }, (res) => {
        let events = 0;
        res.on('data', () => {
          if (++events === 3) { req.destroy(); done(); }
        });
      });
      req.on('error', () => undefined);
      req.setTimeout(30_000, () => reject(new Error('no events')));
      req.end(JSON.stringify({ prompt: 'And', max_tokens: 4000, temperature: 0, stream: true }));
    });
    const r = await generations[0].finished;
    expect(r.finishReason).toBe('abort');
    expect(r.completionTokens).toBeLessThan(200);
  });
});
