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

  /** Called when the consumer stops early (`break` out of for-await). */
  onReturn: (() => void) | null = null;

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      return: () => {
        this.onReturn?.();
        return Promise.resolve({ value: undefined, done: true });
      },
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
export function anySignal(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; release: () => void } {
  const ctrl = new AbortController();
  const detach: (() => void)[] = [];
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) { ctrl.abort(s.reason); break; }
    const onAbort = () => ctrl.abort(s.reason);
    s.addEventListener('abort', onAbort, { once: true });
    detach.push(() => s.removeEventListener('abort', onAbort));
  }
  // release: a long-lived caller signal (a server's shutdown signal passed to every generate call)
  // must not collect one listener, and one controller, per call for the life of the process.
  return { signal: ctrl.signal, release: () => { for (const d of detach.splice(0)) d(); } };
}

/**
 * Give the host's event loop a turn (timers, signal handlers, UI) between tokens and
 * prefill chunks. setImmediate where it exists (Node), a MessageChannel hop in browsers and
 * workers — both well under a millisecond, unlike setTimeout(0)'s clamping.
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  if (typeof g.setImmediate === 'function') return new Promise((r) => g.setImmediate!(r));
  if (typeof MessageChannel === 'function') {
    return new Promise((r) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => { ch.port1.close(); r(); };
      ch.port2.postMessage(0);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}

/** A generation's text as a web ReadableStream; cancelling the stream aborts `controller`. */
export function textStream(generation: AsyncIterable<{ text: string }>, controller: AbortController): ReadableStream<string> {
  const iterator = generation[Symbol.asyncIterator]();
  return new ReadableStream<string>({
    async pull(stream) {
      for (;;) {
        let r: IteratorResult<{ text: string }>;
        try {
          r = await iterator.next();
        } catch (e) {
          stream.error(e);
          return;
        }
        if (r.done) { stream.close(); return; }
        if (r.value.text) { stream.enqueue(r.value.text); return; }
      }
    },
    cancel(reason) {
      controller.abort(reason);
    },
  });
}
