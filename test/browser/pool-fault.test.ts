/**
 * A kernel worker that dies mid-op, in a real browser (headless Chromium; the Node side is
 * test/reliability/worker-fault.test.ts): the Web Worker pool runs in a dedicated worker (where
 * Atomics.wait is allowed) started by a cross-origin-isolated page. Kernel worker 1 throws out of
 * its serve loop mid-op; it marks itself dead in the shared block as it unwinds, so the call fails
 * with E_WORKER at once, the session reports its state lost, the pool replaces the worker, and
 * the model gives the same logits as before, on the calling thread at once and then on 2 threads.
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH); fails, not skips, without it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const here = dirname(fileURLToPath(import.meta.url));

describe('browser (headless Chromium): a kernel worker dies mid-op', { timeout: 90_000 }, () => {
  let server: Server;
  let context: BrowserContext;
  let profile: string;
  let url: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH`);
    const out = await esbuild.build({
      entryPoints: [join(here, 'pool-fault-worker.ts')], bundle: true, write: false, platform: 'browser', format: 'iife', target: 'es2022',
      absWorkingDir: resolve(here, '../..'),
    });
    const script = out.outputFiles[0].text;
    server = createServer((req, res) => {
      const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'cache-control': 'no-store' };
      if (req.url === '/worker.js') res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(script);
      else res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end('<!doctype html><title>pool fault</title>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    profile = mkdtempSync(join(tmpdir(), 'mamba-edge-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((r) => server?.close(r));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('the call fails with E_WORKER at once; the session says its state is lost; the pool replaces the worker; same logits after', async () => {
    const page = await context.newPage();
    await page.goto(url);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const r = await page.evaluate(() => new Promise<Record<string, unknown>>((res) => {
      const w = new Worker('/worker.js');
      w.onmessage = (e) => res(e.data);
      w.onerror = (e) => res({ fatal: e.message });
    }));
    expect(r.fatal).toBeUndefined();
    expect(r.threads).toBe(2);
    expect(r.code).toBe('E_WORKER');
    expect(r.worker).toBe(1);
    expect(r.message).toMatch(/kernel worker 1 \(of 1\) died during \w+ \(its loop threw/);
    expect(r.failMs).toBeLessThan(1500); // seen at once, not after the 60 s stall bound
    expect(r.nextCode).toBe('E_STATE');
    expect(r.sameAtOnce).toBe(true);
    expect(r.liveAfter).toBe(1);
    expect(r.sameAfter).toBe(true);
    expect(r.events).toEqual([expect.stringMatching(/kernel worker 1 crashed \(.*injected crash\)/), 'kernel worker 1 restarted']);
    await page.close();
  });
});
