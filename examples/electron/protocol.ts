/**
 * The IPC protocol between the Electron app's main process (model-host.ts: the model) and its
 * window (preload bridge.ts → renderer.ts). Nothing here imports Electron: the shapes below are
 * the parts of Electron's `ipcMain`, `ipcRenderer` and `WebContents` the example uses, so the
 * main-process module and the bridge run (and are tested) under plain Node too.
 *
 * Verbs (renderer → main, `ipcRenderer.invoke`; every argument is structured-cloned):
 *   mamba:info                       → HostInfo
 *   mamba:generate  (id, request)    → GenerateReply once generation ends; meanwhile the main
 *                                       process sends  mamba:token (id, text)  to that window
 *                                       for every token (text may be '' while a UTF-8 character
 *                                       or a possible stop string is held back)
 *   mamba:stop                       → boolean: whether a generation in this window was stopped
 *   mamba:reset                      → void: forget this window's conversation (its state)
 * Each window has one conversation (one session: the model's state carries over between
 * generate calls); a second generate while one is running in that window is refused.
 * Errors reach the renderer as Electron delivers them (a message only), so the host puts the
 * error code first: "E_ARGUMENT: …"; the bridge turns it back into `error.code`.
 */
import type { BackendInfo, FinishReason, LoadDType } from '../../src/index.js';

export const CHANNELS = {
  info: 'mamba:info',
  generate: 'mamba:generate',
  stop: 'mamba:stop',
  reset: 'mamba:reset',
  /** main → renderer */
  token: 'mamba:token',
} as const;

/** What the renderer may ask for; the host checks every field (the renderer is not trusted). */
export interface GenerateRequest {
  /** Text to feed before generating; '' continues the conversation from its state. */
  prompt: string;
  maxTokens?: number;
  temperature?: number;
  seed?: number;
}

export interface GenerateReply {
  id: number;
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Tokens in this window's conversation so far (its state's position). */
  position: number;
  ms: number;
}

export interface HostInfo {
  backend: BackendInfo;
  architecture: string;
  parameters: number;
  dtype: LoadDType;
  fingerprint: string;
  /** Bytes of weights (shared by all windows) and of one conversation's state (one per window). */
  weightBytes: number;
  stateBytes: number;
  /** The main process's runtime: 'electron 45.6.1' or, under the tests, 'node 20.20.2'. */
  runtime: string;
}

/** Electron's IpcMainInvokeEvent, the part used here. */
export interface InvokeEventLike {
  sender: WebContentsLike;
}

/** Electron's WebContents, the part used here (`once('destroyed')` when the window closes). */
export interface WebContentsLike {
  readonly id: number;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
}

/** Electron's ipcMain, the part used here. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: InvokeEventLike, ...args: any[]) => unknown): void;
  removeHandler(channel: string): void;
}

/** Electron's ipcRenderer, the part the preload bridge uses. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<any>;
  on(channel: string, listener: (event: unknown, ...args: any[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: any[]) => void): unknown;
}
