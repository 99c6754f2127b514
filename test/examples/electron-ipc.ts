/**
 * Electron's IPC for the tests of examples/electron under plain Node, without Electron (whose
 * binary cannot be downloaded here: see examples/electron/README.md). It is a real message
 * channel, not a stub: a worker_threads MessageChannel (its ports are EventEmitters in Node), so
 * every argument, reply and event is structured-cloned and arrives asynchronously and in order,
 * as between Electron's main and renderer processes. It keeps the Electron behaviours the
 * example depends on:
 *
 * - `ipcMain.handle(channel, fn)` answers `ipcRenderer.invoke(channel, ...args)`; `fn` gets an
 *   event whose `sender` is the calling window's WebContents; a second handle() for a channel
 *   throws; invoking a channel without a handler rejects.
 * - A rejection reaches the renderer as an Error with only a message, Electron's way:
 *   "Error invoking remote method 'ch': Error: <message>".
 * - `webContents.send(ch, ...args)` → the renderer's `ipcRenderer.on(ch, (event, ...args))`;
 *   sending to a destroyed WebContents throws "Object has been destroyed".
 * - `webContents.destroy()` (a window closing) emits 'destroyed'.
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { InvokeEventLike, IpcMainLike, IpcRendererLike, WebContentsLike } from '../../examples/electron/protocol.js';

type Wire =
  | { kind: 'invoke'; seq: number; channel: string; args: unknown[] }
  | { kind: 'reply'; seq: number; ok: true; value: unknown }
  | { kind: 'reply'; seq: number; ok: false; message: string }
  | { kind: 'event'; channel: string; args: unknown[] };

export class TestWebContents extends EventEmitter implements WebContentsLike {
  private destroyed = false;
  constructor(readonly id: number, private readonly port: MessagePort) {
    super();
  }
  send(channel: string, ...args: unknown[]): void {
    if (this.destroyed) throw new Error('Object has been destroyed');
    this.port.postMessage({ kind: 'event', channel, args } satisfies Wire);
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  /** The window closes: no more messages either way. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.port.close();
    this.emit('destroyed');
  }
}

export interface TestWindow {
  webContents: TestWebContents;
  ipcRenderer: IpcRendererLike;
}

export class TestIpcMain implements IpcMainLike {
  private readonly handlers = new Map<string, (event: InvokeEventLike, ...args: unknown[]) => unknown>();
  private nextWindow = 1;
  private readonly windows: TestWindow[] = [];

  handle(channel: string, listener: (event: InvokeEventLike, ...args: any[]) => unknown): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, listener);
  }

  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }

  get channels(): string[] {
    return [...this.handlers.keys()];
  }

  /** A new window: its WebContents (main side) and its ipcRenderer (renderer side), joined by a MessageChannel. */
  openWindow(): TestWindow {
    const { port1: rendererPort, port2: mainPort } = new MessageChannel();
    const webContents = new TestWebContents(this.nextWindow++, mainPort);

    mainPort.on('message', async (m: Wire) => {
      if (m.kind !== 'invoke') return;
      const handler = this.handlers.get(m.channel);
      let reply: Wire;
      if (!handler) {
        reply = { kind: 'reply', seq: m.seq, ok: false, message: `Error invoking remote method '${m.channel}': Error: No handler registered for '${m.channel}'` };
      } else {
        try {
          reply = { kind: 'reply', seq: m.seq, ok: true, value: await handler({ sender: webContents }, ...m.args) };
        } catch (e) {
          reply = { kind: 'reply', seq: m.seq, ok: false, message: `Error invoking remote method '${m.channel}': ${String(e)}` };
        }
      }
      if (!webContents.isDestroyed()) mainPort.postMessage(reply);
    });

    const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
    const listeners = new EventEmitter();
    let seq = 0;
    rendererPort.on('message', (m: Wire) => {
      if (m.kind === 'event') listeners.emit(m.channel, { sender: ipcRenderer }, ...m.args);
      else if (m.kind === 'reply') {
        const p = pending.get(m.seq);
        pending.delete(m.seq);
        if (m.ok) p?.resolve(m.value);
        else p?.reject(new Error(m.message));
      }
    });
    rendererPort.on('close', () => {
      for (const p of pending.values()) p.reject(new Error('the window was closed'));
      pending.clear();
    });
    const ipcRenderer: IpcRendererLike = {
      invoke(channel, ...args) {
        return new Promise((resolve, reject) => {
          const s = ++seq;
          pending.set(s, { resolve, reject });
          rendererPort.postMessage({ kind: 'invoke', seq: s, channel, args } satisfies Wire);
        });
      },
      on(channel, listener) {
        listeners.on(channel, listener);
        return ipcRenderer;
      },
      removeListener(channel, listener) {
        listeners.removeListener(channel, listener);
        return ipcRenderer;
      },
    };
    const win = { webContents, ipcRenderer };
    this.windows.push(win);
    return win;
  }

  /** Closes every window's ports (so the test process can exit). */
  closeAll(): void {
    for (const w of this.windows) w.webContents.destroy();
  }
}
