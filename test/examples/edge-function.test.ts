/**
 * examples/edge-function: built into one bundle with esbuild, then served under Node, Deno and
 * Bun with the edge restrictions in force (no SharedArrayBuffer, no Worker, no compiling
 * WebAssembly from bytes: examples/edge-function/platform.mjs), and under workerd, Cloudflare
 * Workers' own runtime (which refuses compiling from bytes itself; the kernels are the worker's
 * wasm modules), each checked with real HTTP requests against what the library generates in
 * this process.
 *
 * Deno, Bun and workerd come from npm (examples/edge-function/package.json): installed here with
 * `npm ci` in that folder when they are missing. Their platform packages carry the prebuilt
 * binaries, so no install script is needed (npm 11 does not run them by default).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer as createNetServer } from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/node.js';
import { parseSse } from '../helpers/sse.js';

const root = resolve(import.meta.dirname, '../..');
const example = join(root, 'examples/edge-function');
let out: string;
let outWorkerd: string;
let sizes: { files: { name: string; bytes: number; gzip: number }[]; total: { bytes: number; gzip: number }; modelInBundle: number };
let model: Model;

type Binary = 'deno' | 'bun' | 'workerd';
/** Where each wrapper package puts the binary once its install script ran, and the scope of its platform packages. */
const WRAPPER: Record<Binary, { scope: string; copy: string }> = {
  deno: { scope: '@deno', copy: 'deno/deno' },
  bun: { scope: '@oven', copy: 'bun/bin/bun.exe' },
  workerd: { scope: '@cloudflare', copy: 'workerd/bin/workerd' },
};

/** A runtime's binary from the example's node_modules: the platform package's, or the wrapper's copy after its install script. */
function findBinary(runtime: Binary): string | undefined {
  const nm = join(example, 'node_modules');
  const { scope, copy } = WRAPPER[runtime];
  const candidates: string[] = [];
  if (existsSync(join(nm, scope))) {
    for (const pkg of readdirSync(join(nm, scope))) candidates.push(join(nm, scope, pkg, runtime), join(nm, scope, pkg, 'bin', runtime));
  }
  candidates.push(join(nm, copy));
  // The wrappers ship small placeholder files until their install script replaces them.
  return candidates.find((p) => existsSync(p) && statSync(p).size > 1_000_000);
}

function ensureRuntimes(): void {
  if (findBinary('deno') && findBinary('bun') && findBinary('workerd')) return;
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: example, stdio: 'inherit', timeout: 300_000 });
}

interface Served { child: ChildProcess; port: number; ready: { runtime: string; restrictions: Record<string, boolean> }; stderr: string[] }

function serve(runtime: 'node' | 'deno' | 'bun'): Promise<Served> {
  const script = join(example, 'serve.mjs');
  const cmd = runtime === 'node' ? [process.execPath, script, out]
    : runtime === 'deno' ? [findBinary('deno')!, 'run', '--no-config', '--no-lock', `--allow-read=${out},${example}`, '--allow-net=127.0.0.1', script, out]
      : [findBinary('bun')!, script, out];
  const child = spawn(cmd[0], cmd.slice(1), { cwd: out, env: { ...process.env, DENO_DIR: join(out, '.deno'), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (s: string) => stderr.push(s));
  return new Promise((done, reject) => {
    const timer = setTimeout(() => reject(new Error(`${runtime}: not listening after 60 s\n${stderr.join('')}`)), 60_000);
    child.on('exit', (code) => reject(new Error(`${runtime} exited (${code}) before listening:\n${stderr.join('')}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      const ready = JSON.parse(line);
      done({ child, port: ready.port, ready, stderr });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

/** workerd (Cloudflare's runtime) serving `config` from `dir`; ready when it can answer. */
async function serveWorkerd(dir: string, config: string): Promise<Served> {
  const port = await freePort();
  const child = spawn(findBinary('workerd')!, ['serve', config, '--socket-addr', `http=127.0.0.1:${port}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (x: string) => stderr.push(x));
  child.stdout!.setEncoding('utf8').on('data', (x: string) => stderr.push(x));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}):\n${stderr.join('')}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return { child, port, ready: { runtime: 'workerd', restrictions: {} }, stderr };
    } catch {
      if (Date.now() > deadline) throw new Error(`workerd: not listening after 60 s\n${stderr.join('')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function stop(s: Served): Promise<void> {
  return new Promise((done) => {
    if (s.child.exitCode !== null) return done();
    s.child.once('exit', () => done());
    s.child.kill('SIGTERM');
  });
}

beforeAll(async () => {
  ensureRuntimes();
  out = mkdtempSync(join(tmpdir(), 'mamba-edge-edge-fn-'));
  // @ts-expect-error: plain JavaScript module without types
  const { buildEdgeFunction } = await import('../../examples/edge-function/build.mjs');
  ({ sizes } = await buildEdgeFunction({ out }));
  outWorkerd = join(out, 'workerd');
  await buildEdgeFunction({ out: outWorkerd, target: 'workerd' });
  model = await loadModel(undefined, { backend: 'wasm', threads: 1 });
}, 360_000);
afterAll(async () => {
  await model?.dispose();
  if (out) rmSync(out, { recursive: true, force: true });
});

const post = (port: number, path: string, body: unknown) =>
  fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/**
 * The status of a POST one body larger than the server takes. A server that answers 413 and closes
 * before reading the rest may reset the connection while the client is still writing (EPIPE /
 * ECONNRESET, seen with workerd under load), losing the response: such a send is retried (3 tries),
 * any other failure or status is returned as is.
 */
async function statusOfTooLarge(port: number, maxBodyBytes: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await post(port, '/v1/completions', { prompt: 'x'.repeat(maxBodyBytes) })).status;
    } catch (e) {
      const code = ((e as Error).cause as { code?: string } | undefined)?.code;
      if (attempt >= 3 || (code !== 'EPIPE' && code !== 'ECONNRESET')) throw e;
    }
  }
}

/** The same requests against any runtime serving the edge function, checked against the library in this process. */
async function checkServer(port: number): Promise<void> {
  const models = await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json();
  expect(models.data[0]).toMatchObject({ backend: 'wasm', fingerprint: model.fingerprint });

  const prompt = 'Once upon a time';
  const lib = await model.createSession().generate(prompt, { maxTokens: 24, temperature: 0 }).finished;
  const r1 = await post(port, '/v1/completions', { prompt, max_tokens: 24, temperature: 0, return_state: true });
  expect(r1.status).toBe(200);
  const j1 = await r1.json();
  expect(j1.choices[0].text).toBe(lib.text);
  expect(j1.usage).toEqual({ prompt_tokens: 16, completion_tokens: 24, total_tokens: 40 });

  const streamed = await post(port, '/v1/completions', { prompt, max_tokens: 24, temperature: 0, stream: true });
  expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events = parseSse(await streamed.text());
  expect(events.at(-1)).toBe('[DONE]');
  expect(events.slice(0, -1).map((e) => JSON.parse(e).choices[0].text).join('')).toBe(lib.text);

  // The state from this instance continues in this process exactly (and vice versa, by construction).
  const s2 = model.createSession({ state: Buffer.from(j1.state, 'base64') });
  const next = await s2.generate(' and', { maxTokens: 12, temperature: 0 }).finished;
  const j2 = await (await post(port, '/v1/completions', { prompt: ' and', max_tokens: 12, temperature: 0, state: j1.state })).json();
  expect(j2.choices[0].text).toBe(next.text);

  const chat = await (await post(port, '/v1/chat/completions', { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16, temperature: 0 })).json();
  const chatLib = await model.createSession().generate('User: Hi\nAssistant:', { maxTokens: 16, temperature: 0, stop: ['\n'] }).finished;
  expect(chat.choices[0].message.content).toBe(chatLib.text.replace(/^ /, ''));

  expect((await post(port, '/v1/completions', '{nope')).status).toBe(400);
  expect(await statusOfTooLarge(port, models.data[0].max_body_bytes)).toBe(413);
  expect((await fetch(`http://127.0.0.1:${port}/v1/nothing`)).status).toBe(404);
}

describe('examples/edge-function', () => {
  it('builds into one module with the model inside and nothing from Node', () => {
    const bundle = readFileSync(join(out, 'worker.js'), 'utf8');
    expect(bundle).not.toMatch(/\bfrom\s*["']node:|\brequire\(\s*["']node:|\bimport\(\s*["']node:/);
    expect(bundle).not.toMatch(/\bfrom\s*["'][^"'./][^"']*["']/); // no bare imports left: everything is bundled
    expect(sizes.modelInBundle).toBeGreaterThan(statSync(join(root, 'models/default/model.safetensors')).size);
    expect(sizes.files.map((f) => f.name)).toEqual(['worker.js', 'kernels-as-st.wasm', 'kernels-c-st.wasm']);
    console.log(`edge bundle: ${JSON.stringify(sizes)}`);
  });

  it('without precompiled modules loadModel fails under the restrictions, naming wasmModules; with them it runs on one thread', () => {
    const child = join(root, 'test/examples/edge-restricted-child.mts');
    const run = (...flags: string[]) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', child, ...flags], { encoding: 'utf8', timeout: 60_000 }));
    const without = run();
    expect(without.restrictions).toEqual({ compileRefused: true, sharedArrayBuffer: false, worker: false });
    expect(without.ok).toBe(false);
    expect(without.error).toMatch(/wasmModules/);
    const withModules = run('--with-modules');
    expect(withModules.ok).toBe(true);
    expect(withModules.info.threads).toBe(1);
  }, 120_000);

  for (const runtime of ['node', 'deno', 'bun'] as const) {
    it(`serves real HTTP requests under ${runtime}, generating what the library generates`, async () => {
      const s = await serve(runtime);
      try {
        expect(s.ready.runtime).toBe(runtime);
        expect(s.ready.restrictions).toEqual({ compileRefused: true, sharedArrayBuffer: false, worker: false, compile: true, instantiateBytes: true });
        await checkServer(s.port);
      } finally {
        await stop(s);
      }
    }, 180_000);
  }

  it('runs in workerd, Cloudflare Workers\' runtime: the kernels as the worker\'s wasm modules, compiling from bytes refused by workerd itself', async () => {
    const probeDir = join(root, 'test/examples/workerd-probe');
    const probe = await serveWorkerd(probeDir, 'probe.capnp');
    try {
      const found = await (await fetch(`http://127.0.0.1:${probe.port}/`)).json();
      // workerd's own refusals, not ours (it has SharedArrayBuffer but no threads).
      expect(found.moduleFromBytes).toMatch(/disallowed/);
      expect(found.compile).toMatch(/disallowed/);
      expect(found.instantiateBytes).toMatch(/disallowed/);
      expect(found.worker).toBe(false);
    } finally {
      await stop(probe);
    }
    const bundle = readFileSync(join(outWorkerd, 'worker.js'), 'utf8');
    expect(bundle).toMatch(/from\s*"\.\/kernels-as-st\.wasm"/);
    const s = await serveWorkerd(outWorkerd, 'config.capnp');
    try {
      await checkServer(s.port);
    } finally {
      await stop(s);
    }
  }, 180_000);
});
