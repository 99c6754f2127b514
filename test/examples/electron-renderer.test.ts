/**
 * examples/electron's window (index.html + renderer.ts, built by the example's build.mjs) in
 * headless Chromium, since Electron's binary cannot be downloaded here. The preload is replaced
 * by test/examples/electron-preload-page.ts: the same bridge.ts, whose ipcRenderer reaches this
 * test process through a Playwright binding, where the REAL main-process module
 * (examples/electron/model-host.ts, the default model on the wasm backend with 2 worker threads)
 * answers over the IPC channel of test/examples/electron-ipc.ts. The test clicks the page's
 * buttons and checks what it shows against the same calls made directly on a model.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { defaultModelDir, loadModel } from '../../src/node.js';
import { startModelHost, type ModelHost } from '../../examples/electron/model-host.js';
import { buildApp } from '../../examples/electron/build.mjs';
import { CHANNELS, type GenerateReply, type HostInfo } from '../../examples/electron/protocol.js';
import { launchChromium, serveStatic, type Chromium, type StaticServer } from '../helpers/chromium.js';
import { TestIpcMain } from './electron-ipc.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TURNS = [{ prompt: 'Once upon a time', maxTokens: 200, seed: 1 }, { prompt: '\nThe next day', maxTokens: 200, seed: 4 }];

interface AppPage {
  mambaEdgeApp: { ready: Promise<HostInfo>; lastRun: Promise<GenerateReply> | undefined; send(prompt: string, opts: object): Promise<GenerateReply> };
  domUpdates: number;
}

describe('examples/electron renderer in headless Chromium, backed by the real main-process module', { timeout: 60_000 }, () => {
  let out: string;
  let server: StaticServer;
  let browser: Chromium;
  let ipcMain: TestIpcMain;
  let host: ModelHost;
  let expected: string[];

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'mamba-edge-electron-'));
    ipcMain = new TestIpcMain();
    const direct = await loadModel(defaultModelDir(), { threads: 1 });
    const s = direct.createSession();
    expected = [];
    for (const { prompt, ...opts } of TURNS) expected.push((await s.generate(prompt, opts).finished).text);
    await direct.dispose();
    const preload = await build({ entryPoints: [join(ROOT, 'test/examples/electron-preload-page.ts')], bundle: true, write: false, format: 'iife', platform: 'browser', logLevel: 'silent' });
    [host, browser] = await Promise.all([startModelHost(ipcMain, { threads: 2 }), launchChromium({ viewport: { width: 900, height: 640 } })]);
    await buildApp(out);
    server = await serveStatic({ '/': out });
    await browser.context.addInitScript({ content: preload.outputFiles[0].text });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    ipcMain?.closeAll();
    await host?.dispose();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  /** A page wired to a new window of the main-process module. */
  async function openWindow(): Promise<Page> {
    const page = await browser.context.newPage();
    const { ipcRenderer } = ipcMain.openWindow();
    // Events from the main process reach the page in the order sent, and before the reply of
    // the invoke that caused them (as on Electron's one IPC pipe per window).
    let delivered: Promise<unknown> = Promise.resolve();
    ipcRenderer.on(CHANNELS.token, (_event, ...args) => {
      delivered = delivered.then(() => page.evaluate(([ch, a]) => (globalThis as unknown as { __mambaIpcDeliver(c: string, a: unknown[]): void }).__mambaIpcDeliver(ch, a), [CHANNELS.token, args] as const));
    });
    await page.exposeBinding('__mambaIpcInvoke', async (_source, channel: string, args: unknown[]) => {
      try {
        const value = await ipcRenderer.invoke(channel, ...args);
        await delivered;
        return { ok: true, value };
      } catch (e) {
        await delivered;
        return { ok: false, message: (e as Error).message };
      }
    });
    return page;
  }

  it('shows the main process\'s backend, streams each turn into the transcript, continues the conversation, stops on Stop', async () => {
    const page = await openWindow();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    const info = await page.evaluate(() => (globalThis as unknown as AppPage).mambaEdgeApp.ready);
    expect(info.backend).toMatchObject({ name: 'wasm', threads: 2 });
    expect(await page.locator('#host').textContent()).toMatch(/^node [\d.]+ main process · wasm \(cpu: WebAssembly SIMD128, 2 threads\) · mamba2, 5\.39M parameters, f32$/);
    // The page has no model of its own: no workers, no WebAssembly memory of its own.
    expect(page.workers()).toEqual([]);

    await page.evaluate(() => {
      const g = globalThis as unknown as AppPage;
      g.domUpdates = 0;
      new MutationObserver((records) => { g.domUpdates += records.filter((r) => r.type === 'characterData').length; })
        .observe(document.getElementById('transcript')!, { characterData: true, subtree: true });
    });
    const lastRun = () => page.evaluate(() => (globalThis as unknown as AppPage).mambaEdgeApp.lastRun!);

    // Turn 1: the prompt box's text, seed 1.
    await page.fill('#prompt', TURNS[0].prompt);
    await page.click('#send');
    const r1 = await lastRun();
    expect(r1).toMatchObject({ text: expected[0], finishReason: 'length', completionTokens: 200 });
    expect(await page.evaluate(() => (globalThis as unknown as AppPage).domUpdates)).toBe(200); // one DOM update per token
    // Turn 2 continues the conversation held in the main process.
    await page.fill('#prompt', TURNS[1].prompt);
    await page.fill('#seed', String(TURNS[1].seed));
    await page.click('#send');
    const r2 = await lastRun();
    expect(r2.text).toBe(expected[1]);
    expect(await page.locator('#transcript').textContent()).toBe(TURNS[0].prompt + expected[0] + TURNS[1].prompt + expected[1]);
    expect(await page.locator('#stats').textContent()).toMatch(new RegExp(`^200 tokens in [\\d.]+ s · length · conversation at token ${r2.position}$`));
    mkdirSync(join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-results', 'electron-renderer.png') });

    // Stop: clicked by the page itself once 5 more tokens have arrived.
    await page.evaluate(() => {
      let n = 0;
      new MutationObserver(() => { if (++n === 5) document.getElementById('stop')!.click(); })
        .observe(document.getElementById('transcript')!, { characterData: true, subtree: true });
    });
    // A long run (2000 tokens, through the page's own send) so that the stop, not the end, finishes it.
    const r3 = await page.evaluate(() => (globalThis as unknown as AppPage).mambaEdgeApp.send('\n', { maxTokens: 2000, seed: 1 }));
    expect(r3.finishReason).toBe('abort');
    expect(r3.completionTokens).toBeLessThan(2000);
    expect(await page.locator('body').getAttribute('data-state')).toBe('idle');

    // New: the conversation is forgotten; the first turn again gives the first text.
    await page.click('#reset');
    await page.waitForFunction(() => document.getElementById('stats')!.textContent === 'new conversation');
    await page.fill('#prompt', TURNS[0].prompt);
    await page.fill('#seed', String(TURNS[0].seed));
    await page.click('#send');
    expect((await lastRun()).text).toBe(expected[0]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('an error from the main process shows on the page with its code', async () => {
    const page = await openWindow();
    await page.goto(server.url);
    await page.evaluate(() => (globalThis as unknown as AppPage).mambaEdgeApp.ready);
    await page.fill('#prompt', ''); // an empty prompt on a new conversation: nothing to continue
    await page.click('#send');
    const error = await page.evaluate(() => (globalThis as unknown as AppPage).mambaEdgeApp.lastRun!.then(() => null, (e: { code: string; message: string }) => ({ code: e.code, message: e.message })));
    expect(error?.code).toBe('E_ARGUMENT');
    expect(await page.locator('#stats').textContent()).toBe(`error: ${error!.message}`);
    await page.close();
  });
});
