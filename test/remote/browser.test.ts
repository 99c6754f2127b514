/**
 * Remote loading in a real browser (Debian's Chromium, headless, playwright-core): the browser
 * example's page (examples/browser, served from 127.0.0.1) calls loadModel('hf:test/default')
 * against the local Hub on another origin (CORS). The coordinator worker downloads through the
 * Cache API; the text equals Node's; a second load revalidates with HEADs only; an entry
 * whose bytes were altered in the Cache API is detected and fetched again; abort works.
 *
 * Needs /usr/bin/chromium or CHROMIUM_PATH; fails, not skips, without it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { defaultModelDir, loadModel, type LoadProgress } from '../../src/node.js';
import { startExampleServer, type ExampleServer } from '../../examples/browser/server.js';
import { startHubServer, type HubServer } from './hub-server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const PROMPT = 'The package provides';
const GEN = { maxTokens: 16, seed: 5 };

// mambaEdgeDemo: the page's global (examples/browser/main.ts), typed by test/browser/browser.test.ts's declaration.

describe('remote loading in headless Chromium through the Cache API', { timeout: 90_000 }, () => {
  let hub: HubServer;
  let server: ExampleServer;
  let context: BrowserContext;
  let profile: string;
  let page: Page;
  let expected: string;
  let fingerprint: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium binary`);
    }
    const node = await loadModel(defaultModelDir(), { threads: 1 });
    try {
      expected = (await node.createSession().generate(PROMPT, GEN).finished).text;
      fingerprint = node.fingerprint;
    } finally {
      await node.dispose();
    }
    hub = await startHubServer();
    for (const f of FILES) hub.put('test/default', f, new Uint8Array(readFileSync(join(defaultModelDir(), f))));
    server = await startExampleServer();
    profile = mkdtempSync(join(tmpdir(), 'mamba-edge-chromium-remote-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.plainUrl}?threads=1`);
    await page.evaluate(() => mambaEdgeDemo.ready);
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    await hub?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** Loads hf:test/default in the page (a new coordinator worker each time), generates, disposes. */
  const loadAndGenerate = (endpoint: string) => page.evaluate(async ([endpoint, prompt, gen]) => {
    const progress: LoadProgress[] = [];
    const m = await mambaEdgeDemo.loadModel('hf:test/default', { endpoint, threads: 1, onProgress: (p: LoadProgress) => progress.push(p) });
    const text = (await m.createSession().generate(prompt, gen).finished).text;
    const fp = m.fingerprint;
    await m.dispose();
    const cache = await caches.open('mamba-edge');
    const keys = (await cache.keys()).map((r) => r.url);
    return { text, fp, progress: progress.filter((p) => p.file === 'model.safetensors'), keys };
  }, [endpoint, PROMPT, GEN] as const);

  it('downloads into the Cache API, generates Node\'s text; the second load only revalidates', async () => {
    const first = await loadAndGenerate(hub.endpoint);
    expect(first.text).toBe(expected);
    expect(first.fp).toBe(fingerprint);
    const size = readFileSync(join(defaultModelDir(), 'model.safetensors')).byteLength;
    expect(first.progress.length).toBeGreaterThan(5);
    expect(first.progress.every((p) => p.from === 'network')).toBe(true);
    expect(first.progress.at(-1)).toMatchObject({ loaded: size, total: size });
    for (let i = 1; i < first.progress.length; i++) expect(first.progress[i]!.loaded).toBeGreaterThanOrEqual(first.progress[i - 1]!.loaded);
    const base = `${hub.endpoint}/test/default/resolve/main/`;
    expect(first.keys.sort()).toEqual(FILES.map((f) => base + f).sort());
    expect(hub.gets('model.safetensors')).toBe(1);

    const before = hub.requests.length;
    const second = await loadAndGenerate(hub.endpoint);
    expect(second.text).toBe(expected);
    expect(second.progress).toEqual([{ file: 'model.safetensors', loaded: size, total: size, from: 'cache' }]);
    expect(hub.requests.slice(before).filter((r) => r.method === 'GET')).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('an entry altered inside the Cache API (same size, same metadata) is detected and fetched again; a new ETag upstream too', async () => {
    const url = `${hub.endpoint}/test/default/resolve/main/model.safetensors`;
    await page.evaluate(async (url) => {
      const cache = await caches.open('mamba-edge');
      const res = (await cache.match(url))!;
      const bytes = new Uint8Array(await res.arrayBuffer());
      bytes[bytes.length - 3] ^= 0x10;
      await cache.put(url, new Response(bytes, { headers: res.headers }));
    }, url);
    const gets = hub.gets('model.safetensors');
    const r = await loadAndGenerate(hub.endpoint);
    expect(r.text).toBe(expected);
    expect(hub.gets('model.safetensors')).toBe(gets + 1);

    // New bytes upstream (a new ETag): that file only is fetched again.
    const tokGets = hub.gets('tokenizer.json');
    hub.put('test/default', 'tokenizer.json', new Uint8Array(Buffer.concat([readFileSync(join(defaultModelDir(), 'tokenizer.json')), Buffer.from('\n')])));
    expect((await loadAndGenerate(hub.endpoint)).text).toBe(expected);
    expect(hub.gets('tokenizer.json')).toBe(tokGets + 1);
    expect(hub.gets('model.safetensors')).toBe(gets + 1);
  });

  it('a connection dropped mid-file is retried in the browser too', async () => {
    const url = `${hub.endpoint}/test/default/resolve/main/model.safetensors`;
    await page.evaluate(async (url) => { await (await caches.open('mamba-edge')).delete(url); }, url);
    hub.fault('model.safetensors', ['drop']);
    const gets = hub.gets('model.safetensors');
    const r = await loadAndGenerate(hub.endpoint);
    expect(r.text).toBe(expected);
    expect(hub.gets('model.safetensors')).toBe(gets + 2);
    for (let i = 1; i < r.progress.length; i++) expect(r.progress[i]!.loaded).toBeGreaterThanOrEqual(r.progress[i - 1]!.loaded);
  });

  it('abort mid-download: AbortError from the worker, nothing new cached', async () => {
    hub.put('test/abort', 'config.json', new Uint8Array(readFileSync(join(defaultModelDir(), 'config.json'))));
    hub.put('test/abort', 'model.safetensors', new Uint8Array(readFileSync(join(defaultModelDir(), 'model.safetensors'))));
    hub.fault('model.safetensors', ['stall']);
    const r = await page.evaluate(async (endpoint) => {
      const ctrl = new AbortController();
      let name = '';
      let code = '';
      try {
        await mambaEdgeDemo.loadModel('hf:test/abort', {
          endpoint, threads: 1, signal: ctrl.signal,
          onProgress: (p: { file: string; loaded: number }) => { if (p.file === 'model.safetensors' && p.loaded > 0) ctrl.abort(); },
        });
      } catch (e) {
        name = (e as Error).name;
        code = (e as { code: string }).code;
      }
      const keys = (await (await caches.open('mamba-edge')).keys()).map((k) => k.url);
      return { name, code, keys };
    }, hub.endpoint);
    hub.fault('model.safetensors', []);
    expect(r).toMatchObject({ name: 'AbortError', code: 'E_ABORTED' });
    expect(r.keys.some((k) => k.includes('/test/abort/') && k.endsWith('model.safetensors'))).toBe(false);
  });
});
