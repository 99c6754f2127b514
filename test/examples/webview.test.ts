/**
 * examples/webview in headless Chromium as a phone's webview sees it: a 390 × 844 viewport at
 * device scale 3, touch, a mobile Android WebView user agent, and the page served WITHOUT
 * COOP/COEP (app-bundled pages are rarely cross-origin isolated). The Go button is tapped; the
 * model must run single-threaded in its worker, stream one DOM update per token, print exactly
 * what Node generates with the same options, and stay within its memory budget. A screenshot
 * is saved to test-results/webview.png (and a CSS-pixel one, webview-css.png).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir, loadModel } from '../../src/node.js';
import { launchChromium, rendererRss, type Chromium } from '../helpers/chromium.js';
import { startWebviewServer } from '../../examples/webview/server.js';
import type { ExampleServer } from '../../examples/browser/server.js';
import type { Model } from '../../src/index.js';
import type { WebviewReady, WebviewRun } from '../../examples/webview/main.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RESULTS = join(ROOT, 'test-results');
const PROMPT = 'Once upon a time'; // index.html's default prompt
const GEN = { maxTokens: 120, seed: 1 }; // what the Go button asks for (examples/webview/main.ts)
const PHONE = {
  viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true,
  userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/156.0.0.0 Mobile Safari/537.36',
};

/** `globalThis.mambaEdgeWebview`, set by examples/webview/main.ts (page.evaluate bodies run on the page). */
interface WebviewPage {
  mambaEdgeWebview: {
    ready: Promise<WebviewReady>;
    lastRun: Promise<WebviewRun> | undefined;
    model: Model;
    load(budget: number): Promise<Model>;
  };
}

describe('examples/webview (headless Chromium, phone viewport, not cross-origin isolated)', { timeout: 60_000 }, () => {
  let server: ExampleServer;
  let browser: Chromium;
  let expected: string;

  beforeAll(async () => {
    const node = await loadModel(defaultModelDir(), { threads: 1, dtype: 'f16' });
    try {
      expected = (await node.createSession().generate(PROMPT, GEN).finished).text;
    } finally {
      await node.dispose();
    }
    // --expose-gc: memory is measured after collecting garbage in the page and its worker.
    [server, browser] = await Promise.all([startWebviewServer(), launchChromium(PHONE, ['--js-flags=--expose-gc'])]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs single-threaded within its budget, streams the tapped generation into the page, same text as Node', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const collect = async () => {
      const gc = () => (globalThis as unknown as { gc(): void }).gc();
      await page.evaluate(gc);
      for (const worker of page.workers()) await worker.evaluate(gc);
    };
    await page.goto(`${server.plainUrl}nothing-here`); // a page of the same site: the renderer process the example will use
    await collect();
    const rssBlank = rendererRss(browser.profile);
    await page.goto(server.plainUrl);
    const ready = await page.evaluate(() => (globalThis as unknown as WebviewPage).mambaEdgeWebview.ready);
    const rssLoadPeak = rendererRss(browser.profile);
    await collect();
    const rssLoaded = rendererRss(browser.profile);

    // The single-thread fallback: no SharedArrayBuffer, so one thread in the coordinator worker.
    expect(ready.crossOriginIsolated).toBe(false);
    expect(await page.evaluate(() => typeof SharedArrayBuffer)).toBe('undefined');
    expect(ready.backend).toMatchObject({ name: 'wasm', threads: 1 });
    expect(ready.backend.note).toMatch(/single-threaded: SharedArrayBuffer is unavailable/);
    expect(page.workers()).toHaveLength(1); // the coordinator only: no kernel workers
    // The budget: f16 weights + one session's state, under maxMemoryBytes (which also covers prefill memory).
    expect(ready.budget).toBe(24 * 1024 * 1024);
    expect(ready.weightBytes).toBeLessThan(11e6);
    expect(ready.weightBytes + ready.stateBytes).toBeLessThan(ready.budget);
    expect(await page.evaluate(() => (globalThis as unknown as WebviewPage).mambaEdgeWebview.model.info.dtype)).toBe('f16');
    expect(await page.locator('#status').textContent()).toMatch(/^1 thread · single-thread fallback \(not cross-origin isolated\) · 11\.7 MiB held, budget 24 MiB$/);

    // Count the DOM updates of the output while the model writes: streamed, not set at the end.
    await page.evaluate(() => {
      const g = globalThis as unknown as { domUpdates: number };
      g.domUpdates = 0;
      new MutationObserver((records) => { g.domUpdates += records.length; })
        .observe(document.getElementById('out')!, { characterData: true, subtree: true });
    });
    await page.tap('#go');
    const run = await page.evaluate(() => (globalThis as unknown as WebviewPage).mambaEdgeWebview.lastRun!);
    expect(run.text).toBe(expected);
    expect(run.result).toMatchObject({ finishReason: 'length', completionTokens: GEN.maxTokens });
    expect(run.pieces).toBe(GEN.maxTokens);
    expect(await page.evaluate(() => (globalThis as unknown as { domUpdates: number }).domUpdates)).toBe(GEN.maxTokens);
    expect(await page.locator('#out').textContent()).toBe(PROMPT + expected);
    expect(await page.locator('#stats').textContent()).toMatch(/^120 tokens · [\d.]+ tokens\/s · length$/);

    // Phone layout: nothing wider than the screen, touch targets at least 44 CSS px.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.viewport.width);
    const go = (await page.locator('#go').boundingBox())!;
    expect(go.height).toBeGreaterThanOrEqual(44);

    // What the page really costs: the renderer process (the page and its worker) from /proc,
    // after collecting garbage, against a blank page of the same site. The budget bounds the
    // model's own allocations (19.3 MB); the process also holds the runtime around it (the
    // worker's JS context, compiled kernels, ...) and, right after loading, the downloaded bytes
    // and their copy in the worker (the peak). Bound: 4 × the budget retained.
    mkdirSync(RESULTS, { recursive: true });
    await collect();
    const rssRun = rendererRss(browser.profile);
    if (rssBlank && rssLoadPeak && rssLoaded && rssRun) {
      // The page's renderer: the one that grew most while the model loaded (the others are idle).
      const growth = (p: number) => (rssLoadPeak.get(p) ?? 0) - (rssBlank.get(p) ?? Infinity);
      const pid = [...rssBlank.keys()].filter((p) => rssLoaded.has(p) && rssRun.has(p)).sort((a, b) => growth(b) - growth(a))[0];
      expect(pid, 'the renderer process of the page').toBeDefined();
      const blank = rssBlank.get(pid);
      const mib = (n: number) => Math.round(n * 10) / 10;
      const memory = {
        blankMiB: mib(blank!), loadPeakMiB: mib(rssLoadPeak.get(pid!)!), loadedMiB: mib(rssLoaded.get(pid!)!), afterRunMiB: mib(rssRun.get(pid!)!),
        budgetMiB: ready.budget / 2 ** 20,
      };
      writeFileSync(join(RESULTS, 'webview-memory.json'), `${JSON.stringify(memory, null, 2)}\n`);
      expect(memory.afterRunMiB - memory.blankMiB).toBeLessThan(4 * memory.budgetMiB);
    }
    await page.screenshot({ path: join(RESULTS, 'webview.png') }); // device pixels (1170 × 2532)
    await page.screenshot({ path: join(RESULTS, 'webview-css.png'), scale: 'css' }); // 390 × 844, as in the example's README
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the same page where it is cross-origin isolated runs on 2 threads within the same budget', async () => {
    const page = await browser.context.newPage();
    await page.goto(server.isolatedUrl);
    const ready = await page.evaluate(() => (globalThis as unknown as WebviewPage).mambaEdgeWebview.ready);
    expect(ready.crossOriginIsolated).toBe(true);
    expect(ready.backend).toMatchObject({ name: 'wasm', threads: 2 });
    expect(await page.locator('#status').textContent()).toMatch(/^2 threads · cross-origin isolated · 11\.7 MiB held, budget 24 MiB$/);
    await page.close();
  });

  it('a budget smaller than the model needs is refused with E_MEMORY before allocating', async () => {
    const page = await browser.context.newPage();
    await page.goto(server.plainUrl);
    await page.evaluate(() => (globalThis as unknown as WebviewPage).mambaEdgeWebview.ready);
    const refused = await page.evaluate(async () => {
      try {
        await (globalThis as unknown as WebviewPage).mambaEdgeWebview.load(18 * 1024 * 1024);
        return 'loaded';
      } catch (e) {
        return `${(e as { code: string }).code}: ${(e as Error).message}`;
      }
    });
    expect(refused).toMatch(/^E_MEMORY: the model needs \d+ bytes \(weights \d+, one session's state \d+, prefill working memory \d+\), more than maxMemoryBytes = 18874368/);
    await page.close();
  });
});
