/**
 * What the page and the coordinator worker say to each other (src/browser/remote.ts is the
 * page's side, src/browser/coordinator.ts the worker's). comlink carries the calls; every
 * call returns a Reply envelope, so typed errors (code, file, field) survive the trip.
 *
 * Verbs (page → worker, comlink):
 *   load(source, opts, call)              loadModel in the worker → ModelSnapshot
 *   forward / evaluate                    the Model methods
 *   createSession(id, state?, maxMemoryBytes?)  the page picks the id (createSession is synchronous)
 *   prefill / sessionForward / step / saveState / disposeSession(id, ...)
 *   generate(id, prompt, opts, port, aborted)  starts a generation; it streams on `port` (below)
 *   abort(callId, reason)                 fires the AbortSignal of a call made with that callId
 *   dispose()                             disposes the model; the page then terminates the worker
 * Calls that take an AbortSignal or a progress callback get a `CallOptions`: a callId for
 * abort(), `aborted` if the signal had fired before the call, and a MessagePort that carries
 * progress objects, then `null` once the call is over.
 *
 * A generation's port, worker → page: {t:'token'} per token, {t:'error'} if iteration failed
 * (E_ABORTED after an abort), then one {t:'end'} with the GenerationResult or the error that
 * `finished` rejects with. Page → worker: {t:'abort'} (the signal fired, or the consumer broke
 * out of its for-await loop).
 */
import * as Comlink from 'comlink';
import { MambaEdgeError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type {
  BackendInfo, BackendName, EvaluationResult, ForwardHidden, ForwardLogits, GenerateOptions, GeneratedToken, GenerationResult,
  LoadOptions, ModelConfig, ModelInfo, ModelSource,
} from '../api/types.js';

export interface WireError {
  name: string;
  message: string;
  code?: ErrorCode;
  file?: string;
  field?: string;
}

export type Reply<T> = { ok: true; value: T } | { ok: false; error: WireError };

export interface CallOptions {
  callId?: number;
  aborted?: boolean;
  progress?: MessagePort;
}

export interface ModelSnapshot {
  config: ModelConfig;
  backend: BackendName;
  backendInfo: BackendInfo;
  fingerprint: string;
  info: ModelInfo;
  /** Shapes of one session's state tensors, so the page can check a state blob at once. */
  stateShapes: number[][];
}

/** A session call's value and the session's position after it. */
export interface Positioned<T> {
  value: T;
  position: number;
}

export type WireLoadOptions = Omit<LoadOptions, 'onProgress' | 'signal'>;
export type WireGenerateOptions = Omit<GenerateOptions, 'signal'>;

export type GenerationEvent =
  | { t: 'token'; token: GeneratedToken; position: number }
  | { t: 'error'; error: WireError }
  | { t: 'end'; result?: GenerationResult; error?: WireError; position: number };

export type GenerationControl = { t: 'abort'; reason: string };

export interface CoordinatorApi {
  load(source: ModelSource | undefined, opts: WireLoadOptions, call: CallOptions): Promise<Reply<ModelSnapshot>>;
  abort(callId: number, reason: string): void;
  forward(ids: number[][], output: 'logits' | 'hidden', call: CallOptions): Promise<Reply<ForwardLogits | ForwardHidden>>;
  evaluate(text: string, chunkTokens: number | undefined, call: CallOptions): Promise<Reply<EvaluationResult>>;
  createSession(id: number, state: Uint8Array | undefined, maxMemoryBytes?: number): Reply<null>;
  prefill(id: number, ids: number[], call: CallOptions): Promise<Reply<Positioned<Float32Array>>>;
  sessionForward(id: number, ids: number[], call: CallOptions): Promise<Reply<Positioned<Float32Array>>>;
  step(id: number, token: number): Promise<Reply<Positioned<Float32Array>>>;
  saveState(id: number): Promise<Reply<Uint8Array>>;
  generate(id: number, prompt: string | number[], opts: WireGenerateOptions, port: MessagePort, aborted: boolean): void;
  disposeSession(id: number): Promise<Reply<null>>;
  dispose(): Promise<Reply<null>>;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof MambaEdgeError) {
    return { name: e.name, message: e.message, code: e.code, ...(e.file !== undefined ? { file: e.file } : {}), ...(e.field !== undefined ? { field: e.field } : {}) };
  }
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: 'Error', message: String(e) };
}

export function fromWireError(w: WireError): Error {
  if (w.code && ERROR_CODES.includes(w.code)) {
    return new MambaEdgeError(w.code, w.message, { ...(w.file !== undefined ? { file: w.file } : {}), ...(w.field !== undefined ? { field: w.field } : {}) });
  }
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}

/** Worker side: run `fn` and wrap its outcome; `transfer` names buffers to move rather than copy. */
export async function reply<T>(fn: () => T | Promise<T>, transfer?: (v: T) => Transferable[]): Promise<Reply<T>> {
  try {
    const value = await fn();
    const r: Reply<T> = { ok: true, value };
    return transfer ? Comlink.transfer(r, transfer(value)) : r;
  } catch (e) {
    return { ok: false, error: toWireError(e) };
  }
}

export function replySync<T>(fn: () => T): Reply<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    return { ok: false, error: toWireError(e) };
  }
}

/** Page side: the value, or the error rebuilt with its code. */
export function unwrap<T>(r: Reply<T>): T {
  if (r.ok) return r.value;
  throw fromWireError(r.error);
}
