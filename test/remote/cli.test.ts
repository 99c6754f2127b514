/**
 * `mamba-edge generate --model hf:owner/name` and `--model https://…/` against the local Hub
 * (hub-server.ts): the same text as the local folder, the cache reused, and on a terminal a
 * download progress bar (run under `script`, which gives the CLI a pseudo-terminal).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgressBars, DOWNLOAD_BAR_MIN_BYTES } from '../../src/cli/progress.js';
import { runsInline } from '../../src/cli/host.js';
import { startHubServer, type HubServer } from './hub-server.js';
import { runCommand } from '../helpers/child.js';

const root = resolve(import.meta.dirname, '../..');
const MODEL = join(root, 'models', 'default');
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const GEN = ['generate', 'The package provides', '--max-tokens', '12', '--seed', '3', '--threads', '1'];

const cli = (args: string[], env: Record<string, string | undefined> = {}) => runCommand(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], env);

describe('CLI with remote models', { timeout: 120_000 }, () => {
  let hub: HubServer;
  let cache: string;
  let expected: string;

  beforeAll(async () => {
    hub = await startHubServer();
    for (const f of FILES) hub.put('test/default', f, new Uint8Array(readFileSync(join(MODEL, f))));
    cache = mkdtempSync(join(tmpdir(), 'mamba-edge-cli-cache-'));
    const local = await cli([...GEN, '--model', MODEL], { HF_ENDPOINT: 'http://127.0.0.1:9' }); // $HF_ENDPOINT concerns hf: models only
    expect(local.code, local.stderr).toBe(0);
    expected = local.stdout;
    expect(expected.length).toBeGreaterThan(10);
  }, 120_000);

  afterAll(async () => {
    await hub?.close();
    if (cache) rmSync(cache, { recursive: true, force: true });
  });

  it('generate --model hf:owner/name (endpoint from HF_ENDPOINT) prints the local folder\'s text; the second run reads the cache', async () => {
    const first = await cli([...GEN, '--model', 'hf:test/default', '--cache-dir', cache], { HF_ENDPOINT: hub.endpoint });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(expected);
    expect(readdirSync(join(cache, 'files'))).toHaveLength(FILES.length * 2);
    const gets = hub.gets('model.safetensors');
    const second = await cli([...GEN, '--model', 'hf:test/default@main', '--cache-dir', cache, '--endpoint', hub.endpoint]);
    expect(second.stdout).toBe(expected);
    expect(hub.gets('model.safetensors')).toBe(gets);
  });

  it('generate --model https://…/ --no-cache; a missing repo is a clear error naming the URL', async () => {
    const r = await cli([...GEN, '--model', `${hub.endpoint}/test/default/resolve/main/`, '--no-cache'], { MAMBA_EDGE_CACHE: join(cache, 'unused') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(expected);
    expect(existsSync(join(cache, 'unused'))).toBe(false);
    const missing = await cli([...GEN, '--model', 'hf:test/missing', '--no-cache', '--endpoint', hub.endpoint]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`${hub.endpoint}/test/missing/resolve/main/config.json: repository not found`);
  });

  it('on a terminal, a download shows a progress bar (cleared before the text)', async () => {
    if (!existsSync('/usr/bin/script')) throw new Error('needs /usr/bin/script (util-linux / bsdutils) for a pseudo-terminal');
    const tty = mkdtempSync(join(tmpdir(), 'mamba-edge-cli-tty-'));
    try {
      const cmd = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', ...GEN, '--model', 'hf:test/default', '--cache-dir', tty, '--endpoint', hub.endpoint]
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const r = await runCommand('/usr/bin/script', ['-qec', cmd, '/dev/null'], { CI: '' });
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toContain('downloading model.safetensors');
      expect(r.stdout).toContain(expected.trim().slice(0, 20));
    } finally {
      rmSync(tty, { recursive: true, force: true });
    }
  });

  it('units: remote models run in a worker thread; the bar says downloading from 1 MiB', () => {
    expect(runsInline({ command: 'info', load: { model: 'hf:a/b', backend: 'auto', dtype: 'f32' } }, {})).toBe(false);
    expect(runsInline({ command: 'info', load: { model: 'https://x.example/m/', backend: 'auto', dtype: 'f32' } }, {})).toBe(false);
    let written = '';
    const stream = new Writable({ write(chunk, _enc, cb) { written += String(chunk); cb(); } }) as unknown as NodeJS.WriteStream;
    Object.assign(stream, { isTTY: true, columns: 100, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    const bars = new ProgressBars(stream, true);
    bars.load('model.safetensors', 0, DOWNLOAD_BAR_MIN_BYTES * 2, 'network');
    bars.load('model.safetensors', DOWNLOAD_BAR_MIN_BYTES * 2, DOWNLOAD_BAR_MIN_BYTES * 2, 'network');
    expect(written).toContain('downloading model.safetensors');
  });
});
