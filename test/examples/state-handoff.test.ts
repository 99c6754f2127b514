/**
 * examples/state-handoff: a real redis-server (Debian's, started here on 127.0.0.1, random
 * port, no persistence), two server processes, and the front carrying one conversation across
 * them. The replies must equal one uninterrupted session in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/node.js';
import { converse } from '../../examples/state-handoff/front.js';

const root = resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
let dir: string;
let redisUrl: string;
let instances: { name: string; pid: number; url: string }[];
let model: Model;

function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

/** Starts a child and resolves with the first stdout line that `ready` accepts. */
function start(cmd: string, args: string[], ready: (line: string) => boolean): Promise<string> {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  return new Promise((done, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd}: not ready after 60 s\n${stderr}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before it was ready:\n${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (ready(line)) { clearTimeout(timer); done(line); }
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mamba-edge-handoff-'));
  const port = await freePort();
  // No persistence: no RDB snapshots (--save ''), no append-only file.
  await start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes'],
    (l) => l.includes('Ready to accept connections'));
  redisUrl = `redis://127.0.0.1:${port}`;
  const server = join(root, 'examples/state-handoff/server.ts');
  instances = await Promise.all(['A', 'B'].map(async (name) => {
    const line = await start(process.execPath, ['--import', 'tsx', server, '--name', name, '--port', '0'], (l) => l.startsWith('{'));
    const { pid, port: p } = JSON.parse(line) as { pid: number; port: number };
    return { name, pid, url: `http://127.0.0.1:${p}` };
  }));
  model = await loadModel(undefined, { backend: 'wasm', threads: 1 });
}, 120_000);

afterAll(async () => {
  await model?.dispose();
  await Promise.all(children.map((c) => new Promise<void>((done) => {
    if (c.exitCode !== null || c.signalCode !== null) return done();
    c.once('exit', () => done());
    c.kill('SIGTERM');
  })));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('examples/state-handoff', () => {
  it('one conversation over two processes through Redis equals one uninterrupted session', async () => {
    expect(instances[0].pid).not.toBe(instances[1].pid);
    const messages = ['Who was the king of Israel?', 'What did he do?', 'And his son?'];
    const params = { max_tokens: 120, temperature: 0.8, top_k: 40, seed: 11 };
    const turns = await converse({ redisUrl, instances: instances.map((i) => i.url), conversationId: 'test-1', messages, params });
    console.log(JSON.stringify(turns.map((t) => [t.servedBy, t.finishReason, t.reply])));
    expect(turns.map((t) => t.servedBy)).toEqual(['A', 'B', 'A']);

    // The state in Redis is the last turn's, a few MB in base64 (the default model's state: 1.38 MB of floats).
    const redis = createClient({ url: redisUrl });
    await redis.connect();
    const stored = await redis.get('conv:test-1');
    expect(await redis.ttl('conv:test-1')).toBeGreaterThan(0);
    await redis.quit();
    expect(stored?.length).toBe(turns[2].stateBytes);
    expect(Buffer.from(stored!, 'base64').length).toBeGreaterThan(model.info.stateBytes);

    // Uninterrupted: one session reads every turn in order (the plain chat format; a reply that did
    // not end at its newline gets one, as the handler adds before saving the state).
    const session = model.createSession();
    for (const [i, user] of messages.entries()) {
      const r = await session.generate(`User: ${user}\nAssistant:`, { maxTokens: 120, temperature: 0.8, topK: 40, seed: 11, stop: ['\n'] }).finished;
      expect(turns[i].reply, `turn ${i + 1}`).toBe(r.text.replace(/^ /, ''));
      expect(turns[i].finishReason).toBe(r.finishReason === 'length' ? 'length' : 'stop');
      if (r.finishReason !== 'stop') await session.prefill(model.tokenizer.encode('\n'));
    }
    await session.dispose();
    expect(turns.some((t) => t.reply.length > 10)).toBe(true);
  }, 120_000);
});
