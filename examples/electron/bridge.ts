/**
 * What the preload script exposes to the window as `window.mambaEdge` (through Electron's
 * contextBridge: the page never touches ipcRenderer). Built on an ipcRenderer-like object so the
 * same code runs in the real preload (preload.mjs) and in the tests' stand-in for it.
 *
 * @example
 * // renderer
 * const reply = await mambaEdge.generate({ prompt: 'Once upon a time', maxTokens: 100 }, (text) => out.append(text));
 * reply.finishReason; // 'length'
 */
import { CHANNELS, type GenerateReply, type GenerateRequest, type HostInfo, type IpcRendererLike } from './protocol.js';

export interface MambaEdgeBridge {
  info(): Promise<HostInfo>;
  /** Generates in this window's conversation; `onToken` gets each token's text as it is sampled. */
  generate(request: GenerateRequest, onToken: (text: string) => void): Promise<GenerateReply>;
  /** Stops this window's running generation (its reply then says finishReason 'abort'). */
  stop(): Promise<boolean>;
  /** Starts a new conversation (drops the state). */
  reset(): Promise<void>;
}

/** An error from the main process with its code restored (`E_ARGUMENT`, `E_MEMORY`, …). */
export class HostError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'HostError';
  }
}

/** Electron rejects with "Error invoking remote method 'ch': Error: E_CODE: message". */
function restore(e: unknown): Error {
  const message = e instanceof Error ? e.message : String(e);
  const m = /\b(E_[A-Z]+): ([\s\S]*)$/.exec(message);
  return m ? new HostError(m[1], m[2]) : new HostError('E_BACKEND', message);
}

export function createBridge(ipc: IpcRendererLike): MambaEdgeBridge {
  let nextId = 1;
  const call = async <T>(channel: string, ...args: unknown[]): Promise<T> => {
    try {
      return await ipc.invoke(channel, ...args) as T;
    } catch (e) {
      throw restore(e);
    }
  };
  return {
    info: () => call<HostInfo>(CHANNELS.info),
    async generate(request, onToken) {
      const id = nextId++;
      const listener = (_event: unknown, tokenId: number, text: string) => { if (tokenId === id) onToken(text); };
      ipc.on(CHANNELS.token, listener);
      try {
        // Plain fields only: what contextBridge and IPC clone.
        const { prompt, maxTokens, temperature, seed } = request;
        return await call<GenerateReply>(CHANNELS.generate, id, { prompt, maxTokens, temperature, seed });
      } finally {
        ipc.removeListener(CHANNELS.token, listener);
      }
    },
    stop: () => call<boolean>(CHANNELS.stop),
    reset: () => call<void>(CHANNELS.reset),
  };
}
