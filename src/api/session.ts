/**
 * Session: one conversation's carried state (conv + SSM per layer — the same size at
 * token 10 and token 10,000,000) and everything else needed to continue it exactly:
 * position, the token sampled but not yet fed, the sampler's random state, and the
 * bytes of a character not yet complete. Calls on one session run one at a time.
 */
import type {
  GenerateOptions, GeneratedToken, Generation, GenerationResult, FinishReason, PrefillOptions, Session,
} from './types.js';
import { MambaEdgeError, fail, throwIfAborted } from '../errors.js';
import type { DeviceSampling, DeviceToken, KvCache, Tensor } from '../backends/backend.js';
import { Rng, sampleFromCandidates, sampleToken, validateSamplerParams, type SamplerParams } from './sampler.js';
import { StopMatcher } from './stop.js';
import { createStreamDecoder, type StreamDecoder } from '../tokenizer/stream-decoder.js';
import { decodeState, encodeState } from './state-blob.js';
import { AsyncQueue, anySignal, textStream, yieldToEventLoop } from './async-queue.js';
import type { HeldLogits, ModelImpl } from './model.js';
import { TextBuffer } from './text-buffer.js';

interface GenerationPlan extends SamplerParams {
  maxTokens: number;
  seed?: number;
  stop: string[];
  ignoreEos: boolean;
  signal: AbortSignal;
  /** Detaches `signal` from the caller's signal once the generation is over. */
  release: () => void;
}

export class SessionImpl implements Session {
  private state: Tensor[];
  /** One KV cache per attention layer (hybrids and transformers), capped at `maxContext` tokens. */
  private caches: KvCache[];
  private readonly maxContext: number;
  private pos = 0;
  /** Sampled and emitted but not yet fed to the model; fed first by the next call. */
  private pendingToken: number | null = null;
  /** Next-token logits when the last call was a prefill/step (so an empty-prompt generate can sample at once). */
  private lastLogits: Float32Array | null = null;
  private rng: Rng;
  /**
   * When generation read back only the top-k logits (lastLogits is −∞ elsewhere), the full row,
   * still on the backend: read if the call stops before sampling from it (abort), so the session
   * never keeps a truncated distribution; released at the next call.
   */
  private held: HeldLogits | null = null;
  private decoder: StreamDecoder;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  /** Why the carried state can no longer be trusted (a call failed part-way with nothing to roll back to). */
  /**
   * Why the state was lost, when a call failed part-way: later calls fail with `code` — E_DEVICE_LOST
   * while the device is the reason, E_STATE for any other failure.
   */
  private lost: { reason: string; code: 'E_STATE' | 'E_DEVICE_LOST' } | null = null;

  constructor(
    private readonly model: ModelImpl, blob: Uint8Array | undefined, private readonly onDispose: () => void,
    private readonly memoryLimit?: number,
  ) {
    this.rng = new Rng((Math.random() * 2 ** 32) >>> 0);
    const shapes = model.stateShapes(1);
    this.maxContext = model.maxContextTokens(memoryLimit);
    if (blob === undefined) {
      this.state = model.allocState(1);
      this.caches = model.allocCaches(1, this.maxContext);
      this.decoder = createStreamDecoder(model.tokenizer);
      return;
    }
    const { graph, cfg, backend } = model.parts;
    const saved = decodeState(blob, {
      fingerprint: model.fingerprint, tensorShapes: shapes, vocabSize: model.config.vocabSize,
      kvCaches: graph.kvCaches?.(cfg) ?? [], maxContext: this.maxContext,
    });
    this.state = model.allocState(1);
    saved.tensors.forEach((t, i) => backend.write(this.state[i], t));
    this.caches = model.allocCaches(1, this.maxContext);
    (saved.kv ?? []).forEach(({ k, v }, i) => backend.writeKvCache(this.caches[i], k, v, saved.header.position));
    this.pos = saved.header.position;
    this.pendingToken = saved.header.pendingToken;
    this.lastLogits = saved.logits;
    this.rng.setState(Uint32Array.from(saved.header.rng));
    this.decoder = createStreamDecoder(model.tokenizer, saved.header.decoderPending);
  }

  get position(): number {
    return this.pos;
  }

  /** Runs `fn` after every earlier call on this session has finished. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.disposed) throw fail('E_ARGUMENT', 'the session has been disposed');
      if (this.lost !== null) {
        throw fail(this.lost.code, `this session's state was lost when an earlier call failed part-way (${this.lost.reason}); dispose it and create a new session, or resume one from a saved state`, { field: 'session' });
      }
      this.model.assertOpen();
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private checkInput(ids: unknown, field: string): number[] {
    if (!Array.isArray(ids)) throw fail('E_ARGUMENT', `${field} must be an array of token ids`, { field });
    this.model.checkIds(ids, field);
    return ids;
  }

  /**
   * Feeds the pending token (if any) then `ids`, in prefill chunks. If the signal fires,
   * the state is rolled back to where the call began, so an aborted call changes nothing.
   */
  private async consume(
    ids: number[], output: 'logits-last' | 'logits-all', signal?: AbortSignal, onProgress?: PrefillOptions['onProgress'], topK?: number,
  ): Promise<Float32Array> {
    const { backend, cfg } = this.model.parts;
    this.releaseHeld();
    const withPending = this.pendingToken === null ? ids : [this.pendingToken, ...ids];
    // Sessions opened since this one may have taken the room its prefill working memory needs.
    this.model.checkMemory(this.model.chunkBytes(1) + (signal ? this.model.info.stateBytes : 0), `a ${withPending.length}-token step of a session`);
    if (this.caches.length > 0) {
      this.model.checkContext(this.pos + withPending.length, this.maxContext, this.memoryLimit, `a call at position ${this.pos} with ${withPending.length} new tokens`);
    }
    const snapshot = signal ? await Promise.all(this.state.map((t) => backend.read(t))) : null;
    const kvLengths = this.caches.map((c) => c.length);
    try {
      const onHeld = (h: HeldLogits) => { this.held = h; };
      const values = (await this.model.run(this.state, Int32Array.from(withPending), 1, withPending.length, output, { signal, onProgress, caches: this.caches, topK, onHeld }))!;
      this.pos += withPending.length;
      this.pendingToken = null;
      const V = cfg.vocabSize;
      if (output === 'logits-all') {
        const forIds = values.subarray((withPending.length - ids.length) * V);
        this.lastLogits = forIds.slice(forIds.length - V);
        return forIds.slice();
      }
      this.lastLogits = values;
      return values;
    } catch (e) {
      // With a snapshot the call changes nothing. Without one (no signal: steps and decode, where a
      // copy per token would cost too much) the layers already run have moved the state while the
      // position has not: refuse to go on from there rather than continue from a corrupt state.
      if (snapshot) snapshot.forEach((t, i) => backend.write(this.state[i], t));
      else {
        this.lost = {
          reason: e instanceof Error ? e.message.slice(0, 200) : String(e),
          code: e instanceof MambaEdgeError && e.code === 'E_DEVICE_LOST' ? 'E_DEVICE_LOST' : 'E_STATE',
        };
      }
      this.caches.forEach((c, i) => backend.truncateKvCache(c, kvLengths[i])); // the tokens of the failed call go
      throw e;
    }
  }

  async prefill(ids: number[], opts: PrefillOptions = {}): Promise<Float32Array> {
    const input = this.checkInput(ids, 'prefill ids');
    if (input.length === 0) throw fail('E_ARGUMENT', 'prefill needs at least one token', { field: 'ids' });
    return this.exclusive(async () => {
      throwIfAborted(opts.signal, 'prefill');
      return (await this.consume(input, 'logits-last', opts.signal, opts.onProgress)).slice();
    });
  }

  async forward(ids: number[], opts: { signal?: AbortSignal } = {}): Promise<Float32Array> {
    const input = this.checkInput(ids, 'forward ids');
    if (input.length === 0) throw fail('E_ARGUMENT', 'forward needs at least one token', { field: 'ids' });
    const V = this.model.config.vocabSize;
    return this.exclusive(async () => {
      throwIfAborted(opts.signal, 'forward');
      // This session's own state is already counted among the open sessions'; the rollback snapshot is not.
      const fixed = this.model.chunkBytes(1) + (opts.signal ? this.model.info.stateBytes : 0);
      this.model.checkMemory(fixed + 4 * (input.length + 1) * V, `session.forward of ${input.length} tokens`, (free) => {
        const longest = Math.floor((free - fixed) / (4 * V)) - 1;
        return longest > 0 ? `at most ${longest} tokens fit in one session.forward call (prefill takes any length)` : 'not even one token fits';
      });
      return this.consume(input, 'logits-all', opts.signal);
    });
  }

  async step(id: number): Promise<Float32Array> {
    const input = this.checkInput([id], 'step id');
    return this.exclusive(async () => (await this.consume(input, 'logits-last')).slice());
  }

  private plan(opts: GenerateOptions, internal: AbortSignal): GenerationPlan {
    if (opts === null || typeof opts !== 'object') throw fail('E_ARGUMENT', 'generate options must be an object', { field: 'opts' });
    const maxTokens = opts.maxTokens ?? 256;
    if (!Number.isInteger(maxTokens) || maxTokens <= 0) {
      throw fail('E_ARGUMENT', `maxTokens must be a positive integer, got ${maxTokens}`, { field: 'maxTokens' });
    }
    if (opts.seed !== undefined && (!Number.isInteger(opts.seed) || opts.seed < 0)) {
      throw fail('E_ARGUMENT', `seed must be a non-negative integer, got ${opts.seed}`, { field: 'seed' });
    }
    const stop = opts.stop ?? [];
    new StopMatcher(stop); // validates
    const sampler = validateSamplerParams(opts);
    const { signal, release } = anySignal(opts.signal, internal);
    return { ...sampler, maxTokens, seed: opts.seed, stop, ignoreEos: opts.ignoreEos ?? false, signal, release };
  }

  /**
   * Stream tokens. Argument errors throw at once; an abort ends the iteration with
   * E_ABORTED (AbortError) while `finished` resolves with finishReason 'abort'.
   * @example
   * for await (const { text } of session.generate('Hi', { maxTokens: 32, temperature: 0 })) process.stdout.write(text);
   */
  generate(prompt: string | number[], opts: GenerateOptions = {}): Generation {
    return this.startGeneration(prompt, opts, new AbortController());
  }

  private startGeneration(prompt: string | number[], opts: GenerateOptions, internal: AbortController): Generation {
    if (this.disposed) throw fail('E_ARGUMENT', 'the session has been disposed');
    const plan = this.plan(opts, internal.signal);
    let promptIds: number[];
    try {
      if (typeof prompt === 'string') promptIds = this.model.tokenizer.encode(prompt);
      else promptIds = this.checkInput(prompt, 'prompt');
    } catch (e) {
      plan.release();
      throw e;
    }
    const queue = new AsyncQueue<GeneratedToken>();
    // Leaving a for-await loop early stops generation (within one token) instead of running on.
    queue.onReturn = () => internal.abort(new Error('the consumer stopped iterating'));
    const finished = this.exclusive(async () => {
      if (promptIds.length === 0 && this.pendingToken === null && this.lastLogits === null) {
        throw fail('E_ARGUMENT', 'empty prompt on a session with no context: give a prompt, or prefill first', { field: 'prompt' });
      }
      return this.runGeneration(promptIds, plan, queue);
    }).finally(plan.release).catch((e) => {
      queue.fail(e);
      throw e;
    });
    finished.catch(() => undefined); // the error also reaches the iterator; do not report it as unhandled
    return { finished, [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator]() };
  }

  private async runGeneration(promptIds: number[], plan: GenerationPlan, queue: AsyncQueue<GeneratedToken>): Promise<GenerationResult> {
    const { tokenizer, config } = this.model;
    const eos = config.eosTokenId;
    const text = new TextBuffer();
    let completionTokens = 0;
    const result = (finishReason: FinishReason): GenerationResult => ({ text: text.toString(), finishReason, promptTokens: promptIds.length, completionTokens });
    const aborted = async () => {
      await this.settleLogits();
      queue.fail(new MambaEdgeError('E_ABORTED', 'generation was aborted', { cause: plan.signal.reason }));
      return result('abort');
    };
    // Sampling needs only the k best logits (1 for greedy): backends that can, read back just those.
    const topK = plan.temperature === 0 ? 1 : plan.topK > 0 ? plan.topK : undefined;
    if (plan.signal.aborted) return aborted();

    let logits: Float32Array;
    try {
      if (promptIds.length > 0) logits = await this.consume(promptIds, 'logits-last', plan.signal, undefined, topK);
      else if (this.pendingToken !== null) logits = await this.consume([], 'logits-last', undefined, undefined, topK);
      else logits = this.lastLogits!;
    } catch (e) {
      if (e instanceof MambaEdgeError && e.code === 'E_ABORTED') return aborted();
      throw e;
    }
    if (plan.seed !== undefined) this.rng = new Rng(plan.seed);
    const stop = new StopMatcher(plan.stop);

    /** Takes a sampled token: streams it; the finish reason when generation ends with it. */
    const emit = (id: number): FinishReason | null => {
      this.pendingToken = id;
      this.lastLogits = null;
      this.releaseHeld();
      completionTokens++;
      if (!plan.ignoreEos && id === eos) {
        // End of text: bytes held for an unfinished character will never complete.
        const tail = stop.push(this.decoder.flush()) + stop.flush();
        text.add(tail);
        queue.push({ id, text: tail });
        queue.end();
        return 'eos';
      }
      let piece = stop.push(this.decoder.push(id));
      if (stop.stopped) {
        text.add(piece);
        queue.push({ id, text: piece });
        this.decoder = createStreamDecoder(tokenizer); // text after a stop string is dropped
        queue.end();
        return 'stop';
      }
      const last = completionTokens >= plan.maxTokens;
      if (last) piece += stop.flush(); // held-back text that never became a stop string; UTF-8 bytes stay pending
      text.add(piece);
      queue.push({ id, text: piece });
      if (last) {
        queue.end();
        return 'length';
      }
      return null;
    };

    const device = this.model.parts.backend.deviceSampling;
    const ahead = device?.supports(plan) && this.runAheadFits() ? device : null;
    for (;;) {
      if (plan.signal.aborted) return aborted();
      const end = emit(sampleToken(logits, plan, this.rng));
      if (end) return result(end);
      await yieldToEventLoop(); // let timers, signal handlers and the UI run between tokens
      if (ahead) {
        const end = await this.decodeAhead(ahead, plan, emit, () => completionTokens);
        return end === 'abort' ? aborted() : result(end);
      }
      logits = await this.consume([], 'logits-last', undefined, undefined, topK);
    }
  }

  /**
   * @internal How many decode steps run ahead of the host on a backend with deviceSampling: 0 turns
   * run-ahead off; each costs one more copy of the state (its undo snapshot). 1, because on an H100
   * (BENCHMARKS.md, WebGPU, decode run-ahead) 2 was no faster: a token there is bound by the host's
   * recording and encoding, which a second step in flight does not shorten.
   */
  static runAheadDepth = 1;

  /** Whether the run-ahead snapshots (copies of the state) fit maxMemoryBytes next to a step's working memory. */
  private runAheadFits(): boolean {
    if (SessionImpl.runAheadDepth < 1) return false;
    try {
      // A sampled step already held (ModelImpl.sampledStep) is its one snapshot, and already counted.
      const held = SessionImpl.runAheadDepth === 1 && this.model.holdsSampled(this.state) ? 1 : 0;
      this.model.checkMemory(this.model.chunkBytes(1) + (SessionImpl.runAheadDepth - held) * this.model.info.stateBytes, 'the run-ahead state snapshots');
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Decode with the next token sampled on the device, up to `runAheadDepth` steps ahead of the host:
   * while step s (it consumes the token just streamed) runs, steps s + 1, ... are already recorded and
   * submitted, each fed with the previous step's token straight from device memory; then the host
   * reads step s's token, checks it against the sampler's rule (the host's answer wins), streams it,
   * and records the next step — so the host's recording, the device's work and the read-backs overlap
   * instead of running in series.
   *
   * A run-ahead step is undone whenever the host would not have run it: before it, the state is
   * copied on the device into a snapshot; if the generation ends at an earlier token (EOS, a stop
   * string, maxTokens, an abort) or the device chose differently from the rule, the first undone
   * step's snapshot is copied back, KV caches are cut to their length before it and the rng is put
   * back before its draw. So the session after a call (position, state, pending token, rng, saveState
   * bytes) is the one `consume` one token at a time leaves. Each step's random draw is made on the
   * host, in order.
   */
  private async decodeAhead(
    ds: DeviceSampling, plan: GenerationPlan, emit: (id: number) => FinishReason | null, emitted: () => number,
  ): Promise<FinishReason> {
    const { backend, cfg } = this.model.parts;
    const depth = SessionImpl.runAheadDepth;
    /**
     * One step ahead: the step and its draw as one recorded unit where the backend has one (SampledStep: one
     * launch a token; each run saves its own undo point, so a step run ahead needs no snapshot copy).
     */
    const unit = depth === 1 ? this.model.sampledStep(this.state, this.caches, plan) : null;
    /** A step run ahead is undone from its `snapshot` or, run by `unit`, by `undo`; both null once decided. */
    interface Step { token: DeviceToken; logits: Tensor; rng: Uint32Array; u: number; kv: number[]; snapshot: Tensor[] | null; undo: (() => void) | null }
    /** Snapshot blocks not held by a step in flight (one per run-ahead step, allocated on first use). */
    const spare: Tensor[][] = [];
    const allSnapshots: Tensor[][] = [];
    /** [0]: the step consuming the token last streamed (decided); the rest run ahead of the host. */
    const inflight: Step[] = [];
    let failed = true; // until proven otherwise, an exception leaves the state half-advanced
    const submit = (ids: Int32Array, ahead: boolean): Step => {
      const kv = this.caches.map((c) => c.length);
      if (unit) {
        const rng = this.rng.getState();
        const u = plan.temperature > 0 ? this.rng.nextFloat() : 0;
        const { token, logits } = unit.run(ids, plan, u);
        return { token, logits, rng, u, kv, snapshot: null, undo: ahead ? () => unit.undo(token) : null };
      }
      let snapshot: Tensor[] | null = null;
      if (ahead) {
        snapshot = spare.pop() ?? null;
        if (!snapshot) { snapshot = this.model.allocState(1); allSnapshots.push(snapshot); }
        ds.copy(this.state, snapshot);
      }
      const rng = this.rng.getState();
      const u = plan.temperature > 0 ? this.rng.nextFloat() : 0;
      try {
        // At most depth + 1 steps are in flight (inflight[0] and the steps ahead), their logits alive at once.
        const { token, logits } = this.model.recordDecodeStep(this.state, this.caches, ids, plan, u, depth + 1);
        return { token, logits, rng, u, kv, snapshot, undo: null };
      } catch (e) {
        if (snapshot) spare.push(snapshot);
        throw e;
      }
    };
    const release = (step: Step) => {
      ds.release(step.token);
      backend.free(step.logits);
      if (step.snapshot) spare.push(step.snapshot);
    };
    /** Undoes the run-ahead steps in flight (recorded after them, so the device finishes them first). */
    const undoAhead = () => {
      const from = inflight.findIndex((step) => step.snapshot !== null || step.undo !== null);
      if (from < 0) return;
      const first = inflight[from];
      if (first.undo) first.undo();
      else ds.copy(first.snapshot!, this.state);
      this.caches.forEach((c, i) => backend.truncateKvCache(c, first.kv[i]));
      this.rng.setState(first.rng);
      for (const step of inflight.splice(from)) release(step);
    };
    /** Generation goes on from the token inflight[0] consumes: it is no longer a run-ahead step. */
    const decide = () => {
      const step = inflight[0];
      if (step?.snapshot) { spare.push(step.snapshot); step.snapshot = null; }
      if (step) step.undo = null;
    };
    /** inflight[0] consumed the pending token: the session is at its end (its token not drawn yet). */
    const commit = () => {
      this.pos += 1;
      this.pendingToken = null;
      release(inflight.shift()!);
    };
    /** As `consume` one token at a time leaves an abort or a failed draw: inflight[0] done, its whole row of logits kept, no draw. */
    const settle = async () => {
      const row = await backend.read(inflight[0].logits);
      const rng = inflight[0].rng;
      undoAhead();
      commit();
      this.rng.setState(rng);
      this.lastLogits = row;
    };
    /** The next token must fit the KV caches; failing here (nothing in flight) leaves the session as it was. */
    const room = () => {
      try {
        this.checkRoom(1);
      } catch (e) {
        failed = false;
        throw e;
      }
    };
    try {
      room();
      inflight.push(submit(Int32Array.of(this.pendingToken!), false));
      for (;;) {
        decide();
        if (plan.signal.aborted) {
          await settle();
          failed = false;
          return 'abort';
        }
        // inflight[j] computes token number emitted() + 1 + j: run ahead while that is not the last
        // token and the KV caches have room for the token it would consume.
        while (inflight.length <= depth && emitted() + inflight.length < plan.maxTokens && this.hasRoom(inflight.length + 1)) {
          inflight.push(submit(ds.ids(inflight[inflight.length - 1].token), true));
        }
        const cur = inflight[0];
        const got = await ds.read(cur.token);
        let id: number;
        try {
          id = sampleFromCandidates(got.ids, got.values, cfg.vocabSize, plan, cur.u);
        } catch (e) {
          // No candidate (every logit −∞ or NaN): fail as sampleToken does, after the step.
          await settle();
          failed = false;
          throw e;
        }
        commit();
        if (inflight.length > 0 && got.id !== id) {
          // The device rounded differently near a boundary: its token fed the steps ahead, so redo them.
          this.runAheadRedos++;
          undoAhead();
        }
        const end = emit(id);
        if (end) {
          undoAhead();
          failed = false;
          return end;
        }
        await yieldToEventLoop(); // let timers, signal handlers and the UI run between tokens
        if (inflight.length === 0) {
          room();
          inflight.push(submit(Int32Array.of(id), false));
        }
      }
    } catch (e) {
      if (failed) {
        // As `consume` without a snapshot: layers already run have moved the state.
        this.lost = {
          reason: e instanceof Error ? e.message.slice(0, 200) : String(e),
          code: e instanceof MambaEdgeError && e.code === 'E_DEVICE_LOST' ? 'E_DEVICE_LOST' : 'E_STATE',
        };
      }
      throw e;
    } finally {
      for (const step of inflight.splice(0)) release(step);
      for (const snap of allSnapshots) backend.free(...snap);
      // The state back in the session's own tensors before anything else touches it (SampledStep.settle: cuda's
      // ping-pong step graph, one copy a generate at most); failing, the session's state is not its own.
      try {
        unit?.settle?.();
      } catch (e) {
        this.lost ??= { reason: e instanceof Error ? e.message.slice(0, 200) : String(e), code: e instanceof MambaEdgeError && e.code === 'E_DEVICE_LOST' ? 'E_DEVICE_LOST' : 'E_STATE' };
        throw e;
      }
    }
  }

  /** @internal Run-ahead steps redone because the device's draw differed from the host's rule (tests expect 0 on ordinary logits). */
  runAheadRedos = 0;

  /** Whether `tokens` more tokens of context fit the KV caches (always, for models without attention). */
  private hasRoom(tokens: number): boolean {
    return this.caches.length === 0 || this.pos + tokens <= this.maxContext;
  }

  /** E_MEMORY, as `consume` would fail, when the next token does not fit the KV caches. */
  private checkRoom(tokens: number): void {
    if (this.caches.length > 0) {
      this.model.checkContext(this.pos + tokens, this.maxContext, this.memoryLimit, `a call at position ${this.pos} with ${tokens} new tokens`);
    }
  }

  /**
   * The same text as `generate`, as a web ReadableStream; cancelling the stream aborts generation.
   * @example
   * return new Response(session.generateStream(prompt).pipeThrough(new TextEncoderStream()));
   */
  generateStream(prompt: string | number[], opts: GenerateOptions = {}): ReadableStream<string> {
    const internal = new AbortController();
    return textStream(this.startGeneration(prompt, opts, internal), internal);
  }

  /**
   * @example
   * const blob = await session.saveState();          // a few MB at most, whatever the context length
   * const again = model.createSession({ state: blob }); // continues exactly where `session` stood
   */
  saveState(): Promise<Uint8Array> {
    return this.exclusive(async () => {
      const { backend } = this.model.parts;
      const tensors = await Promise.all(this.state.map((t) => backend.read(t)));
      const kv = await Promise.all(this.caches.map((c) => backend.readKvCache(c)));
      const hasLogits = this.pendingToken === null && this.lastLogits !== null;
      return encodeState({
        header: {
          fingerprint: this.model.fingerprint,
          architecture: this.model.config.architecture,
          position: this.pos,
          pendingToken: this.pendingToken,
          rng: [...this.rng.getState()],
          decoderPending: this.decoder.pending(),
          tensors: this.state.map((t) => [...t.shape]),
          hasLogits,
          ...(this.caches.length ? { kv: this.caches.map((c) => ({ kvHeads: c.kvHeads, headDim: c.headDim, length: c.length })) } : {}),
        },
        tensors,
        kv,
        logits: hasLogits ? this.lastLogits : null,
      });
    });
  }

  private releaseHeld(): void {
    this.held?.release();
    this.held = null;
  }

  /** Replaces top-k-only logits with the full row before the call returns without sampling. */
  private async settleLogits(): Promise<void> {
    if (!this.held) return;
    const held = this.held;
    this.held = null;
    try {
      if (this.lastLogits !== null && this.pendingToken === null) this.lastLogits = await held.read();
    } finally {
      held.release();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.queue;
    this.disposed = true;
    this.releaseHeld();
    this.model.releaseRecorded(this.state);
    this.model.parts.backend.free(...this.state);
    for (const c of this.caches) this.model.parts.backend.freeKvCache(c);
    this.onDispose();
  }
}

