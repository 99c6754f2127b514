/** model.stateAt(n): one session's state per layer after n tokens, from the model's layer descriptions. */
import { fail } from '../errors.js';
import type { ModelInfo, StateAtContext } from './types.js';

export function stateAt(info: ModelInfo, contextTokens: number): StateAtContext {
  if (!Number.isInteger(contextTokens) || contextTokens < 0) {
    throw fail('E_ARGUMENT', `contextTokens must be a non-negative integer, got ${contextTokens}`, { field: 'contextTokens' });
  }
  const layers = info.layers.map((l) => ({ ...l, bytes: l.stateBytes + l.bytesPerToken * contextTokens }));
  return { contextTokens, totalBytes: layers.reduce((n, l) => n + l.bytes, 0), layers };
}
