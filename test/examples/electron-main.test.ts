/**
 * examples/electron's main-process module (model-host.ts) and its preload bridge (bridge.ts)
 * under plain Node, joined by a real message channel with Electron's IPC semantics
 * (test/examples/electron-ipc.ts) — Electron itself cannot be installed here (its binary comes
 * from GitHub). The model is the real default model on the wasm backend with 2 threads
 * (worker_threads of this process, as in Electron's main process); every text is compared with
 * the same calls made directly on a model in this process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir, loadModel, type Model } from '../../src/node.js';
import { startModelHost, type ModelHost } from '../../examples/electron/model-host.js';
import { createBridge, HostError, type MambaEdgeBridge } from '../../examples/electron/bridge.js';
import { CHANNELS } from '../../examples/electron/protocol.js';
import { buildApp } from '../../examples/electron/build.mjs';
import { TestIpcMain, type TestWindow } from './electron-ipc.js';

const PROMPT = 'Once upon a time';
const GEN = { maxTokens: 40, seed: 3 };

describe('examples/electron main process under Node (IPC over a MessageChannel)', { timeout: 60_000 }, () => {
  let ipcMain: TestIpcMain;
  let host: ModelHost;
  let direct: Model;

  beforeAll(async () => {
    ipcMain = new TestIpcMain();
    [host, direct] = await Promise.all([startModelHost(ipcMain, { threads: 2 }), loadModel(defaultModelDir(), { threads: 1 })]);
  }, 60_000);

  afterAll(async () => {
    ipcMain?.closeAll();
    await host?.dispose();
    await direct?.dispose();
  });

  /** `turns` generated one after another in one session of the directly loaded model. */
  async function directly(turns: { prompt: string; maxTokens: number; seed?: number }[]): Promise<string[]> {
    const s = direct.createSession();
    const texts: string[] = [];
    for (const { prompt, ...opts } of turns) texts.push((await s.generate(prompt, opts).finished).text);
    await s.dispose();
    return texts;
  }

  function open(): TestWindow & { bridge: MambaEdgeBridge } {
    const w = ipcMain.openWindow();
    return { ...w, bridge: createBridge(w.ipcRenderer) };
  }

  it('registers its channels and reports the model and the backend (wasm, 2 threads) over IPC', async () => {
    expect(ipcMain.channels.sort()).toEqual([CHANNELS.generate, CHANNELS.info, CHANNELS.reset, CHANNELS.stop].sort());
    const info = await open().bridge.info();
    expect(info).toMatchObject({
      backend: { name: 'wasm', threads: 2 }, architecture: 'mamba2', dtype: 'f32', fingerprint: direct.fingerprint,
      runtime: `node ${process.versions.node}`, stateBytes: direct.info.stateBytes, weightBytes: direct.info.weightBytes,
    });
  });

  it('streams one token event per token to the asking window; the text equals a direct run', async () => {
    const { bridge } = open();
    const pieces: string[] = [];
    const reply = await bridge.generate({ prompt: PROMPT, ...GEN }, (t) => pieces.push(t));
    const [expected] = await directly([{ prompt: PROMPT, ...GEN }]);
    expect(reply).toMatchObject({ id: 1, text: expected, finishReason: 'length', completionTokens: GEN.maxTokens, promptTokens: PROMPT.length });
    expect(pieces).toHaveLength(GEN.maxTokens);
    expect(pieces.join('')).toBe(expected);
  });

  it('keeps each window\'s conversation in the main process between turns; reset starts over', async () => {
    const { bridge } = open();
    const turns = [{ prompt: PROMPT, ...GEN }, { prompt: '\nThen', maxTokens: 24, seed: 5 }];
    const replies = [];
    for (const t of turns) replies.push(await bridge.generate(t, () => undefined));
    expect(replies.map((r) => r.text)).toEqual(await directly(turns));
    expect(replies[1].position).toBeGreaterThan(replies[0].position);
    await bridge.reset();
    expect((await bridge.generate(turns[0], () => undefined)).text).toBe(replies[0].text);
  });

  it('serves two windows at once, each its own conversation and its own tokens', async () => {
    const [a, b] = [open(), open()];
    const got = { a: [] as string[], b: [] as string[] };
    const [ra, rb] = await Promise.all([
      a.bridge.generate({ prompt: PROMPT, maxTokens: 30, seed: 1 }, (t) => got.a.push(t)),
      b.bridge.generate({ prompt: 'The package', maxTokens: 30, seed: 2 }, (t) => got.b.push(t)),
    ]);
    const [ea] = await directly([{ prompt: PROMPT, maxTokens: 30, seed: 1 }]);
    const [eb] = await directly([{ prompt: 'The package', maxTokens: 30, seed: 2 }]);
    expect([ra.text, rb.text]).toEqual([ea, eb]);
    expect([got.a.join(''), got.b.join('')]).toEqual([ea, eb]);
  });

  it('stop ends a running generation; a second generate meanwhile is refused', async () => {
    const { bridge } = open();
    let seen = 0;
    let stopped: Promise<boolean> | undefined;
    let busy: Promise<unknown> | undefined;
    const reply = await bridge.generate({ prompt: PROMPT, maxTokens: 2000, seed: 1 }, () => {
      if (++seen === 5) {
        busy = bridge.generate({ prompt: 'x' }, () => undefined).catch((e: unknown) => e);
        stopped = bridge.stop();
      }
    });
    expect(reply.finishReason).toBe('abort');
    // Tokens already sampled while the stop was in flight still count; far from the 2000 asked.
    expect(reply.completionTokens).toBeLessThan(200);
    expect(await stopped).toBe(true);
    const refusal = await busy;
    expect(refusal).toBeInstanceOf(HostError);
    expect(refusal).toMatchObject({ code: 'E_ARGUMENT', message: expect.stringMatching(/already running in this window/) });
    expect(await bridge.stop()).toBe(false);
    // The window's conversation goes on after the stop.
    expect((await bridge.generate({ prompt: '', maxTokens: 5 }, () => undefined)).completionTokens).toBe(5);
  });

  it('refuses bad requests from a renderer with E_ARGUMENT naming the field', async () => {
    const { ipcRenderer, bridge } = open();
    // Raw invokes, as a compromised renderer could send them; the rejection as Electron words it.
    const invoke = (...args: unknown[]) => ipcRenderer.invoke(CHANNELS.generate, ...args).then(() => 'accepted', (e: Error) => e.message);
    expect(await invoke(1, { prompt: 42 })).toBe(`Error invoking remote method '${CHANNELS.generate}': Error: E_ARGUMENT: ${CHANNELS.generate}: prompt must be a string, got 42`);
    expect(await invoke(1, null)).toMatch(/E_ARGUMENT: .*request must be an object/);
    expect(await invoke(-1, { prompt: 'a' })).toMatch(/E_ARGUMENT: .*id must be a non-negative integer, got -1/);
    expect(await invoke(1, { prompt: 'a', maxTokens: 0 })).toMatch(/E_ARGUMENT: .*maxTokens must be an integer from 1 to 2048, got 0/);
    expect(await invoke(1, { prompt: 'a', maxTokens: 1e6 })).toMatch(/maxTokens must be an integer from 1 to 2048, got 1000000/);
    expect(await invoke(1, { prompt: 'a'.repeat(16_385) })).toMatch(/prompt must be at most 16384 characters, got "16385 characters"/);
    expect(await invoke(1, { prompt: 'a', seed: 1.5 })).toMatch(/seed must be an integer, got 1.5/);
    expect(await invoke(1, { prompt: 'a', temperature: '0.7' })).toMatch(/temperature must be a number/);
    // The library's own checks come through with their code too.
    expect(await invoke(1, { prompt: 'a', temperature: -1, maxTokens: 2 })).toMatch(/E_ARGUMENT: .*temperature/);
    await expect(bridge.generate({ prompt: '' }, () => undefined)).rejects.toMatchObject({ code: 'E_ARGUMENT' }); // nothing to continue
  });

  it('a window closing mid-generation stops the work for it and drops its conversation', async () => {
    const { bridge, webContents } = open();
    const [windowsBefore, tokensBefore] = [host.windows, host.tokens];
    let seen = 0;
    const outcome = bridge.generate({ prompt: PROMPT, maxTokens: 2000, seed: 1 }, () => {
      if (++seen === 3) webContents.destroy();
    }).then(() => 'finished', (e: Error) => e.message);
    expect(await outcome).toBe('the window was closed');
    // The host saw 'destroyed': the conversation is gone, and the generation ends long before 2000 tokens.
    expect(host.windows).toBe(windowsBefore);
    while (host.running > 0) await new Promise((r) => setTimeout(r, 5));
    expect(host.tokens - tokensBefore).toBeLessThan(200);
    expect(seen).toBeGreaterThanOrEqual(3);
    expect(seen).toBeLessThan(50); // messages already in flight may still land; nothing after the port closed
  });

  it('builds into out/ with only electron, the optional native webgpu package and Node built-ins left external', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mamba-edge-electron-'));
    try {
      const built = await buildApp(out);
      const externals = (meta: typeof built.main) => [...new Set(Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)))].sort();
      expect(externals(built.preload)).toEqual(['electron']);
      expect(externals(built.renderer)).toEqual([]);
      expect(externals(built.main).filter((p) => !p.startsWith('node:'))).toEqual(['electron', 'webgpu']);
      expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('<script src="./renderer.js">');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('examples/electron host shutdown', { timeout: 60_000 }, () => {
  it('dispose removes the handlers, so a window\'s call is answered "No handler registered"', async () => {
    const ipcMain = new TestIpcMain();
    const host = await startModelHost(ipcMain, { threads: 1 });
    const { ipcRenderer } = ipcMain.openWindow();
    expect((await createBridge(ipcRenderer).info()).backend.threads).toBe(1);
    await host.dispose();
    expect(ipcMain.channels).toEqual([]);
    await expect(createBridge(ipcRenderer).info()).rejects.toMatchObject({ code: 'E_BACKEND', message: expect.stringMatching(/No handler registered for 'mamba:info'/) });
    ipcMain.closeAll();
  });
});
