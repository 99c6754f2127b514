/**
 * A user's app made from examples/browser, for the bundling tests: a fresh folder outside the
 * repo with `mamba-edge` installed in node_modules the way npm installs it (the package.json and
 * the built dist/browser/index.js, which `exports` resolves for the `browser` condition), the
 * example's index.html and main.ts, and nothing else of this repository.
 *
 * The example imports the library by its source path ('../../src/index.js') so the repo's own
 * server can bundle it from source; an app imports it by name, so that one line is rewritten to
 * `from 'mamba-edge'` (and checked to have been there exactly once).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { Page } from 'playwright-core';
import { ISOLATION_HEADERS, serveStatic, type Chromium } from '../helpers/chromium.js';
import { defaultModelDir, loadModel } from '../../src/node.js';
import type { BackendInfo } from '../../src/index.js';
import type { DemoRun } from '../../examples/browser/main.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'browser');
export const MODEL_DIR = defaultModelDir();
export const PROMPT = 'The package provides';
export const GEN = { maxTokens: 32, seed: 11 };
export const THREADS = 2;

/** Rewrites `from '<source path>'` to `from 'mamba-edge'`; fails if the example no longer has that import. */
function importByName(source: string): string {
  const pattern = /from '\.\.\/\.\.\/src\/index\.js'/g;
  const hits = source.match(pattern)?.length ?? 0;
  if (hits !== 1) throw new Error(`examples/browser/main.ts: expected one import from '../../src/index.js', found ${hits}`);
  return source.replace(pattern, "from 'mamba-edge'");
}

/**
 * Makes the app folder. `script` is what index.html's module script points at: './main.js' for a
 * build that writes main.js next to it (esbuild), './main.ts' for Vite, which starts from index.html.
 */
export function makeApp(script: './main.js' | './main.ts'): string {
  const app = mkdtempSync(join(tmpdir(), 'mamba-edge-app-'));
  const pkg = join(app, 'node_modules', 'mamba-edge');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  // The package's browser bundle, built into the app's node_modules (never touching the repo's dist/).
  const r = spawnSync(process.execPath, [join(ROOT, 'tools', 'build.mjs'), '--browser-only', '--out', join(pkg, 'dist')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tools/build.mjs --browser-only failed:\n${r.stdout}${r.stderr}`);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'mamba-edge-app', private: true, type: 'module', dependencies: { 'mamba-edge': '0.1.0' } }, null, 2));
  writeFileSync(join(app, 'main.ts'), importByName(readFileSync(join(EXAMPLE, 'main.ts'), 'utf8')));
  const html = readFileSync(join(EXAMPLE, 'index.html'), 'utf8');
  if (!html.includes('src="./main.js"')) throw new Error('examples/browser/index.html: expected <script type="module" src="./main.js">');
  writeFileSync(join(app, 'index.html'), html.replace('src="./main.js"', `src="${script}"`));
  return app;
}

/** The text Node generates for PROMPT/GEN on one thread: what every bundled page must print. */
export async function nodeText(): Promise<string> {
  const model = await loadModel(MODEL_DIR, { threads: 1 });
  try {
    return (await model.createSession().generate(PROMPT, GEN).finished).text;
  } finally {
    await model.dispose();
  }
}

/** What examples/browser/main.ts sets on the page as `globalThis.mambaEdgeDemo` (page.evaluate bodies run there). */
interface DemoPage {
  mambaEdgeDemo: {
    ready: Promise<BackendInfo>;
    generate(prompt: string, opts: object): Promise<DemoRun>;
  };
}

/**
 * Opens the built page (served cross-origin isolated) and checks what bundling could break: the
 * coordinator worker started from its Blob URL, the kernel workers joined it (2 threads), the
 * wasm kernels compiled from the bytes inside the bundle, and the model generated `expected`.
 */
export async function checkBuiltPage(page: Page, url: string, expected: string): Promise<void> {
  await checkPage(page, url, expected, true);
}

/** The same build served without COOP/COEP: the single-thread path in the coordinator worker, same text. */
export async function checkBuiltPageSingleThread(page: Page, url: string, expected: string): Promise<void> {
  await checkPage(page, url, expected, false);
}

/**
 * A bundler's output folder served from 127.0.0.1 with the model: cross-origin isolated it passes
 * checkBuiltPage with no 404 but /favicon.ico; served without COOP/COEP it passes
 * checkBuiltPageSingleThread. Both servers are closed before it returns.
 */
export async function checkBuildOutput(browser: Chromium, out: string, expected: string): Promise<void> {
  const server = await serveStatic({ '/': out, '/models/default/': MODEL_DIR }, { ...ISOLATION_HEADERS });
  try {
    const page = await browser.context.newPage();
    await checkBuiltPage(page, server.url, expected);
    expect(server.missing.filter((p) => p !== '/favicon.ico')).toEqual([]);
    await page.close();
  } finally {
    await server.close();
  }
  const plain = await serveStatic({ '/': out, '/models/default/': MODEL_DIR });
  try {
    const page = await browser.context.newPage();
    await checkBuiltPageSingleThread(page, plain.url, expected);
    await page.close();
  } finally {
    await plain.close();
  }
}

async function checkPage(page: Page, url: string, expected: string, isolated: boolean): Promise<void> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // 404s are checked on the server's side (the browser asks for /favicon.ico by itself).
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  await page.goto(`${url}?threads=${THREADS}`);
  const info = await page.evaluate(() => (globalThis as unknown as DemoPage).mambaEdgeDemo.ready);
  expect(await page.evaluate(() => crossOriginIsolated)).toBe(isolated);
  const threads = isolated ? THREADS : 1;
  expect(info).toMatchObject({ name: 'wasm', threads });
  expect(info.note).toMatch(isolated ? /dedicated worker/ : /single-threaded: SharedArrayBuffer is unavailable/);
  // Playwright lists nested workers too: the coordinator plus threads − 1 kernel workers (the
  // coordinator's thread takes a share), every one started from a Blob URL the bundle made.
  const workers = page.workers().map((w) => w.url());
  expect(workers).toHaveLength(threads);
  for (const w of workers) expect(w).toMatch(/^blob:http:\/\/127\.0\.0\.1:/);
  const run = await page.evaluate(([prompt, opts]) => (globalThis as unknown as DemoPage).mambaEdgeDemo.generate(prompt, opts), [PROMPT, GEN] as const);
  expect(run.text).toBe(expected);
  expect(run.pieces).toBe(GEN.maxTokens);
  expect(await page.locator('#out').textContent()).toBe(PROMPT + expected);
  expect(errors).toEqual([]);
}
