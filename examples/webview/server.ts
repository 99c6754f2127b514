/**
 * Serves the webview example from 127.0.0.1 (the page, its script bundled by esbuild with the
 * coordinator worker embedded, and models/default), with the browser example's server:
 *
 *   /plain/…  as a webview loads an app-bundled page: no COOP/COEP, so one thread
 *   /…        with COOP/COEP, for comparison: up to 2 threads
 *
 *   npx tsx examples/webview/server.ts [--port 8081]    then open the URL on a phone or in a
 *   browser's device mode (390 × 844)
 */
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startExampleServer, type ExampleServer } from '../browser/server.js';

const here = dirname(fileURLToPath(import.meta.url));

export function startWebviewServer(opts: { port?: number; host?: string } = {}): Promise<ExampleServer> {
  return startExampleServer({ ...opts, dir: here });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--port');
  const s = await startWebviewServer({ port: i > 0 ? Number(process.argv[i + 1]) : 8081 });
  console.log(`mamba-edge webview example\n  as a webview loads it (one thread): ${s.plainUrl}\n  cross-origin isolated (2 threads):   ${s.isolatedUrl}\nCtrl-C to stop.`);
}
