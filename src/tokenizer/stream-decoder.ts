/**
 * Incremental detokenization for streaming: turn generated ids into text as soon
 * as that text can no longer change, so a caller never prints half a character.
 *
 * Two strategies:
 * - byte-level tokenizers: keep the raw bytes and hold back only a trailing
 *   sequence that is a valid-but-incomplete UTF-8 prefix (at most 3 bytes).
 *   Everything before it decodes exactly as it would in one piece, because a
 *   UTF-8 decoder is always back in its initial state at a lead byte.
 * - tokenizer.json (and any other Tokenizer): decode the pending ids together
 *   with the ids emitted last time as context, and emit the new part of the text
 *   once it does not end in U+FFFD (an unfinished byte sequence in a byte-level
 *   BPE, or an unfinished <0xNN> byte-fallback run). The context is there for
 *   decoders that change the first token (Metaspace drops a leading space of
 *   the very first piece); it is the approach of text-generation-inference.
 *
 * Invariant (tested): the concatenation of every push() plus flush() equals
 * tokenizer.decode(all ids).
 */
import type { Tokenizer } from '../api/types.js';
import { checkId, decodeUtf8 } from './index.js';

export interface StreamDecoder {
  /** Feed one generated id; returns the text that is now final (may be ''). */
  push(id: number): string;
  /** Emit whatever is held back (at the end of generation). */
  flush(): string;
  /** Ids not yet turned into text — saved in session state so a resumed session continues mid-character. */
  pending(): number[];
}

/**
 * @param pending ids from a previous decoder's `pending()`, to resume mid-character.
 * A resumed tokenizer.json decoder starts without context; for byte-level BPE
 * (Mamba's GPT-NeoX tokenizer) that changes nothing, for a Metaspace decoder the
 * first resumed piece may lose its leading space.
 */
export function createStreamDecoder(tokenizer: Tokenizer, pending: number[] = []): StreamDecoder {
  for (const id of pending) checkId(id, tokenizer.vocabSize);
  return tokenizer.kind === 'byte' ? byteStream(tokenizer.vocabSize, pending) : contextStream(tokenizer, pending);
}

function byteStream(vocabSize: number, pending: number[]): StreamDecoder {
  let held = pending.filter((id) => id < 256);
  return {
    push(id) {
      checkId(id, vocabSize);
      if (id >= 256) return ''; // specials decode to '' (and do not break a character apart, as in decode())
      held.push(id);
      const cut = incompleteTailStart(held);
      if (cut === 0) return '';
      const text = decodeUtf8(Uint8Array.from(held.slice(0, cut)));
      held = held.slice(cut);
      return text;
    },
    flush() {
      const text = decodeUtf8(Uint8Array.from(held));
      held = [];
      return text;
    },
    pending: () => held.slice(),
  };
}

/**
 * Index where a trailing valid-but-incomplete UTF-8 sequence starts, or
 * bytes.length if the bytes end on a character boundary (or on an invalid byte,
 * which decodes to U+FFFD whatever follows, so it need not wait).
 */
export function incompleteTailStart(bytes: number[]): number {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const i = n - back;
    const b = bytes[i];
    if (b >= 0x80 && b <= 0xbf) continue; // continuation byte: the lead is further back
    // Continuation bytes this lead byte needs (0: ASCII, or a byte that can never start a sequence).
    const need = b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : 0;
    if (back > need) return n; // complete (or not a sequence at all)
    if (back >= 2) {
      // The second byte has a narrower range after some leads (no overlongs, no surrogates, ≤ U+10FFFF).
      const s = bytes[i + 1];
      const [lo, hi] = b === 0xe0 ? [0xa0, 0xbf] : b === 0xed ? [0x80, 0x9f] : b === 0xf0 ? [0x90, 0xbf] : b === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
      if (s < lo || s > hi) return n;
    }
    return i;
  }
  return n;
}

function contextStream(tokenizer: Tokenizer, pending: number[]): StreamDecoder {
  let context: number[] = []; // ids already emitted, kept only as decoding context
  let contextText = '';
  let waiting = pending.slice(); // ids not yet emitted
  const advance = (text: string): string => {
    // text = decode(context + waiting); the new part is what follows the context's text.
    const out = text.slice(contextText.length);
    context = waiting;
    contextText = context.length === 0 ? '' : tokenizer.decode(context);
    waiting = [];
    return out;
  };
  return {
    push(id) {
      checkId(id, tokenizer.vocabSize);
      waiting.push(id);
      const text = tokenizer.decode([...context, ...waiting]);
      if (text.length <= contextText.length || text.endsWith('\uFFFD')) return '';
      return advance(text);
    },
    flush() {
      if (waiting.length === 0) return '';
      return advance(tokenizer.decode([...context, ...waiting]));
    },
    pending: () => waiting.slice(),
  };
}
