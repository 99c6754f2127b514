/**
 * Bundling, Vite: the same app as the esbuild test (test/bundling/app.ts), built with `vite build`
 * and the config a Vite user writes for a page that wants threads — COOP/COEP headers for
 * `vite dev` / `vite preview`, nothing about workers or .wasm — run as its own process from the
 * app's folder. The output is served cross-origin isolated from 127.0.0.1 and run in headless
 * Chromium: the workers start, the kernels load and the model generates what Node generates.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISOLATION_HEADERS, launchChromium, serveStatic, type Chromium, type StaticServer } from '../helpers/chromium.js';
import { checkBuiltPage, checkBuiltPageSingleThread, makeApp, MODEL_DIR, nodeText, ROOT } from './app.js';

/** vite.config.js as a user writes it (no import of 'vite', which the temporary app does not install). */
const VITE_CONFIG = `
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};
export default {
  server: { headers: crossOriginIsolation },
  preview: { headers: crossOriginIsolation },
};
`;

describe('bundling with Vite', { timeout: 60_000 }, () => {
  let app: string;
  let browser: Chromium;
  let server: StaticServer;
  let plain: StaticServer;
  let expected: string;

  beforeAll(async () => {
    [app, expected] = await Promise.all([Promise.resolve(makeApp('./main.ts')), nodeText()]);
    writeFileSync(join(app, 'vite.config.js'), VITE_CONFIG);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await plain?.close();
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('`vite build` of the app runs threaded in Chromium and generates the same text as Node (and on one thread without COOP/COEP)', async () => {
    const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
    const r = spawnSync(process.execPath, [vite, 'build'], { cwd: app, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, `vite build failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
    const out = join(app, 'dist');
    // index.html and one script in assets/: the worker scripts and the kernels travel inside it.
    expect(readdirSync(out).sort()).toEqual(['assets', 'index.html']);
    const assets = readdirSync(join(out, 'assets'));
    expect(assets).toEqual([expect.stringMatching(/^index-[\w-]+\.js$/)]);

    server = await serveStatic({ '/': out, '/models/default/': MODEL_DIR }, { ...ISOLATION_HEADERS });
    const page = await browser.context.newPage();
    await checkBuiltPage(page, server.url, expected);
    expect(server.missing.filter((p) => p !== '/favicon.ico')).toEqual([]);
    await page.close();

    // The same build where the page is not cross-origin isolated: one thread, same text.
    plain = await serveStatic({ '/': out, '/models/default/': MODEL_DIR });
    const plainPage = await browser.context.newPage();
    await checkBuiltPageSingleThread(plainPage, plain.url, expected);
    await plainPage.close();
  });
});
