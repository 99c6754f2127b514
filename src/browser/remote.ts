/**
 * The page's side of a model that lives in a coordinator worker: Model, Session and
 * Generation (src/api/types.ts) as thin proxies over comlink (verbs: wire.ts). What must be
 * synchronous stays on the page: the tokenizer (built here from the same files), argument
 * checks of generate(), the state blob's check in createSession(), and `position`, which
 * every reply carries back. Tokens stream back over a MessagePort as they are sampled.
 */
import * as Comlink from 'comlink';
import type {
  BackendInfo, BackendName, EvaluateOptions, EvaluationResult, ForwardHidden, ForwardLogits, ForwardOptions, GenerateOptions,
  GeneratedToken, Generation, GenerationResult, LoadOptions, Model, ModelConfig, ModelInfo, ModelSource,
  PrefillOptions, Session, SessionOptions, StateAtContext, Tokenizer,
} from '../api/types.js';
import { fail, throwIfAborted } from '../errors.js';
import { AsyncQueue, textStream } from '../api/async-queue.js';
import { validateSamplerParams } from '../api/sampler.js';
import { StopMatcher } from '../api/stop.js';
import { decodeState } from '../api/state-blob.js';
import { inMemorySource } from '../formats/source.js';
import { ggufTokenizerSpec } from '../formats/gguf-tokenizer.js';
import { isRemoteSource } from '../formats/remote/url.js';
import { openRemoteSource } from '../api/load.js';
import { stateAt } from '../api/state-at.js';
import { memorySource } from '../formats/source.js';
import { createTokenizer } from '../tokenizer/index.js';
import * as KERNELS from '../backends/wasm/kernels.generated.js';
import {
  fromWireError, unwrap,
  type CallOptions, type CoordinatorApi, type GenerationControl, type GenerationEvent, type ModelSnapshot, type Reply,
} from './wire.js';

/** Name of the global through which the page hands the kernels' base64 to the coordinator bundle. */
export const KERNELS_GLOBAL = '__mambaEdgeKernels';

/** The coordinator worker, its comlink proxy, and what ends every pending call if it dies. */
class Link {
  readonly api: Comlink.Remote<CoordinatorApi>;
  private failure: Error | null = null;
  private readonly deathListeners = new Set<(e: Error) => void>();
  private nextId = 1;
  closed = false;

  constructor(private readonly worker: Worker) {
    this.api = Comlink.wrap<CoordinatorApi>(worker);
    worker.addEventListener('error', (e) => {
      e.preventDefault();
      this.failure ??= fail('E_BACKEND', `the model's worker stopped: ${e.message || 'script error'}`);
      for (const f of [...this.deathListeners]) f(this.failure);
      this.deathListeners.clear();
    });
  }

  /** Calls `f` if the worker dies (at once if it has); returns the unsubscribe function. */
  onDeath(f: (e: Error) => void): () => void {
    if (this.failure) { f(this.failure); return () => undefined; }
    this.deathListeners.add(f);
    return () => this.deathListeners.delete(f);
  }

  /** `p`, or the worker's death, whichever comes first (a listener, not a race: nothing piles up per call). */
  settle<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const off = this.onDeath(reject);
      p.then((v) => { off(); resolve(v); }, (e: unknown) => { off(); reject(e); });
    });
  }

  id(): number {
    return this.nextId++;
  }

  /** A call's value, its error rebuilt with its code, or E_BACKEND if the worker died. */
  async call<T>(p: Promise<Reply<T>>): Promise<T> {
    return unwrap(await this.settle(p));
  }

  /**
   * CallOptions for a call with an AbortSignal and/or a progress callback; `run` makes the call.
   * Resolves after the call's last progress report has been delivered.
   */
  async withCall<T>(signal: AbortSignal | undefined, onProgress: ((p: never) => void) | undefined, run: (call: CallOptions) => Promise<Reply<T>>): Promise<T> {
    const call: CallOptions = {};
    let progressDone: Promise<void> = Promise.resolve();
    let channel: MessageChannel | undefined;
    if (onProgress) {
      channel = new MessageChannel();
      const port = channel.port1;
      progressDone = new Promise<void>((resolve) => {
        port.onmessage = (e: MessageEvent) => {
          if (e.data === null) { port.close(); resolve(); } else (onProgress as (p: unknown) => void)(e.data);
        };
      });
      call.progress = channel.port2;
    }
    let onAbort: (() => void) | undefined;
    if (signal) {
      call.callId = this.id();
      call.aborted = signal.aborted;
      const id = call.callId;
      onAbort = () => void this.api.abort(id, String(signal.reason ?? 'aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
    }
    try {
      const r = run(channel ? Comlink.transfer(call, [channel.port2]) : call);
      const [value] = await Promise.all([this.call(r), this.settle(progressDone)]);
      return value;
    } finally {
      if (signal && onAbort) signal.removeEventListener('abort', onAbort);
      channel?.port1.close();
    }
  }

  /** Disposes the model in the worker (5 s at most), then terminates the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.failure) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, 5000); });
      await Promise.race([this.settle<Reply<null>>(this.api.dispose()), timeout]).catch(() => undefined);
      clearTimeout(timer);
    }
    this.api[Comlink.releaseProxy]();
    this.worker.terminate();
  }
}

/**
 * The coordinator worker: the bundled runtime, preceded by the kernels' base64 (so they ship
 * once, in the page's bundle). `revoke` frees the Blob URL once the worker has answered.
 */
export function startCoordinator(source: string): { worker: Worker; revoke: () => void } {
  const prefix = `self.${KERNELS_GLOBAL}=${JSON.stringify({ ...KERNELS })};\n`;
  const url = URL.createObjectURL(new Blob([prefix, source], { type: 'text/javascript' }));
  return { worker: new Worker(url, { name: 'mamba-edge coordinator' }), revoke: () => URL.revokeObjectURL(url) };
}

/** The page's tokenizer, from the same files the worker loaded (tokenize/decode must be synchronous). */
async function pageTokenizer(source: ModelSource, vocabSize: number, opts: LoadOptions): Promise<Tokenizer> {
  // A remote source: the worker has just fetched (and, unless cache: false, cached) these small files.
  const files = typeof source === 'string' && isRemoteSource(source) ? openRemoteSource(source, opts) : inMemorySource(source as Exclude<ModelSource, string>);
  if (files.entry !== undefined) {
    // A GGUF file: its tokenizer is in its metadata (the header is parsed again here; no tensor data is decoded).
    const fromGguf = ggufTokenizerSpec(await files.read(files.entry), `${files.label}/${files.entry}`);
    return createTokenizer({ vocabSize, tokenizerJson: fromGguf?.json, tokenizerConfigJson: fromGguf?.config, file: `${files.label}/${files.entry} (tokenizer.ggml.*)` });
  }
  const text = async (name: string) => ((await files.has(name)) ? new TextDecoder().decode(await files.read(name)) : undefined);
  const tokenizerJson = await text('tokenizer.json');
  const tokenizerConfigJson = tokenizerJson !== undefined ? await text('tokenizer_config.json') : undefined;
  return createTokenizer({ vocabSize, tokenizerJson, tokenizerConfigJson, file: `${files.label}/tokenizer.json` });
}

/** Loads a model in a new coordinator worker started from `coordinatorSource`. */
export async function loadRemoteModel(coordinatorSource: string, source: ModelSource | undefined, opts: LoadOptions = {}): Promise<Model> {
  throwIfAborted(opts.signal, 'loadModel');
  const { onProgress, signal, ...wire } = opts;
  const { worker, revoke } = startCoordinator(coordinatorSource);
  const link = new Link(worker);
  try {
    const snap = await link.withCall<ModelSnapshot>(signal, onProgress, (call) => link.api.load(source, wire, call));
    const tokenizer = await pageTokenizer(source!, snap.config.vocabSize, opts);
    return new RemoteModel(link, snap, tokenizer);
  } catch (e) {
    await link.close();
    throw e;
  } finally {
    revoke();
  }
}

const IN_WORKER = 'runs in a dedicated worker (a page may not block its main thread)';

export class RemoteModel implements Model {
  readonly config: ModelConfig;
  readonly backend: BackendName;
  readonly backendInfo: BackendInfo;
  readonly fingerprint: string;
  readonly info: ModelInfo;
  private readonly stateShapes: number[][];
  private readonly sessions = new Set<RemoteSession>();

  constructor(private readonly link: Link, snap: ModelSnapshot, readonly tokenizer: Tokenizer) {
    this.config = snap.config;
    this.backend = snap.backend;
    this.backendInfo = { ...snap.backendInfo, note: snap.backendInfo.note ? `${snap.backendInfo.note}; ${IN_WORKER}` : IN_WORKER };
    this.fingerprint = snap.fingerprint;
    this.info = snap.info;
    this.stateShapes = snap.stateShapes;
  }

  /** @internal */
  assertOpen(): void {
    if (this.link.closed) throw fail('E_ARGUMENT', 'the model has been disposed');
  }

  forward(ids: number[][], opts?: ForwardOptions & { output?: 'logits' }): Promise<ForwardLogits>;
  forward(ids: number[][], opts: ForwardOptions & { output: 'hidden' }): Promise<ForwardHidden>;
  async forward(ids: number[][], opts: ForwardOptions = {}): Promise<ForwardLogits | ForwardHidden> {
    this.assertOpen();
    return this.link.withCall(opts.signal, undefined, (call) => this.link.api.forward(ids, opts.output ?? 'logits', call));
  }

  createSession(opts: SessionOptions = {}): Session {
    this.assertOpen();
    let position = 0;
    // The worker checks the blob too; checking it here makes a bad blob throw at once, as in place.
    if (opts.state !== undefined) {
      position = decodeState(opts.state, { fingerprint: this.fingerprint, tensorShapes: this.stateShapes, vocabSize: this.config.vocabSize }).header.position;
    }
    const id = this.link.id();
    const created = this.link.call(Promise.resolve(this.link.api.createSession(id, opts.state, opts.maxMemoryBytes)));
    created.catch(() => undefined); // reported by the session's first call
    const s = new RemoteSession(this.link, this, id, position, created, () => this.sessions.delete(s));
    this.sessions.add(s);
    return s;
  }

  stateAt(contextTokens: number): StateAtContext {
    return stateAt(this.info, contextTokens);
  }

  async evaluate(text: string, opts: EvaluateOptions = {}): Promise<EvaluationResult> {
    this.assertOpen();
    return this.link.withCall(opts.signal, opts.onProgress, (call) => this.link.api.evaluate(text, opts.chunkTokens, call));
  }

  async dispose(): Promise<void> {
    if (this.link.closed) return;
    for (const s of [...this.sessions]) await s.dispose().catch(() => undefined);
    await this.link.close();
  }
}

/** The checks session.generate makes before it returns (argument errors throw at once there too). */
function checkGenerate(prompt: string | number[], opts: GenerateOptions, vocabSize: number): void {
  if (opts === null || typeof opts !== 'object') throw fail('E_ARGUMENT', 'generate options must be an object', { field: 'opts' });
  const maxTokens = opts.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens <= 0) throw fail('E_ARGUMENT', `maxTokens must be a positive integer, got ${maxTokens}`, { field: 'maxTokens' });
  if (opts.seed !== undefined && (!Number.isInteger(opts.seed) || opts.seed < 0)) throw fail('E_ARGUMENT', `seed must be a non-negative integer, got ${opts.seed}`, { field: 'seed' });
  new StopMatcher(opts.stop ?? []);
  validateSamplerParams(opts);
  if (typeof prompt === 'string') return;
  if (!Array.isArray(prompt)) throw fail('E_ARGUMENT', 'prompt must be an array of token ids', { field: 'prompt' });
  for (const id of prompt) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw fail('E_TOKEN', `prompt: token id ${id} is outside the vocabulary [0, ${vocabSize})`, { field: 'prompt' });
  }
}

class RemoteSession implements Session {
  private disposed = false;

  constructor(
    private readonly link: Link,
    private readonly model: RemoteModel,
    private readonly id: number,
    private pos: number,
    private readonly created: Promise<null>,
    private readonly onDispose: () => void,
  ) {}

  get position(): number {
    return this.pos;
  }

  private assertOpen(): void {
    if (this.disposed) throw fail('E_ARGUMENT', 'the session has been disposed');
    this.model.assertOpen();
  }

  private async logits(p: () => Promise<{ value: Float32Array; position: number }>): Promise<Float32Array> {
    this.assertOpen();
    await this.created;
    const r = await p();
    this.pos = r.position;
    return r.value;
  }

  prefill(ids: number[], opts: PrefillOptions = {}): Promise<Float32Array> {
    return this.logits(() => this.link.withCall(opts.signal, opts.onProgress, (call) => this.link.api.prefill(this.id, ids, call)));
  }

  forward(ids: number[], opts: { signal?: AbortSignal } = {}): Promise<Float32Array> {
    return this.logits(() => this.link.withCall(opts.signal, undefined, (call) => this.link.api.sessionForward(this.id, ids, call)));
  }

  step(id: number): Promise<Float32Array> {
    return this.logits(() => this.link.call(this.link.api.step(this.id, id)));
  }

  generate(prompt: string | number[], opts: GenerateOptions = {}): Generation {
    return this.startGeneration(prompt, opts, undefined);
  }

  private startGeneration(prompt: string | number[], opts: GenerateOptions, internal: AbortSignal | undefined): Generation {
    this.assertOpen();
    checkGenerate(prompt, opts, this.model.config.vocabSize);
    const { signal, ...wire } = opts;
    const queue = new AsyncQueue<GeneratedToken>();
    const channel = new MessageChannel();
    const port = channel.port1;
    let over = false;
    const abort = (reason: unknown) => {
      if (!over) port.postMessage({ t: 'abort', reason: String(reason ?? 'aborted') } satisfies GenerationControl);
    };
    const onSignal = () => abort(signal?.reason);
    const onInternal = () => abort(internal?.reason);
    signal?.addEventListener('abort', onSignal, { once: true });
    internal?.addEventListener('abort', onInternal, { once: true });
    // Leaving a for-await loop early stops generation, as in place.
    queue.onReturn = () => abort('the consumer stopped iterating');

    let failedIteration = false;
    let unsubscribe: () => void = () => undefined;
    const finished = new Promise<GenerationResult>((resolve, reject) => {
      const end = (e?: Error) => {
        if (over) return;
        over = true;
        unsubscribe();
        signal?.removeEventListener('abort', onSignal);
        internal?.removeEventListener('abort', onInternal);
        port.close();
        if (e) {
          if (!failedIteration) queue.fail(e);
          reject(e);
        }
      };
      unsubscribe = this.link.onDeath((e) => end(e));
      port.onmessage = (m: MessageEvent<GenerationEvent>) => {
        const ev = m.data;
        if (ev.t === 'token') {
          this.pos = ev.position;
          queue.push(ev.token);
        } else if (ev.t === 'error') {
          failedIteration = true;
          queue.fail(fromWireError(ev.error));
        } else {
          this.pos = ev.position;
          if (ev.error) { end(fromWireError(ev.error)); return; }
          if (!failedIteration) queue.end();
          end();
          resolve(ev.result!);
        }
      };
      this.created.then(
        () => this.link.api.generate(this.id, prompt, wire, Comlink.transfer(channel.port2, [channel.port2]), signal?.aborted === true || internal?.aborted === true),
        (e: Error) => end(e),
      ).catch((e: Error) => end(e));
    });
    finished.catch(() => undefined); // the error also reaches the iterator; do not report it as unhandled
    return { finished, [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator]() };
  }

  generateStream(prompt: string | number[], opts: GenerateOptions = {}): ReadableStream<string> {
    const internal = new AbortController();
    return textStream(this.startGeneration(prompt, opts, internal.signal), internal);
  }

  async saveState(): Promise<Uint8Array> {
    this.assertOpen();
    await this.created;
    return this.link.call(this.link.api.saveState(this.id));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.onDispose();
    if (this.link.closed) return;
    await this.created.catch(() => undefined);
    await this.link.call(this.link.api.disposeSession(this.id));
  }
}
