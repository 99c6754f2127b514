/**
 * Headless Chromium for tests that drive a page (test/bundling, test/examples): Debian's
 * /usr/bin/chromium (or CHROMIUM_PATH) through playwright-core, a throwaway profile, and a
 * tiny static file server on 127.0.0.1 that serves with or without COOP/COEP.
 *
 * Fails, not skips, when Chromium is missing (apt-get install -y chromium).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { chromium, type BrowserContext, type BrowserContextOptions } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Chromium {
  context: BrowserContext;
  /** The throwaway profile directory (every Chromium process of this instance names it on its command line). */
  profile: string;
  close(): Promise<void>;
}

/** A persistent context in a temporary profile; `options` sets the viewport, isMobile, …; `extraArgs` are more Chromium flags. */
export async function launchChromium(options: BrowserContextOptions = {}, extraArgs: string[] = []): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium binary`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'mamba-edge-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { ...options, executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
  return {
    context,
    profile,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The headers that make a page cross-origin isolated (SharedArrayBuffer, so threads). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8', '.png': 'image/png',
};

export interface StaticServer {
  url: string;
  /** Paths requested, in order (to show what a page fetched). */
  requests: string[];
  /** Paths answered 404. */
  missing: string[];
  close(): Promise<void>;
}

/**
 * Serves files from `mounts` (URL prefix → directory; the longest prefix wins), `/` → index.html,
 * with `headers` on every response. Refuses paths that leave a mount.
 */
export async function serveStatic(mounts: Record<string, string>, headers: Record<string, string> = {}): Promise<StaticServer> {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const requests: string[] = [];
  const missing: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const prefix = prefixes.find((p) => path.startsWith(p));
    let file: string | undefined;
    if (prefix !== undefined && req.method === 'GET') {
      const root = mounts[prefix];
      const candidate = normalize(join(root, path.slice(prefix.length) || 'index.html'));
      if (candidate.startsWith(root.endsWith(sep) ? root : root + sep)) file = candidate;
    }
    const found = file !== undefined && (await stat(file).catch(() => null))?.isFile();
    if (!found) {
      missing.push(path);
      res.writeHead(404, { 'content-type': 'text/plain', ...headers }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file!)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...headers })
      .end(await readFile(file!));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    missing,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * Resident memory (MiB) of each renderer process of the Chromium started with `profile`, by pid,
 * from /proc (Linux); null where /proc is not there. A page and its dedicated workers live in
 * one renderer process.
 */
export function rendererRss(profile: string): Map<number, number> | null {
  if (!existsSync('/proc/self/status')) return null;
  const rss = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (!cmd.includes('--type=renderer') || !cmd.includes(`--user-data-dir=${profile}`)) continue;
      const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (kb) rss.set(Number(pid), Number(kb) / 1024);
    } catch {
      // the process ended while we looked
    }
  }
  return rss;
}
