/** A single-producer queue exposed as an async iterator: the producer never waits for the consumer. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((e: unknown) => void) | null = null;
  private ended = false;
  private error: unknown = undefined;

  push(item: T): void {
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = this.failWaiting = null;
      resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  end(): void {
    this.ended = true;
    this.settleWaiter();
  }

  /** Ends the iteration with an error, after the items already queued. */
  fail(error: unknown): void {
    this.error = error;
    this.ended = true;
    this.settleWaiter();
  }

  private settleWaiter(): void {
    if (!this.waiting) return;
    const [resolve, reject] = [this.waiting, this.failWaiting!];
    this.waiting = this.failWaiting = null;
    if (this.error !== undefined) reject(this.error);
    else resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.ended) return this.error !== undefined ? Promise.reject(this.error) : Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiting = resolve;
          this.failWaiting = reject;
        });
      },
    };
  }
}

/** One signal that fires when any of the given ones does (AbortSignal.any is not everywhere yet). */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const ctrl = new AbortController();
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) { ctrl.abort(s.reason); break; }
    s.addEventListener('abort', () => ctrl.abort(s.reason), { once: true });
  }
  return ctrl.signal;
}
