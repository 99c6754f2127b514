/**
 * Bundling, Vite: the same app as the esbuild test (test/bundling/app.ts), built with `vite build`
 * and the config a Vite user writes for a page that wants threads — COOP/COEP headers for
 * `vite dev` / `vite preview`, nothing about workers or .wasm — run as its own process from the
 * app's folder. The output is served cross-origin isolated from 127.0.0.1 and run in headless
 * Chromium: the workers start, the kernels load and the model generates what Node generates.
 * Then the same app under `vite` (the dev server, which pre-bundles dependencies its own way),
 * cross-origin isolated by the config's server.headers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Chromium } from '../helpers/chromium.js';
import { checkBuildOutput, checkBuiltPage, makeApp, MODEL_DIR, nodeText, ROOT } from './app.js';

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

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('bundling with Vite', { timeout: 60_000 }, () => {
  let app: string;
  let browser: Chromium;
  let expected: string;
  let dev: ChildProcess | undefined;

  beforeAll(async () => {
    [app, expected] = await Promise.all([Promise.resolve(makeApp('./main.ts')), nodeText()]);
    writeFileSync(join(app, 'vite.config.js'), VITE_CONFIG);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    dev?.kill();
    await browser?.close();
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

    // Served cross-origin isolated (threads), then without COOP/COEP (one thread): same text.
    await checkBuildOutput(browser, out, expected);
  });

  it('`vite` (the dev server, dependencies pre-bundled) serves the app cross-origin isolated from the config, and it runs threaded', async () => {
    // The model's files as a Vite app ships them: in public/, served as they are.
    cpSync(MODEL_DIR, join(app, 'public', 'models', 'default'), { recursive: true });
    const port = await freePort();
    const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
    dev = spawn(process.execPath, [vite, '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { cwd: app, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => { log += d; if (/ready in/.test(log)) resolve(); };
      dev!.stdout!.on('data', onData);
      dev!.stderr!.on('data', onData);
      dev!.once('exit', (code) => reject(new Error(`vite exited with ${code}:\n${log}`)));
    });
    const page = await browser.context.newPage();
    const scripts: string[] = [];
    page.on('request', (r) => { if (r.resourceType() === 'script') scripts.push(new URL(r.url()).pathname); });
    // checkBuiltPage asserts crossOriginIsolated: the headers come from vite.config.js's server.headers.
    await checkBuiltPage(page, `http://127.0.0.1:${port}/`, expected);
    // The library came through Vite's dependency pre-bundling.
    expect(scripts).toContain('/node_modules/.vite/deps/mamba-edge.js');
    await page.close();
  });
});
