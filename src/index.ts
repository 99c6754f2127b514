/**
 * mamba-edge — run Mamba-1 / Mamba-2 language models wherever JavaScript runs.
 * This entry is browser- and edge-safe (no Node built-ins); the Node entry
 * (src/node.ts) adds local directory paths and the embedded default model.
 *
 * @example
 * import { loadModel } from 'mamba-edge';
 * const model = await loadModel({ 'config.json': cfg, 'model.safetensors': weights });
 * const session = model.createSession();
 * const { text } = await session.generate('The', { maxTokens: 40, seed: 1 }).finished;
 */
// On a page's main thread loadModel runs the model in a dedicated worker (src/browser/runtime.ts).
export { loadModel, loadsInWorker } from './browser/runtime.js';
export { MambaEdgeError, ERROR_CODES, type ErrorCode } from './errors.js';
export type * from './api/types.js';
export { SUPPORTED_MODEL_TYPES } from './models/registry.js';
export { STATE_FORMAT_VERSION } from './api/state-blob.js';
// The OpenAI-compatible HTTP handler: (request: Request) => Promise<Response> (docs/http.md).
export { createHandler } from './server/handler.js';
export { createRouter } from './api/router.js';
