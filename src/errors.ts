/**
 * The one error class mamba-edge throws. Every failure a caller can act on has a
 * stable `code`; the message names the file / field and what was expected.
 *
 * | code         | meaning                                                        |
 * |--------------|----------------------------------------------------------------|
 * | E_FILE       | a file is missing or unreadable                                |
 * | E_FORMAT     | a file is malformed (truncated, bad header, bad JSON)          |
 * | E_DTYPE      | a tensor dtype is not supported or not what was expected       |
 * | E_SHAPE      | a tensor shape contradicts config.json or an input is ragged   |
 * | E_CONFIG     | config.json holds a missing or invalid field                   |
 * | E_ARCH       | the architecture (model_type) is not supported                 |
 * | E_TOKEN      | a token id is outside the vocabulary                           |
 * | E_ARGUMENT   | a call argument is invalid                                     |
 * | E_STATE      | a saved session state is corrupt or belongs to another model   |
 * | E_BACKEND    | the backend is unavailable or lacks an op the model needs      |
 * | E_MEMORY     | the work would exceed `maxMemoryBytes`                         |
 * | E_ABORTED    | the caller's AbortSignal fired (`name === 'AbortError'`)       |
 * | E_NETWORK    | a download failed: network error, HTTP error status or a       |
 * |              | truncated body, after the retries (remote sources)             |
 * | E_DEVICE_LOST| the GPU device was lost (driver reset, destroy); the call failed |
 * | E_WORKER     | a CPU kernel worker died mid-op (killed, crashed, out of memory): |
 * |              | that call failed; the pool restarts the worker and the model    |
 * |              | stays usable (`worker` and `op` name which and where)           |
 *
 * @example
 * try { await loadModel('./missing') }
 * catch (e) { if (e instanceof MambaEdgeError && e.code === 'E_FILE') console.error(e.message) }
 */
export type ErrorCode =
  | 'E_FILE'
  | 'E_FORMAT'
  | 'E_DTYPE'
  | 'E_SHAPE'
  | 'E_CONFIG'
  | 'E_ARCH'
  | 'E_TOKEN'
  | 'E_ARGUMENT'
  | 'E_STATE'
  | 'E_BACKEND'
  | 'E_MEMORY'
  | 'E_ABORTED'
  | 'E_NETWORK'
  | 'E_DEVICE_LOST'
  | 'E_WORKER';

export const ERROR_CODES: readonly ErrorCode[] = [
  'E_FILE', 'E_FORMAT', 'E_DTYPE', 'E_SHAPE', 'E_CONFIG', 'E_ARCH',
  'E_TOKEN', 'E_ARGUMENT', 'E_STATE', 'E_BACKEND', 'E_MEMORY', 'E_ABORTED', 'E_NETWORK',
  'E_DEVICE_LOST', 'E_WORKER',
];

export interface ErrorDetails { file?: string; field?: string; cause?: unknown; worker?: number; op?: string }

export class MambaEdgeError extends Error {
  readonly code: ErrorCode;
  /** The file the error is about, when there is one. */
  readonly file?: string;
  /** The field (tensor name, config key, option name) the error is about. */
  readonly field?: string;
  /** E_WORKER: the kernel worker thread (1-based: thread 0 is the calling thread) that died. */
  readonly worker?: number;
  /** E_WORKER: the kernel (op) it died in. */
  readonly op?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.name = code === 'E_ABORTED' ? 'AbortError' : 'MambaEdgeError';
    if (details.file !== undefined) this.file = details.file;
    if (details.field !== undefined) this.field = details.field;
    if (details.worker !== undefined) this.worker = details.worker;
    if (details.op !== undefined) this.op = details.op;
  }
}

/** Shorthand used across the code base: `throw fail('E_SHAPE', '...', { file })`. */
export function fail(code: ErrorCode, message: string, details?: ErrorDetails): MambaEdgeError {
  return new MambaEdgeError(code, message, details);
}

/** Throws E_ABORTED if the signal has fired; call between units of work. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'operation'): void {
  if (signal?.aborted) {
    throw new MambaEdgeError('E_ABORTED', `${what} was aborted`, { cause: signal.reason });
  }
}
