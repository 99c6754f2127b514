/**
 * Headless Chromium for the browser figures: Debian's /usr/bin/chromium through
 * playwright-core (--no-sandbox, headless), pages served from 127.0.0.1 with COOP/COEP so
 * they are cross-origin isolated (SharedArrayBuffer, threads). One browser per measurement,
 * so the peak RSS (the renderer process that runs the page and its workers, sampled from
 * /proc every 100 ms) is that run's alone.
 *
 * Peer: llama.cpp in WebAssembly through @wllama/wllama (JSPI + Memory64 build), on the same
 * GGUF file and the same prompt ids as the other engines:
 *
 *   node --import tsx bench/peers/chromium.ts --engine wllama --gguf FILE --threads 1 [--prompt-tokens 512] [--gen-tokens 128] [--vocab-size 50280]
 *
 *   node --import tsx bench/peers/chromium.ts --engine mamba-edge --model HF_DIR --threads 1 [--dtype f32] ...
 *
 * mamba-edge in the page: bench/browser/page.ts bundled with the browser runtime (as
 * examples/browser is), the Hugging Face folder fetched and passed to loadModel.
 *
 * Prints one JSON line (the PeerResult of llama.ts). wllama's own timings (llama.cpp's
 * prompt_ms / predicted_ms) give prefill and decode speed; time to first token is the
 * page's wall clock from the request to the first streamed token.
 */
import { createReadStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { promptIds, type PeerResult } from './llama.js';

const here = dirname(fileURLToPath(import.meta.url));
const WLLAMA_DIR = join(here, 'node_modules/@wllama/wllama/esm');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

/** Serves `routes` (URL prefix → directory or file) from 127.0.0.1 with the cross-origin isolation headers. */
export async function serve(routes: Record<string, string>, html: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    if (url.pathname === '/favicon.ico') { res.writeHead(204, headers); res.end(); return; }
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' });
      res.end(html);
      return;
    }
    for (const [prefix, target] of Object.entries(routes)) {
      if (!url.pathname.startsWith(prefix)) continue;
      const file = statSync(target).isDirectory() ? resolve(target, `.${decodeURIComponent(url.pathname.slice(prefix.length - 1))}`) : target;
      if (!file.startsWith(target) || !existsSync(file) || !statSync(file).isFile()) break;
      const size = statSync(file).size;
      const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Number(range[2]) : size - 1;
        res.writeHead(206, { ...headers, 'Content-Type': type, 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${size}`, 'Accept-Ranges': 'bytes' });
        createReadStream(file, { start, end }).pipe(res);
      } else {
        res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': size, 'Accept-Ranges': 'bytes' });
        if (req.method === 'HEAD') res.end();
        else createReadStream(file).pipe(res);
      }
      return;
    }
    if (process.env.BENCH_DEBUG) console.error('404', req.url);
    res.writeHead(404, headers);
    res.end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** RSS of the descendants of `pid` whose command line says they are renderers (the page and its workers). */
function rendererRss(pid: number): number {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      (children.get(ppid) ?? children.set(ppid, []).get(ppid)!).push(Number(d));
    } catch { /* gone */ }
  }
  let rss = 0;
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      try {
        if (readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('--type=renderer')) {
          const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${c}/status`, 'utf8'));
          if (m) rss += Number(m[1]) * 1024;
        }
      } catch { /* gone */ }
      walk(c);
    }
  };
  walk(pid);
  return rss;
}

/** Runs `fn(arg)` in a fresh headless Chromium page at `origin`, sampling the renderer's RSS meanwhile. */
/** `fn` is the source text of an async function of one argument (a string, so no build tool rewrites it). */
export async function inChromium<A, R>(origin: string, fn: string, arg: A, timeoutMs = 600_000): Promise<{ result: R; peakRssBytes: number; version: string }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless', '--enable-features=SharedArrayBuffer', '--js-flags=--experimental-wasm-jspi'],
  });
  // playwright-core does not expose the browser's pid; find the chromium processes we started by their parent (us).
  const rootPids = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('chromium');
    } catch { return false; }
  });
  let peak = 0;
  const timer = setInterval(() => { for (const p of rootPids()) peak = Math.max(peak, rendererRss(p)); }, 100);
  try {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => { if (process.env.BENCH_DEBUG) console.error(`[page ${m.type()}] ${m.text()}`); if (m.type() === 'error') logs.push(m.text()); });
    page.on('pageerror', (e) => logs.push(e.message));
    await page.goto(`${origin}/`);
    page.setDefaultTimeout(timeoutMs);
    let result: R;
    try {
      result = (await page.evaluate(`(${fn})(${JSON.stringify(arg)})`)) as R;
    } catch (e) {
      throw new Error(`${(e as Error).message.split('\n')[0]}${logs.length ? `; page said: ${logs.slice(-3).join(' | ')}` : ''}`);
    }
    for (const p of rootPids()) peak = Math.max(peak, rendererRss(p));
    return { result, peakRssBytes: peak, version: browser.version() };
  } finally {
    clearInterval(timer);
    await browser.close();
  }
}

/** wllama's completion API takes text, not ids: one ASCII byte per token (the GGUF's vocabulary is bytes without merges). */
interface WllamaArgs { url: string; threads: number; ids: string; warm: string; gen: number; debug: boolean }
interface WllamaOut { loadMs: number; ttftMs: number; endMs: number; timings: Record<string, number> | null; tokens: number; threads: number; isolated: boolean; version: string }

/** Runs in the page (JavaScript source, WllamaArgs → WllamaOut). */
const WLLAMA_PAGE = `
async function wllamaPage(a) {
  // served from bench/peers/node_modules/@wllama/wllama/esm
  const { Wllama } = await import('/wllama/index.js');
  const quiet = { debug() {}, log() {}, warn() {}, error: console.error };
  const w = new Wllama({ default: '/wllama/wasm/wllama.wasm' }, a.debug ? {} : { suppressNativeLog: true, logger: quiet });
  const t0 = performance.now();
  await w.loadModelFromUrl(new URL(a.url, location.href).href, { n_threads: a.threads, n_ctx: 1024, n_batch: 512, n_ubatch: 512, useCache: false });
  const loadMs = performance.now() - t0;
  // Warm-up on other ids, so nothing of the measured prompt is cached.
  await w.createCompletion({ prompt: a.warm, max_tokens: 2, temp: 0, ignore_eos: true, cache_prompt: false });
  let first = 0;
  let n = 0;
  let timings = null;
  const t1 = performance.now();
  await w.createCompletion({
    prompt: a.ids, max_tokens: a.gen + 1, temp: 0, ignore_eos: true, cache_prompt: false, stream: true,
    onData: (c) => {
      if (!first) first = performance.now();
      n++;
      if (c.timings) timings = c.timings;
    },
  });
  const endMs = performance.now() - t1;
  const out = { loadMs, ttftMs: first - t1, endMs, timings, tokens: n, threads: w.getNumThreads(), isolated: crossOriginIsolated, version: '' };
  try { out.version = String(Wllama.getLibllamaVersion?.() ?? ''); } catch (e) { /* older API */ }
  await w.exit();
  return out;
}
`;

export async function runWllama(o: { gguf: string; threads: number; promptTokens: number; genTokens: number; vocabSize: number }): Promise<PeerResult> {
  const { server, origin } = await serve({ '/wllama/': WLLAMA_DIR, '/models/model.gguf': o.gguf }, '<!doctype html><title>bench</title><body>bench</body>');
  try {
    // Printable ASCII from the same seeded ids: each character is one byte token of the GGUF's vocabulary.
    const text = (ids: number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');
    const ids = text(promptIds(o.promptTokens, o.vocabSize));
    const warm = text(promptIds(8, o.vocabSize, 99));
    const { result: r, peakRssBytes, version } = await inChromium<WllamaArgs, WllamaOut>(origin, WLLAMA_PAGE, { url: '/models/model.gguf', threads: o.threads, ids, warm, gen: o.genTokens, debug: !!process.env.BENCH_DEBUG });
    if (!r.isolated) throw new Error('the page is not cross-origin isolated');
    const t = r.timings as Record<string, number> | null;
    if (!t) throw new Error('wllama returned no timings');
    if (t.prompt_n !== o.promptTokens) throw new Error(`wllama evaluated ${t.prompt_n} prompt tokens, expected ${o.promptTokens}`);
    const wllamaVersion = (JSON.parse(readFileSync(join(here, 'node_modules/@wllama/wllama/package.json'), 'utf8')) as { version: string }).version;
    return {
      engine: `wllama ${wllamaVersion} in Chromium ${version}${r.version ? ` (llama.cpp ${r.version})` : ''}`,
      threads: r.threads,
      promptTokens: t.prompt_n,
      genTokens: t.predicted_n - 1,
      loadMs: r.loadMs,
      prefillMs: t.prompt_ms,
      prefillTokensPerSec: t.prompt_per_second,
      ttftMs: r.ttftMs,
      decodeMs: t.predicted_ms,
      decodeTokensPerSec: t.predicted_per_second,
      peakRssBytes,
      tokens: [],
    };
  } finally {
    server.close();
  }
}

/** mamba-edge's wasm backend in the page (bench/browser/page.ts). */
export async function runOurs(o: { model: string; threads: number; dtype: string; promptTokens: number; genTokens: number }): Promise<PeerResult & { weightBytes: number }> {
  const { build } = await import('esbuild');
  const { browserRuntimePlugin } = await import('../../workers/browser/bundle.mjs');
  const bundled = await build({
    entryPoints: [join(here, '../browser/page.ts')], bundle: true, write: false, format: 'esm', platform: 'browser', target: 'es2022',
    minify: true, legalComments: 'none', logLevel: 'silent', plugins: [await browserRuntimePlugin()],
  });
  const script = bundled.outputFiles[0].text;
  const html = `<!doctype html><title>bench</title><script type="module">${script.replace(/<\/script/g, '<\\/script')}</script><body>bench</body>`;
  const { server, origin } = await serve({ '/model/': o.model }, html);
  try {
    const { result: r, peakRssBytes, version } = await inChromium<unknown, Record<string, number | string | boolean>>(origin,
      'async function (a) { while (!globalThis.mambaEdgeBench) await new Promise((r) => setTimeout(r, 10)); return globalThis.mambaEdgeBench(a); }',
      { base: '/model/', threads: o.threads, dtype: o.dtype, promptTokens: o.promptTokens, genTokens: o.genTokens });
    if (!r.isolated) throw new Error('the page is not cross-origin isolated');
    return {
      engine: `mamba-edge wasm in Chromium ${version}`,
      threads: r.threads as number,
      promptTokens: r.promptTokens as number,
      genTokens: r.genTokens as number,
      loadMs: r.loadMs as number,
      prefillMs: r.prefillMs as number,
      prefillTokensPerSec: r.prefillTokensPerSec as number,
      ttftMs: r.ttftMs as number,
      decodeMs: r.decodeMs as number,
      decodeTokensPerSec: r.decodeTokensPerSec as number,
      peakRssBytes,
      weightBytes: r.weightBytes as number,
      tokens: [],
    };
  } finally {
    server.close();
  }
}

function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  if (def === undefined) throw new Error(`--${name} is required`);
  return def;
}

if (process.argv[1]?.endsWith('chromium.ts')) {
  const engine = arg('engine', 'wllama');
  if (engine !== 'wllama' && engine !== 'mamba-edge') { console.error(`unknown --engine ${engine}`); process.exit(2); }
  const job = engine === 'mamba-edge'
    ? runOurs({ model: arg('model'), threads: Number(arg('threads', '1')), dtype: arg('dtype', 'f32'), promptTokens: Number(arg('prompt-tokens', '512')), genTokens: Number(arg('gen-tokens', '128')) })
    : runWllama({
    gguf: arg('gguf'),
    threads: Number(arg('threads', '1')),
    promptTokens: Number(arg('prompt-tokens', '512')),
    genTokens: Number(arg('gen-tokens', '128')),
    vocabSize: Number(arg('vocab-size', '50280')),
  });
  job.then((r) => { process.stdout.write(`${JSON.stringify(r)}\n`); process.exit(0); }, (e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
}
