/**
 * Bundling, esbuild: an app made from examples/browser that depends on `mamba-edge` (test/bundling/app.ts)
 * is bundled the way its README-level users would (`esbuild main.ts --bundle --format=esm
 * --outdir=out`, no plugins, no worker or .wasm configuration), served cross-origin isolated from
 * 127.0.0.1 and run in headless Chromium: the workers start, the kernels load and the model
 * generates exactly what Node generates.
 */
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type Chromium } from '../helpers/chromium.js';
import { checkBuildOutput, makeApp, nodeText } from './app.js';

describe('bundling with esbuild', { timeout: 60_000 }, () => {
  let app: string;
  let browser: Chromium;
  let expected: string;

  beforeAll(async () => {
    [app, expected] = await Promise.all([Promise.resolve(makeApp('./main.js')), nodeText()]);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('a plain `esbuild --bundle` of the app runs threaded in Chromium and generates the same text as Node (and on one thread without COOP/COEP)', async () => {
    const out = join(app, 'out');
    const result = await build({
      absWorkingDir: app, entryPoints: ['main.ts'], bundle: true, format: 'esm', outdir: 'out', minify: true, logLevel: 'silent', metafile: true,
    });
    expect(result.errors).toEqual([]);
    // The library came from node_modules/mamba-edge/dist/browser (the package's browser build), not from this repo's sources.
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('node_modules/mamba-edge/dist/browser/index.js');
    expect(inputs.filter((f) => !f.startsWith('node_modules/mamba-edge/'))).toEqual(['main.ts']);
    copyFileSync(join(app, 'index.html'), join(out, 'index.html'));
    // One script and the page: the worker scripts and the kernels travel inside main.js.
    expect(readdirSync(out).sort()).toEqual(['index.html', 'main.js']);

    // Served cross-origin isolated (threads), then without COOP/COEP (one thread): same text.
    await checkBuildOutput(browser, out, expected);
  });
});
