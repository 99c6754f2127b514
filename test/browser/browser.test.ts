/**
 * The browser side of the CPU backend, in a real browser: Debian's Chromium, headless, driven
 * by playwright-core, opens examples/browser from a local server. With COOP/COEP the page is
 * cross-origin isolated and the model runs on 2 threads (Web Workers over one shared memory,
 * coordinated in a dedicated worker); without them it runs on one thread in that worker. Both
 * must generate exactly the text Node generates for the same prompt, seed and maxTokens.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`) or CHROMIUM_PATH; fails, not skips,
 * without it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { defaultModelDir, loadModel, type BackendInfo, type Model } from '../../src/node.js';
import { goldenCases } from '../helpers/goldens.js';
import { goldenGguf } from '../gguf/helpers.js';
import { startExampleServer, type ExampleServer } from '../../examples/browser/server.js';
import type { DemoRun } from '../../examples/browser/main.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PROMPT = 'The package provides';
const GEN = { maxTokens: 48, seed: 7 };
const THREADS = 2;

interface Demo {
  ready: Promise<BackendInfo>;
  generate(prompt: string, opts: object): Promise<DemoRun>;
  crossOriginIsolated: boolean;
  model: Model;
  loadModel: typeof loadModel;
  fetchModelFiles(base: string): Promise<Record<string, Uint8Array>>;
}
declare global {
  // examples/browser/main.ts sets it on the page (page.evaluate bodies run there, not here).
  var mambaEdgeDemo: Demo;
}

describe('browser (headless Chromium)', { timeout: 60_000 }, () => {
  let server: ExampleServer;
  let context: BrowserContext;
  let profile: string;
  let expected: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium binary`);
    }
    const node: Model = await loadModel(defaultModelDir(), { threads: 1 });
    try {
      expected = (await node.createSession().generate(PROMPT, GEN).finished).text;
    } finally {
      await node.dispose();
    }
    server = await startExampleServer();
    profile = mkdtempSync(join(tmpdir(), 'mamba-edge-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function open(url: string): Promise<{ page: Page; info: BackendInfo; isolated: boolean }> {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${url}: ${e.message}`));
    await page.goto(`${url}?threads=${THREADS}`);
    const info = await page.evaluate(() => mambaEdgeDemo.ready);
    return { page, info, isolated: await page.evaluate(() => crossOriginIsolated) };
  }

  const generate = (page: Page) => page.evaluate(([prompt, opts]) => mambaEdgeDemo.generate(prompt, opts), [PROMPT, GEN] as const);

  it('with COOP/COEP: cross-origin isolated, 2 threads in workers, the same text as Node, streamed', async () => {
    const { page, info, isolated } = await open(server.isolatedUrl);
    expect(isolated).toBe(true);
    expect(info).toMatchObject({ name: 'wasm', threads: THREADS });
    expect(info.note).toMatch(/dedicated worker/);
    expect(info.note ?? '').not.toMatch(/single-threaded/);
    const run = await generate(page);
    expect(run.text).toBe(expected);
    expect(run.result).toMatchObject({ finishReason: 'length', completionTokens: GEN.maxTokens });
    expect(run.pieces).toBe(GEN.maxTokens); // one event per token: streamed, not delivered at the end
    expect(await page.locator('#out').textContent()).toBe(PROMPT + expected);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('without the headers: one thread, a note that says why, the same text', async () => {
    const { page, info, isolated } = await open(server.plainUrl);
    expect(isolated).toBe(false);
    expect(info).toMatchObject({ name: 'wasm', threads: 1 });
    expect(info.note).toMatch(/single-threaded: SharedArrayBuffer is unavailable/);
    const run = await generate(page);
    expect(run.text).toBe(expected);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('the page-side proxy: typed errors, abort, saveState/resume, load progress and dispose across the worker', async () => {
    const { page } = await open(server.isolatedUrl);
    const r = await page.evaluate(async ([prompt, opts]) => {
      const model = mambaEdgeDemo.model;
      const s = model.createSession();
      // Argument errors throw at once on the page; worker errors keep their code.
      let argument = '';
      try { s.generate(prompt, { maxTokens: 0 }); } catch (e) { argument = (e as { code: string }).code; }
      let token = '';
      try { await s.step(10_000); } catch (e) { token = (e as { code: string }).code; }
      // Generate half, save, resume in a new session: the rest equals one uninterrupted run.
      const half = Math.floor(opts.maxTokens / 2);
      const first = await s.generate(prompt, { ...opts, maxTokens: half }).finished;
      const blob = await s.saveState();
      const position = s.position;
      const resumed = model.createSession({ state: blob });
      const rest = await resumed.generate('', { maxTokens: opts.maxTokens - half }).finished;
      let state = '';
      try { model.createSession({ state: blob.slice(0, 10) }); } catch (e) { state = (e as { code: string }).code; }
      // Abort from the page: the iteration ends with AbortError, finished says 'abort'.
      const ctrl = new AbortController();
      const gen = model.createSession().generate(prompt, { maxTokens: 10_000, signal: ctrl.signal });
      let seen = 0;
      let abortName = '';
      try {
        for await (const _ of gen) if (++seen === 3) ctrl.abort();
      } catch (e) { abortName = (e as Error).name; }
      const aborted = await gen.finished;
      // Loading in another worker: progress reports cross over, load errors keep their code.
      const files = await mambaEdgeDemo.fetchModelFiles('models/default/');
      const progress: { file: string; loaded: number; total: number }[] = [];
      const second = await mambaEdgeDemo.loadModel(files, { threads: 1, onProgress: (p) => progress.push(p) });
      const secondText = (await second.createSession().generate(prompt, opts).finished).text;
      await second.dispose();
      let disposed = '';
      try { second.createSession(); } catch (e) { disposed = (e as { code: string }).code; }
      let load = '';
      try { await mambaEdgeDemo.loadModel({ ...files, 'config.json': files['config.json'].slice(0, 20) }); } catch (e) { load = (e as { code: string }).code; }
      const last = progress.at(-1);
      return {
        secondText, disposed, load, progressed: progress.length > 0 && last!.file === 'model.safetensors' && last!.loaded === last!.total, argument, token, state, text: first.text + rest.text, position, resumedPosition: resumed.position, abortName, abortReason: aborted.finishReason, seen };
    }, [PROMPT, GEN] as const);
    expect(r).toMatchObject({
      argument: 'E_ARGUMENT', token: 'E_TOKEN', state: 'E_STATE', abortName: 'AbortError', abortReason: 'abort',
      disposed: 'E_ARGUMENT', load: 'E_FORMAT', progressed: true, secondText: expected,
    });
    expect(r.text).toBe(expected);
    expect(r.resumedPosition).toBeGreaterThan(r.position);
    expect(r.seen).toBeLessThan(20);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('a GGUF file given as bytes loads in the worker, with its tokenizer built on the page too: the same text as Node', async () => {
    const c = goldenCases().find((x) => x.name === 'm2-g1-tied')!;
    const gguf = goldenGguf(c.dir, 'q8_0');
    const node = await loadModel(gguf, { threads: 1 });
    const want = (await node.createSession().generate('hello', { maxTokens: 12, seed: 3 }).finished).text;
    await node.dispose();
    const { page } = await open(server.isolatedUrl);
    const got = await page.evaluate(async ([b64]) => {
      const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      const m = await mambaEdgeDemo.loadModel(bytes, { threads: 1 });
      const out = { text: (await m.createSession().generate('hello', { maxTokens: 12, seed: 3 }).finished).text, dtype: m.info.dtype, types: m.info.fileTensorTypes, ids: m.tokenizer.encode('hi') };
      await m.dispose();
      return out;
    }, [Buffer.from(gguf).toString('base64')] as const);
    expect(got).toMatchObject({ text: want, dtype: 'q8_0', types: { Q8_0: 2, F16: 3, F32: 15 }, ids: [105, 106] });
    await page.close();
    expect(pageErrors).toEqual([]);
  });
});
