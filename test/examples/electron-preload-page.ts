/**
 * The stand-in for examples/electron/preload.mjs when the renderer page runs in headless Chromium
 * instead of Electron (test/examples/electron-renderer.test.ts bundles this and adds it as an init
 * script). It exposes the SAME bridge (examples/electron/bridge.ts) as `window.mambaEdge`; only its
 * ipcRenderer differs: invoke goes to the test process through a Playwright binding, where the
 * real main-process module answers over the real IPC channel, and the main process's token
 * events come back through `__mambaIpcDeliver`, in order.
 */
import { createBridge } from '../../examples/electron/bridge.js';
import type { IpcRendererLike } from '../../examples/electron/protocol.js';

type Listener = (event: unknown, ...args: any[]) => void;
interface Bindings {
  __mambaIpcInvoke(channel: string, args: unknown[]): Promise<{ ok: true; value: unknown } | { ok: false; message: string }>;
  __mambaIpcDeliver(channel: string, args: unknown[]): void;
}
const g = globalThis as unknown as Bindings & { mambaEdge: unknown };
const listeners = new Map<string, Set<Listener>>();

const ipcRenderer: IpcRendererLike = {
  async invoke(channel, ...args) {
    const r = await g.__mambaIpcInvoke(channel, args);
    if (!r.ok) throw new Error(r.message);
    return r.value;
  },
  on(channel, listener) {
    if (!listeners.has(channel)) listeners.set(channel, new Set());
    listeners.get(channel)!.add(listener);
    return ipcRenderer;
  },
  removeListener(channel, listener) {
    listeners.get(channel)?.delete(listener);
    return ipcRenderer;
  },
};

g.__mambaIpcDeliver = (channel, args) => {
  for (const l of [...(listeners.get(channel) ?? [])]) l({}, ...args);
};
// contextBridge hands the page a frozen copy; so does this.
g.mambaEdge = Object.freeze(createBridge(ipcRenderer));
