/**
 * Stop strings over streamed text. Tokens rarely line up with a stop string
 * ("\n\nUser:" may arrive as "\n", "\nUser", ":"), so text that could still grow
 * into a stop string is held back until it either completes one (generation
 * stops, the stop text is dropped) or stops matching (it is released).
 */
import { fail } from '../errors.js';

export class StopMatcher {
  private readonly stops: string[];
  private readonly longest: number;
  private buffer = '';
  private done = false;

  /**
   * @param stops non-empty strings.
   * @param pending a previous matcher's `pending()`, to resume (equivalent to `push(pending)`).
   */
  constructor(stops: string[], pending = '') {
    if (!Array.isArray(stops)) throw fail('E_ARGUMENT', 'stop must be an array of strings', { field: 'stop' });
    for (const s of stops) {
      if (typeof s !== 'string' || s.length === 0) {
        throw fail('E_ARGUMENT', `stop strings must be non-empty strings, got ${JSON.stringify(s)}`, { field: 'stop' });
      }
    }
    this.stops = stops.slice();
    this.longest = Math.max(0, ...stops.map((s) => s.length));
    if (pending !== '') this.push(pending);
  }

  /** True once a stop string has appeared; later pushes return ''. */
  get stopped(): boolean {
    return this.done;
  }

  /** Feed a chunk; returns the text safe to emit now. */
  push(text: string): string {
    if (this.done) return '';
    const buf = this.buffer + text;
    // The earliest stop occurrence wins: the text before it is all that may be emitted.
    let at = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.done = true;
      this.buffer = '';
      return buf.slice(0, at);
    }
    const hold = this.heldLength(buf);
    this.buffer = buf.slice(buf.length - hold);
    return buf.slice(0, buf.length - hold);
  }

  /** End of generation: release the held-back text (it never became a stop string). */
  flush(): string {
    const out = this.done ? '' : this.buffer;
    this.buffer = '';
    return out;
  }

  /** Held-back text, for saving state. */
  pending(): string {
    return this.buffer;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of some stop string. */
  private heldLength(buf: string): number {
    for (let n = Math.min(buf.length, this.longest - 1); n > 0; n--) {
      const tail = buf.slice(buf.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }
}
