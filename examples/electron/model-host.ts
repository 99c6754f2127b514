/**
 * The Electron app's main-process module: loads the model once (the wasm backend, its kernel
 * workers as worker_threads of the main process) and serves every window over IPC (protocol.ts),
 * streaming each token to the window that asked as it is sampled.
 *
 * It takes an ipcMain-like object instead of importing Electron, so main.mjs passes Electron's
 * `ipcMain` and the tests pass a real message channel under plain Node.
 *
 * @example
 * // main process
 * import { ipcMain } from 'electron';
 * const host = await startModelHost(ipcMain);            // the embedded default model
 * app.on('will-quit', () => host.dispose());
 */
import { defaultModelDir, loadModel, MambaEdgeError, type LoadDType, type Model, type Session } from '../../src/node.js';
import { CHANNELS, type GenerateReply, type GenerateRequest, type HostInfo, type InvokeEventLike, type IpcMainLike, type WebContentsLike } from './protocol.js';

export interface HostOptions {
  /** A Hugging Face model folder; default: the package's embedded default model. */
  modelDir?: string;
  /** Kernel threads (the main thread + worker_threads); default: the library's (hardware threads, at most 8). */
  threads?: number;
  /** Default 'f32'. */
  dtype?: LoadDType;
  /** Refuse to load (E_MEMORY) a model that would need more. */
  maxMemoryBytes?: number;
  /** Longest prompt accepted from a window, in characters. Default 16384. */
  maxPromptChars?: number;
  /** Most tokens one generate call may ask for. Default 2048. */
  maxTokensLimit?: number;
}

export interface ModelHost {
  readonly model: Model;
  info(): HostInfo;
  /** Windows with a conversation. */
  readonly windows: number;
  /** Generations in progress (a closed window's ends within a token). */
  readonly running: number;
  /** Tokens sampled for all windows since the host started. */
  readonly tokens: number;
  /** Removes the IPC handlers, stops running generations and frees the model. */
  dispose(): Promise<void>;
}

interface Conversation {
  session: Session;
  running: AbortController | null;
  /** Settles when the running generation (if any) has ended. */
  idle: Promise<void>;
}

/** A renderer's input is untrusted: check each field, say which one is wrong. */
function checkRequest(id: unknown, request: unknown, maxPromptChars: number, maxTokensLimit: number): { id: number; request: GenerateRequest } {
  const bad = (field: string, expected: string, got: unknown) =>
    new MambaEdgeError('E_ARGUMENT', `${CHANNELS.generate}: ${field} must be ${expected}, got ${JSON.stringify(got) ?? String(got)}`, { field });
  if (!Number.isSafeInteger(id) || (id as number) < 0) throw bad('id', 'a non-negative integer', id);
  if (typeof request !== 'object' || request === null) throw bad('request', 'an object { prompt, maxTokens?, temperature?, seed? }', request);
  const r = request as Record<string, unknown>;
  if (typeof r.prompt !== 'string') throw bad('prompt', 'a string', r.prompt);
  if (r.prompt.length > maxPromptChars) throw bad('prompt', `at most ${maxPromptChars} characters`, `${r.prompt.length} characters`);
  if (r.maxTokens !== undefined && !(Number.isInteger(r.maxTokens) && (r.maxTokens as number) >= 1 && (r.maxTokens as number) <= maxTokensLimit)) {
    throw bad('maxTokens', `an integer from 1 to ${maxTokensLimit}`, r.maxTokens);
  }
  if (r.temperature !== undefined && typeof r.temperature !== 'number') throw bad('temperature', 'a number', r.temperature);
  if (r.seed !== undefined && !Number.isSafeInteger(r.seed)) throw bad('seed', 'an integer', r.seed);
  return { id: id as number, request: { prompt: r.prompt, maxTokens: r.maxTokens as number | undefined, temperature: r.temperature as number | undefined, seed: r.seed as number | undefined } };
}

/**
 * Electron hands a renderer only an error's message; put the code first so the bridge can
 * restore it ("E_ARGUMENT: prompt must be a string, …").
 */
function forRenderer(e: unknown): Error {
  if (e instanceof MambaEdgeError) return new Error(`${e.code}: ${e.message}`);
  return new Error(`E_BACKEND: ${e instanceof Error ? e.message : String(e)}`);
}

/** Loads the model and registers the IPC handlers on `ipcMain`. */
export async function startModelHost(ipcMain: IpcMainLike, opts: HostOptions = {}): Promise<ModelHost> {
  const maxPromptChars = opts.maxPromptChars ?? 16_384;
  const maxTokensLimit = opts.maxTokensLimit ?? 2048;
  const model = await loadModel(opts.modelDir ?? defaultModelDir(), {
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.dtype !== undefined ? { dtype: opts.dtype } : {}),
    ...(opts.maxMemoryBytes !== undefined ? { maxMemoryBytes: opts.maxMemoryBytes } : {}),
  });
  /** One conversation per window, keyed by WebContents id; dropped when the window goes. */
  const conversations = new Map<number, Conversation>();
  let disposed = false;
  let running = 0;
  let tokens = 0;

  const info = (): HostInfo => ({
    backend: { ...model.backendInfo },
    architecture: model.info.architecture,
    parameters: model.info.parameters,
    dtype: model.info.dtype,
    fingerprint: model.fingerprint,
    weightBytes: model.info.weightBytes,
    stateBytes: model.info.stateBytes,
    runtime: process.versions.electron ? `electron ${process.versions.electron}` : `node ${process.versions.node}`,
  });

  function conversation(sender: WebContentsLike): Conversation {
    let c = conversations.get(sender.id);
    if (!c) {
      c = { session: model.createSession(), running: null, idle: Promise.resolve() };
      conversations.set(sender.id, c);
      sender.once('destroyed', () => void forget(sender.id));
    }
    return c;
  }

  async function forget(id: number): Promise<void> {
    const c = conversations.get(id);
    if (!c) return;
    conversations.delete(id);
    c.running?.abort();
    await c.idle; // the session is disposed only once its generation has let go of it
    await c.session.dispose();
  }

  async function generate(event: InvokeEventLike, rawId: unknown, rawRequest: unknown): Promise<GenerateReply> {
    const { id, request } = checkRequest(rawId, rawRequest, maxPromptChars, maxTokensLimit);
    const { sender } = event;
    if (sender.isDestroyed()) throw new MambaEdgeError('E_ARGUMENT', `${CHANNELS.generate}: the window has been closed`);
    const c = conversation(sender);
    if (c.running) throw new MambaEdgeError('E_ARGUMENT', `${CHANNELS.generate}: a generation is already running in this window; stop it first`);
    const ctrl = (c.running = new AbortController());
    let ended!: () => void;
    c.idle = new Promise<void>((resolve) => { ended = resolve; });
    const t0 = performance.now();
    running++;
    try {
      const generation = c.session.generate(request.prompt, {
        maxTokens: request.maxTokens, temperature: request.temperature, seed: request.seed, signal: ctrl.signal,
      });
      try {
        for await (const { text } of generation) {
          tokens++;
          // A closed window: stop computing for it (its conversation is dropped by 'destroyed').
          if (sender.isDestroyed()) ctrl.abort();
          else sender.send(CHANNELS.token, id, text);
        }
      } catch (e) {
        if (!(e instanceof MambaEdgeError && e.code === 'E_ABORTED')) throw e;
      }
      const result = await generation.finished;
      return { id, ...result, position: c.session.position, ms: performance.now() - t0 };
    } finally {
      if (c.running === ctrl) c.running = null;
      running--;
      ended();
    }
  }

  const handlers: Record<string, (event: InvokeEventLike, ...args: unknown[]) => unknown> = {
    [CHANNELS.info]: () => info(),
    [CHANNELS.generate]: (event, id, request) => generate(event, id, request),
    [CHANNELS.stop]: (event) => {
      const running = conversations.get(event.sender.id)?.running;
      running?.abort();
      return running !== undefined && running !== null;
    },
    [CHANNELS.reset]: async (event) => { await forget(event.sender.id); },
  };
  for (const [channel, handler] of Object.entries(handlers)) {
    ipcMain.handle(channel, async (event, ...args) => {
      if (disposed) throw forRenderer(new MambaEdgeError('E_BACKEND', 'the model host has been disposed'));
      try {
        return await handler(event, ...args);
      } catch (e) {
        throw forRenderer(e);
      }
    });
  }

  return {
    model,
    info,
    get windows() { return conversations.size; },
    get running() { return running; },
    get tokens() { return tokens; },
    async dispose() {
      if (disposed) return;
      disposed = true;
      for (const channel of Object.keys(handlers)) ipcMain.removeHandler(channel);
      await Promise.all([...conversations.keys()].map(forget));
      await model.dispose();
    },
  };
}
