/**
 * Evaluation: how well the model predicts a text, in bits per byte (comparable across
 * tokenizers) and perplexity per token. The text runs through a session in chunks with
 * the state carried across them, so memory is bounded by one chunk's logits whatever the
 * text's length.
 */
import type { EvaluateOptions, EvaluationResult } from './types.js';
import { fail } from '../errors.js';
import type { ModelImpl } from './model.js';

/** Logits held per chunk: 8 M floats (32 MB) whatever the vocabulary. */
const LOGIT_BUDGET = 8 * 1024 * 1024;

export async function evaluateText(model: ModelImpl, text: string, opts: EvaluateOptions = {}): Promise<EvaluationResult> {
  if (typeof text !== 'string') throw fail('E_ARGUMENT', 'evaluate: text must be a string', { field: 'text' });
  const ids = model.tokenizer.encode(text);
  if (ids.length < 2) throw fail('E_ARGUMENT', 'evaluate: the text must hold at least two tokens (the first only gives context)', { field: 'text' });
  const V = model.config.vocabSize;
  const chunk = opts.chunkTokens ?? Math.max(1, Math.min(1024, Math.floor(LOGIT_BUDGET / V)));
  if (!Number.isInteger(chunk) || chunk < 1) throw fail('E_ARGUMENT', `chunkTokens must be a positive integer, got ${chunk}`, { field: 'chunkTokens' });

  const session = model.createSession();
  let nll = 0; // natural-log loss summed over predicted tokens
  try {
    // Position t's logits predict token t+1; the last token predicts nothing we can score.
    for (let start = 0; start < ids.length - 1; start += chunk) {
      const end = Math.min(start + chunk, ids.length - 1);
      const logits = await session.forward(ids.slice(start, end), { signal: opts.signal });
      for (let t = start; t < end; t++) {
        const row = logits.subarray((t - start) * V, (t - start + 1) * V);
        let max = -Infinity;
        for (let v = 0; v < V; v++) if (row[v] > max) max = row[v];
        let sum = 0;
        for (let v = 0; v < V; v++) sum += Math.exp(row[v] - max);
        nll += Math.log(sum) + max - row[ids[t + 1]];
      }
      opts.onProgress?.({ done: end + 1, total: ids.length });
    }
  } finally {
    await session.dispose();
  }
  const predicted = ids.length - 1;
  // Bytes of the predicted part: the text's UTF-8 bytes minus those of the first token.
  const bytes = new TextEncoder().encode(text).length - new TextEncoder().encode(model.tokenizer.decode(ids.slice(0, 1))).length;
  return {
    tokens: ids.length,
    predictedTokens: predicted,
    predictedBytes: bytes,
    nats: nll,
    bitsPerByte: nll / Math.LN2 / Math.max(1, bytes),
    perplexity: Math.exp(nll / predicted),
  };
}
