/**
 * Serves the browser example from 127.0.0.1: the page, its script (examples/browser/main.ts
 * bundled by esbuild with the coordinator worker embedded) and models/default.
 *
 *   /…        with COOP/COEP headers: the page is cross-origin isolated, the model runs threaded
 *   /plain/…  the same files without them: no SharedArrayBuffer, the model runs on one thread
 *
 *   npx tsx examples/browser/server.ts [--port 8080]    then open the URLs it prints
 */
import { createServer, type Server } from 'node:http';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { browserRuntimePlugin } from '../../workers/browser/bundle.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const modelDir = join(root, 'models', 'default');

const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.safetensors': 'application/octet-stream', '.txt': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8',
};

export interface ExampleServer {
  /** The page, cross-origin isolated (COOP/COEP headers). */
  isolatedUrl: string;
  /** The same page without the headers. */
  plainUrl: string;
  close(): Promise<void>;
}

/** The example's script: main.ts and the library, with the coordinator worker embedded. `dir`: another example's folder (examples/webview). */
export async function bundleExample(dir = here): Promise<string> {
  const out = await build({
    entryPoints: [join(dir, 'main.ts')],
    bundle: true, write: false, format: 'esm', platform: 'browser', target: 'es2022',
    minify: true, legalComments: 'none', logLevel: 'silent', plugins: [await browserRuntimePlugin()],
  });
  return out.outputFiles[0].text;
}

/** Serves an example folder's index.html + bundled main.ts (default: this one) and models/default. */
export async function startExampleServer(opts: { port?: number; host?: string; dir?: string } = {}): Promise<ExampleServer> {
  const host = opts.host ?? '127.0.0.1';
  const dir = opts.dir ?? here;
  const [script, page, modelFiles] = await Promise.all([bundleExample(dir), readFile(join(dir, 'index.html')), readdir(modelDir)]);
  const files = new Map<string, Buffer | string>([['index.html', page], ['main.js', script]]);

  const server: Server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const plain = path === '/plain' || path.startsWith('/plain/');
    let name = decodeURIComponent(plain ? path.slice('/plain'.length) : path).replace(/^\/+/, '');
    if (name === '') name = 'index.html';
    const headers: Record<string, string> = { 'cache-control': 'no-store', ...(plain ? {} : ISOLATION_HEADERS) };
    let body: Buffer | string | undefined = files.get(name);
    if (body === undefined && name.startsWith('models/default/') && modelFiles.includes(name.slice('models/default/'.length))) {
      body = await readFile(join(modelDir, name.slice('models/default/'.length)));
    }
    if (body === undefined || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain', ...headers }).end(`not found: ${path}`);
      return;
    }
    const ext = name.slice(name.lastIndexOf('.'));
    res.writeHead(200, { 'content-type': TYPES[ext] ?? 'application/octet-stream', ...headers }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    isolatedUrl: `http://${host}:${port}/`,
    plainUrl: `http://${host}:${port}/plain/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--port');
  const s = await startExampleServer({ port: i > 0 ? Number(process.argv[i + 1]) : 8080 });
  console.log(`mamba-edge browser example\n  threaded (COOP/COEP):   ${s.isolatedUrl}\n  single-thread fallback: ${s.plainUrl}\nCtrl-C to stop.`);
}
