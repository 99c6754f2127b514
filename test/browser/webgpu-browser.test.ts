/**
 * The webgpu backend in a real browser: Debian's Chromium, headless, with --enable-unsafe-webgpu
 * (its SwiftShader adapter on a machine without a GPU, DESIGN.md), opening examples/browser. The
 * page's loadModel runs in the dedicated coordinator worker, where navigator.gpu gives the adapter.
 * The default model with backend 'webgpu' must give the prefill logits Node's reference backend
 * gives (1e-4 of the logit scale, as in test/backends/webgpu-goldens.test.ts) and the same greedy text.
 *
 * Needs /usr/bin/chromium or CHROMIUM_PATH; fails, not skips, without it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { defaultModelDir, loadModel, type BackendInfo, type Model } from '../../src/node.js';
import { startExampleServer, type ExampleServer } from '../../examples/browser/server.js';
import { maxAbsDiff } from '../helpers/goldens.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PROMPT = 'The package provides';
const GREEDY = { maxTokens: 12, temperature: 0 };

interface Demo {
  ready: Promise<BackendInfo>;
  loadModel(files: unknown, opts: object): Promise<Model>;
  fetchModelFiles(base: string): Promise<Record<string, Uint8Array>>;
}
type PageGlobals = { mambaEdgeDemo: Demo };

describe('webgpu in headless Chromium', { timeout: 180_000 }, () => {
  let server: ExampleServer;
  let context: BrowserContext;
  let profile: string;
  let expected: { text: string; logits: number[] };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it or set CHROMIUM_PATH`);
    const node = await loadModel(defaultModelDir(), { backend: 'reference' });
    try {
      const ids = node.tokenizer.encode(PROMPT);
      const logits = await node.createSession().prefill(ids);
      const text = (await node.createSession().generate(PROMPT, GREEDY).finished).text;
      expected = { text, logits: [...logits] };
    } finally {
      await node.dispose();
    }
    server = await startExampleServer();
    profile = mkdtempSync(join(tmpdir(), 'mamba-edge-chromium-webgpu-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("backend 'webgpu' in the page's worker: an adapter, the reference's logits, the same greedy text", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.isolatedUrl);
    await page.evaluate(() => (globalThis as unknown as PageGlobals).mambaEdgeDemo.ready);
    const r = await page.evaluate(async ([prompt, greedy]) => {
      const demo = (globalThis as unknown as PageGlobals).mambaEdgeDemo;
      const files = await demo.fetchModelFiles('models/default/');
      const model = await demo.loadModel(files, { backend: 'webgpu' });
      const ids = model.tokenizer.encode(prompt);
      const logits = await model.createSession().prefill(ids);
      const text = (await model.createSession().generate(prompt, greedy).finished).text;
      const out = { backend: model.backend, info: model.backendInfo, logits: [...logits], text };
      await model.dispose();
      return out;
    }, [PROMPT, GREEDY] as const);
    console.log(`chromium webgpu adapter: ${r.info.device}; ${r.info.note ?? ''}`);
    expect(r.backend).toBe('webgpu');
    const { diff, scale } = maxAbsDiff(Float32Array.from(r.logits), Float32Array.from(expected.logits));
    expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
    expect(r.text).toBe(expected.text);
    await page.close();
    expect(errors).toEqual([]);
  });
});
