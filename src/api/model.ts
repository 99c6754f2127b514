/**
 * Model: loaded weights on one backend, plus the chunked runner that every entry
 * point (stateless forward, session prefill/step) goes through.
 */
import type {
  BackendInfo, BackendName, EvaluateOptions, EvaluationResult, ForwardHidden, ForwardLogits, ForwardOptions, LayerInfo, LoadDType, Model, ModelConfig, ModelInfo,
  Session, SessionOptions, StateAtContext,
} from './types.js';
import { fail, throwIfAborted } from '../errors.js';
import type { Backend, DeviceToken, KvCache, RecordedStep, SampledStep, Tensor } from '../backends/backend.js';
import type { SamplerParams } from './sampler.js';
import { publicConfig, type ModelGraph } from '../models/graph.js';
import type { TokenizerEx } from '../tokenizer/index.js';
import { SessionImpl } from './session.js';
import { yieldToEventLoop } from './async-queue.js';
import { evaluateText } from './evaluate.js';
import { stateAt } from './state-at.js';

export type RunOutput = 'logits-all' | 'logits-last' | 'hidden' | 'none';

/** A row of logits left on the backend after a top-k read (see ModelImpl.run's `topK`). */
export interface HeldLogits {
  read(): Promise<Float32Array>;
  release(): void;
}

/** Working bytes of one prefill chunk: the widest activations alive at once, plus the chunk's logits. */
export function activationBytes(cfg: ModelConfig, chunk: number, batch: number): number {
  const perToken = 4 * cfg.hiddenSize + 8 * cfg.intermediateSize + 4 * cfg.stateSize * (cfg.nGroups ?? 1) + cfg.vocabSize;
  return 4 * chunk * batch * perToken;
}

export interface ModelParts {
  graph: ModelGraph;
  cfg: ModelConfig;
  backend: Backend;
  /** What `graph.prepare` returned. */
  weights: unknown;
  tokenizer: TokenizerEx;
  fingerprint: string;
  dtype: LoadDType;
  warnings: string[];
  parameters: number;
  weightBytes: number;
  maxMemoryBytes?: number;
  /** GGUF files: tensor count per ggml type, as stored. */
  fileTensorTypes?: Record<string, number>;
}

export class ModelImpl implements Model {
  readonly config: ModelConfig;
  readonly backend: BackendName;
  readonly backendInfo: BackendInfo;
  readonly fingerprint: string;
  readonly tokenizer: TokenizerEx;
  readonly info: ModelInfo;
  /** @internal */ readonly parts: ModelParts;
  private disposed = false;
  private readonly sessions = new Set<SessionImpl>();
  /** Each session's decode step recorded on backends with recordStep (null: the backend declined), by its state tensors. */
  private readonly recorded = new WeakMap<Tensor[], RecordedStep | null>();
  /** Each session's decode step recorded with its draw (DeviceSampling.recordSampled), for the sampler shape last used. */
  private readonly sampled = new WeakMap<Tensor[], { shape: string; unit: SampledStep | null }>();
  /** Sampled steps held (each holds one undo copy of its session's state, counted by liveStateBytes). */
  private sampledUnits = 0;

  constructor(parts: ModelParts) {
    this.parts = parts;
    const { cfg, backend, tokenizer, fingerprint } = parts;
    this.config = publicConfig(cfg);
    this.backend = backend.name;
    this.backendInfo = backend.info;
    this.fingerprint = fingerprint;
    this.tokenizer = tokenizer;
    this.info = {
      architecture: cfg.architecture,
      parameters: parts.parameters,
      dtype: parts.dtype,
      backend: backend.name,
      stateBytes: this.stateShapes(1).reduce((n, s) => n + 4 * s.reduce((a, b) => a * b, 1), 0),
      weightBytes: parts.weightBytes,
      fingerprint,
      warnings: parts.warnings,
      ...(parts.fileTensorTypes ? { fileTensorTypes: parts.fileTensorTypes } : {}),
      kvBytesPerToken: this.kvBytesPerToken(1),
      layers: this.describeLayers(),
    };
  }

  /** @internal Per-layer kinds and sizes (graphs without a description: one entry per layer of the architecture's kind). */
  private describeLayers(): LayerInfo[] {
    const { graph, cfg } = this.parts;
    const described = graph.describeLayers?.(cfg);
    if (described) return described.map((d, index) => ({ index, ...d }));
    const shapes = graph.stateShapes(cfg, 1);
    const per = cfg.numLayers > 0 && shapes.length % cfg.numLayers === 0 ? shapes.length / cfg.numLayers : 0;
    return Array.from({ length: cfg.numLayers }, (_, index) => ({
      index, kind: cfg.architecture, bytesPerToken: 0,
      stateBytes: per ? shapes.slice(index * per, (index + 1) * per).reduce((n, s) => n + 4 * s.reduce((a, b) => a * b, 1), 0) : 0,
    }));
  }

  /**
   * Bytes of one session's carried state after `contextTokens` tokens, per layer: the fixed SSM
   * state plus, for attention layers, the KV cache (which grows linearly with the context).
   * @example
   * const { totalBytes, layers } = model.stateAt(4096); // layers[i].kind, layers[i].bytes
   */
  stateAt(contextTokens: number): StateAtContext {
    return stateAt(this.info, contextTokens);
  }

  /** @internal KV-cache bytes per token of context for `batch` sequences (0 for pure SSM models). */
  kvBytesPerToken(batch: number): number {
    const { graph, cfg, backend } = this.parts;
    return (graph.kvCaches?.(cfg) ?? []).reduce((n, s) => n + backend.kvCacheBytes(batch, s.kvHeads, s.headDim, 1), 0);
  }

  /** @internal Empty KV caches for `batch` sequences, each capped at `maxTokens`. */
  allocCaches(batch: number, maxTokens = Infinity): KvCache[] {
    const { graph, cfg, backend } = this.parts;
    return (graph.kvCaches?.(cfg) ?? []).map((s) => backend.createKvCache(batch, s.kvHeads, s.headDim, { maxTokens }));
  }

  /**
   * @internal The most tokens of context whose KV caches fit `limit` next to the weights, the fixed
   * state and one prefill chunk's working memory; Infinity without a limit or without attention.
   */
  maxContextTokens(limit: number | undefined, batch = 1): number {
    const perToken = this.kvBytesPerToken(batch);
    if (limit === undefined || perToken === 0) return Infinity;
    const { cfg } = this.parts;
    const fixed = this.parts.weightBytes + this.stateShapes(batch).reduce((n, s) => n + 4 * s.reduce((a, b) => a * b, 1), 0)
      + activationBytes(cfg, this.prefillChunkTokens(batch), batch);
    return Math.max(0, Math.floor((limit - fixed) / perToken));
  }

  /** @internal E_MEMORY before allocating when `tokens` of context exceed what the memory cap allows. */
  checkContext(tokens: number, maxTokens: number, limit: number | undefined, what: string): void {
    if (tokens <= maxTokens) return;
    throw fail('E_MEMORY', `${what} needs ${tokens} tokens of context, but with maxMemoryBytes = ${limit} the KV caches fit at most ${maxTokens} tokens (${this.kvBytesPerToken(1)} bytes per token next to ${this.parts.weightBytes} bytes of weights)`, { field: 'maxMemoryBytes' });
  }

  /** @internal */
  stateShapes(batch: number): number[][] {
    return this.parts.graph.stateShapes(this.parts.cfg, batch);
  }

  /** @internal */
  assertOpen(): void {
    if (this.disposed) throw fail('E_ARGUMENT', 'the model has been disposed');
  }

  /** @internal Throws E_TOKEN for ids that are not integers in [0, vocab). */
  checkIds(ids: readonly number[], field = 'ids'): void {
    const V = this.parts.cfg.vocabSize;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw fail('E_TOKEN', `${field}: token id ${id} is outside the vocabulary [0, ${V})`, { field });
      }
    }
  }

  /** @internal Zeroed state tensors for `batch` sequences, after a maxMemoryBytes check. */
  allocState(batch: number): Tensor[] {
    const { backend } = this.parts;
    const shapes = this.stateShapes(batch);
    return backend.zerosBlock ? backend.zerosBlock(shapes) : shapes.map((s) => backend.zeros(s));
  }

  /** @internal Bytes of carried state held by this model's open sessions (one sequence each). */
  liveStateBytes(): number {
    return (this.sessions.size + this.sampledUnits) * this.info.stateBytes;
  }

  /** @internal Working bytes of one prefill chunk for `batch` sequences. */
  chunkBytes(batch: number): number {
    return activationBytes(this.parts.cfg, this.prefillChunkTokens(batch), batch);
  }

  /**
   * @internal Tokens per prefill chunk: the graph's chunk times the backend's `prefillChunkMultiple`,
   * the multiple halved while such a chunk's working memory would not fit under maxMemoryBytes next to
   * the weights and one set of state (never below the graph's own chunk, which loadModel checked).
   */
  prefillChunkTokens(batch = 1): number {
    const { graph, cfg, backend, maxMemoryBytes, weightBytes } = this.parts;
    const base = graph.prefillChunk(cfg);
    let multiple = backend.prefillChunkMultiple ?? 1;
    if (maxMemoryBytes !== undefined) {
      const room = maxMemoryBytes - weightBytes - this.stateShapes(batch).reduce((n, s) => n + 4 * s.reduce((a, b) => a * b, 1), 0);
      while (multiple > 1 && activationBytes(cfg, base * multiple, batch) > room) multiple = Math.floor(multiple / 2);
    }
    return base * multiple;
  }

  /** @internal Frees the decode step recorded for a session's `state`, if any (the session is going away). */
  releaseRecorded(state: Tensor[]): void {
    this.recorded.get(state)?.release();
    this.recorded.delete(state);
    this.releaseSampled(state);
  }

  /** @internal Whether the session whose state is `state` holds a sampled step (whose undo copy liveStateBytes counts). */
  holdsSampled(state: Tensor[]): boolean {
    return !!this.sampled.get(state)?.unit;
  }

  private releaseSampled(state: Tensor[]): void {
    const held = this.sampled.get(state);
    if (held?.unit) {
      held.unit.release();
      this.sampledUnits--;
    }
    this.sampled.delete(state);
  }

  /**
   * @internal The session's decode step and its draw as one unit (DeviceSampling.recordSampled): the step
   * `recordedStep` records, then the device's draw with `params`' shape, one launch a token, each run saving
   * the state's undo point (or, cuda's ping-pong, leaving the state before it in a second block:
   * SampledStep.settle). One unit per session, for the sampler shape (greedy, or its topK) last asked
   * for: another shape releases it and records anew. Null where the backend has none or declines, or the
   * model has KV caches (their steps are not recorded).
   */
  sampledStep(state: Tensor[], caches: KvCache[], params: SamplerParams): SampledStep | null {
    const { graph, cfg, backend: b, weights } = this.parts;
    const record = b.deviceSampling?.recordSampled;
    if (caches.length > 0 || !record) return null;
    const shape = params.temperature === 0 ? 'greedy' : `top-k ${params.topK}`;
    const held = this.sampled.get(state);
    if (held?.shape === shape) return held.unit;
    this.releaseSampled(state);
    const unit = record.call(b.deviceSampling, state, new Int32Array(1), (stepIds) => this.tokenLogits(state, [], stepIds), params);
    if (unit) this.sampledUnits++;
    this.sampled.set(state, { shape, unit });
    return unit;
  }

  /**
   * @internal Fails with E_MEMORY before allocating when `extraBytes` more would take the weights, the
   * open sessions' states and this work past maxMemoryBytes. `fits` turns the bytes still free into
   * what would fit (the longest input, how many sessions), for the message.
   */
  checkMemory(extraBytes: number, what: string, fits?: (availableBytes: number) => string): void {
    const limit = this.parts.maxMemoryBytes;
    if (limit === undefined) return;
    const live = this.liveStateBytes();
    const total = this.parts.weightBytes + live + extraBytes;
    if (total > limit) {
      const held = live > 0 ? ` and ${live} bytes of state held by ${this.sessions.size} open session(s)` : '';
      const hint = fits ? `; ${fits(limit - this.parts.weightBytes - live)}` : '';
      throw fail('E_MEMORY', `${what} needs ${extraBytes} bytes on top of ${this.parts.weightBytes} bytes of weights${held}; maxMemoryBytes is ${limit}${hint}`, { field: 'maxMemoryBytes' });
    }
  }

  /**
   * @internal The one runner: ids [batch][seq] (row-major) through the stack in prefill chunks,
   * carrying `state`. Signal is checked between chunks only, so the state is always at a token boundary.
   */
  async run(
    state: Tensor[], ids: Int32Array, batch: number, seq: number, output: RunOutput,
    opts: {
      signal?: AbortSignal; onProgress?: (p: { done: number; total: number }) => void; abortBetweenLayers?: boolean; caches?: KvCache[];
      /**
       * 'logits-last' on a backend with readTopK: read back only the k best logits (the rest of the
       * returned row is −∞) and hand the full row's tensor to `onHeld`, which must read or release it.
       */
      topK?: number;
      onHeld?: (held: HeldLogits) => void;
    } = {},
  ): Promise<Float32Array | null> {
    const { graph, cfg, backend: b, weights } = this.parts;
    const chunk = this.prefillChunkTokens(batch);
    const head = graph.head(weights);
    const step = seq === 1 && batch === 1 && output === 'logits-last' && !opts.caches?.length ? this.recordedStep(state, ids) : null;
    if (step) { // one decode token of a session: the step recorded on its first token, replayed
      throwIfAborted(opts.signal, 'forward');
      const logits = step.run(ids); // [1, V], owned by the recording
      let last: Float32Array;
      if (opts.topK && opts.onHeld && b.readTopK) {
        const { ids: best, values } = await b.readTopK(logits, 0, opts.topK);
        last = new Float32Array(cfg.vocabSize).fill(-Infinity);
        best.forEach((id, i) => { last[id] = values[i]; });
        opts.onHeld({ read: () => b.read(logits), release: () => undefined });
      } else {
        last = await b.read(logits);
      }
      opts.onProgress?.({ done: 1, total: 1 });
      return last;
    }
    const width = output === 'hidden' ? cfg.hiddenSize : cfg.vocabSize;
    const out = output === 'logits-all' || output === 'hidden' ? new Float32Array(batch * seq * width) : null;
    let last: Float32Array | null = null;
    for (let start = 0; start < seq; start += chunk) {
      throwIfAborted(opts.signal, 'forward');
      const len = Math.min(chunk, seq - start);
      const chunkIds = new Int32Array(batch * len);
      for (let r = 0; r < batch; r++) chunkIds.set(ids.subarray(r * seq + start, r * seq + start + len), r * len);
      const hidden = graph.forward({ backend: b, cfg, weights, state, batch, seq: len, signal: opts.abortBetweenLayers ? opts.signal : undefined, caches: opts.caches }, chunkIds);
      if (out) {
        const result = output === 'hidden' ? hidden : b.matmul(hidden, head.weight, head.bias); // [B, len, width]
        const values = await b.read(result);
        for (let r = 0; r < batch; r++) {
          out.set(values.subarray(r * len * width, (r + 1) * len * width), (r * seq + start) * width);
        }
        if (result !== hidden) b.free(result);
      } else if (output === 'logits-last' && start + len === seq) {
        if (batch !== 1) throw fail('E_ARGUMENT', 'last-position logits are for single sequences');
        const lastRow = b.sliceRows(b.reshape(hidden, [len, cfg.hiddenSize]), len - 1, 1);
        const logits = b.matmul(lastRow, head.weight, head.bias); // [1, V]
        b.free(lastRow);
        if (opts.topK && opts.onHeld && b.readTopK) {
          const { ids: best, values } = await b.readTopK(logits, 0, opts.topK);
          last = new Float32Array(cfg.vocabSize).fill(-Infinity);
          best.forEach((id, i) => { last![id] = values[i]; });
          opts.onHeld({ read: () => b.read(logits), release: () => b.free(logits) });
        } else {
          last = await b.read(logits);
          b.free(logits);
        }
      }
      b.free(hidden);
      // A GPU backend: bound its queue to about one chunk (Backend.settle) before reporting progress.
      if (start + len < seq) await b.settle?.();
      opts.onProgress?.({ done: start + len, total: seq });
      if (start + len < seq) await yieldToEventLoop(); // keep the host responsive during long prompts
    }
    return out ?? last;
  }

  /**
   * @internal One decode token of one sequence with the next token sampled on the device
   * (Backend.deviceSampling, which the caller checked): the graph over `ids` (a host id, or
   * `deviceSampling.ids(token)` of the previous step's token), the head, the device's draw with
   * uniform `u`, submitted at once. Nothing is read back; the caller reads or releases `token` and
   * frees `logits` (kept so an abort can still read the whole row).
   *
   * Where the backend records steps (Backend.recordStep) and the model has no KV caches, the step is
   * the session's recorded one (as `run` replays it), run with `ids` as they are — RecordedStep.run
   * takes a device-sampled token's ids and reads the id on the device. Its output tensor is the
   * recording's and is overwritten by the next run, which decodeAhead submits before it reads this
   * step's token; so the row is copied (`sliceRows`, in order with the ops) into a tensor of this
   * step's own, which `logits` is: an abort (decodeAhead's `settle`) reads step t's row, not t+1's —
   * unless the recording returns a ring of outputs (RecordedStep.outputs) at least as long as the
   * `inFlight` steps the caller keeps (their logits alive at once): then `logits` is the run's output
   * itself, untouched until `outputs` more runs, and the device sampler reads it with no copy (one
   * dispatch a token fewer). Freeing it then does nothing (the recording owns it).
   */
  recordDecodeStep(state: Tensor[], caches: KvCache[], ids: Int32Array, params: SamplerParams, u: number, inFlight = Infinity): { token: DeviceToken; logits: Tensor } {
    const { graph, cfg, backend: b, weights } = this.parts;
    const step = caches.length === 0 ? this.recordedStep(state, ids) : null;
    let logits: Tensor;
    if (step) {
      const out = step.run(ids);
      logits = (step.outputs ?? 1) >= inFlight ? out : b.sliceRows(out, 0, 1); // [1, V]: the ring's slot, or this step's own copy
    } else {
      logits = this.tokenLogits(state, caches, ids);
    }
    try {
      return { token: b.deviceSampling!.sample(logits, params, u), logits };
    } catch (e) {
      b.free(logits);
      throw e;
    }
  }

  /** One token's logits [1, V]: the layers over `ids` (one sequence, one position), the final norm and the head. */
  private tokenLogits(state: Tensor[], caches: KvCache[], ids: Int32Array): Tensor {
    const { graph, cfg, backend: b, weights } = this.parts;
    const hidden = graph.forward({ backend: b, cfg, weights, state, batch: 1, seq: 1, caches }, ids); // [1, 1, D]
    const head = graph.head(weights);
    const logits = b.matmul(b.reshape(hidden, [1, cfg.hiddenSize]), head.weight, head.bias); // [1, V]
    b.free(hidden);
    return logits;
  }

  /**
   * @internal The recorded decode step of the session whose state is `state` (recorded on its first
   * step), or null where the backend has no recordStep or declined: embed, the layers, the final norm
   * and the head's logits row, as the chunk loop below computes them for one token. It is recorded
   * over placeholder host ids (token 0, as many as `ids`), so that recording never depends on whether
   * `ids` are host ids or a device-sampled token's; each run gives the real ones.
   */
  private recordedStep(state: Tensor[], ids: Int32Array): RecordedStep | null {
    const { graph, cfg, backend: b, weights } = this.parts;
    if (!b.recordStep) return null;
    let step = this.recorded.get(state);
    if (step === undefined) {
      step = b.recordStep(new Int32Array(ids.length), (stepIds) => this.tokenLogits(state, [], stepIds));
      this.recorded.set(state, step);
    }
    return step;
  }

  forward(ids: number[][], opts?: ForwardOptions & { output?: 'logits' }): Promise<ForwardLogits>;
  forward(ids: number[][], opts: ForwardOptions & { output: 'hidden' }): Promise<ForwardHidden>;
  /**
   * Stateless forward over a batch of equal-length rows.
   * @example
   * const { logits, shape: [B, T, V] } = await model.forward([[1, 2, 3], [4, 5, 6]]);
   */
  async forward(ids: number[][], opts: ForwardOptions = {}): Promise<ForwardLogits | ForwardHidden> {
    this.assertOpen();
    const output = opts.output ?? 'logits';
    if (output !== 'logits' && output !== 'hidden') throw fail('E_ARGUMENT', `output must be "logits" or "hidden", got ${JSON.stringify(output)}`, { field: 'output' });
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every(Array.isArray)) {
      throw fail('E_ARGUMENT', 'forward: ids must be a non-empty array of token-id arrays ([batch][seq])', { field: 'ids' });
    }
    const seq = ids[0].length;
    if (seq === 0) throw fail('E_ARGUMENT', 'forward: rows must hold at least one token', { field: 'ids' });
    ids.forEach((row, r) => {
      if (row.length !== seq) throw fail('E_SHAPE', `forward: ragged batch — row ${r} has ${row.length} tokens, row 0 has ${seq}`, { field: 'ids' });
      this.checkIds(row, `ids[${r}]`);
    });
    const batch = ids.length;
    const { cfg, backend } = this.parts;
    const width = output === 'hidden' ? cfg.hiddenSize : cfg.vocabSize;
    const stateBytes = this.stateShapes(batch).reduce((n, s) => n + 4 * s.reduce((a, b) => a * b, 1), 0);
    const kvPerToken = this.kvBytesPerToken(batch);
    const fixed = stateBytes + activationBytes(cfg, this.prefillChunkTokens(batch), batch);
    this.checkMemory(fixed + kvPerToken * seq + 4 * batch * seq * width, `forward of ${batch}×${seq} tokens`, (free) => {
      const longest = Math.floor((free - fixed) / (4 * batch * width + kvPerToken));
      return longest > 0 ? `at most ${longest} tokens per row fit in a batch of ${batch}` : `not even one token per row fits in a batch of ${batch}`;
    });
    const state = this.allocState(batch);
    const caches = this.allocCaches(batch);
    try {
      const flat = Int32Array.from(ids.flat());
      const values = (await this.run(state, flat, batch, seq, output === 'hidden' ? 'hidden' : 'logits-all', { signal: opts.signal, abortBetweenLayers: true, caches }))!;
      return output === 'hidden'
        ? { hidden: values, shape: [batch, seq, width] }
        : { logits: values, shape: [batch, seq, width] };
    } finally {
      backend.free(...state);
      for (const c of caches) backend.freeKvCache(c);
    }
  }

  /**
   * A stateful session: prefill, step, generate, save and resume.
   * @example
   * const s = model.createSession();
   * const text = await s.generate('Hello', { maxTokens: 20, seed: 7 }).finished;
   * const blob = await s.saveState();
   * const resumed = model.createSession({ state: blob });
   */
  createSession(opts: SessionOptions = {}): Session {
    this.assertOpen();
    const stateBytes = this.info.stateBytes;
    if (opts.maxMemoryBytes !== undefined && !(opts.maxMemoryBytes > 0)) {
      throw fail('E_ARGUMENT', `maxMemoryBytes must be a positive number, got ${opts.maxMemoryBytes}`, { field: 'maxMemoryBytes' });
    }
    const working = this.chunkBytes(1);
    this.checkMemory(stateBytes + working, 'a session', (free) => {
      const more = Math.max(0, Math.floor((free - working) / stateBytes));
      return `room for ${more} more session(s) (${stateBytes} bytes of state each, plus ${working} bytes of prefill working memory); dispose a session or raise maxMemoryBytes`;
    });
    const caps = [this.parts.maxMemoryBytes, opts.maxMemoryBytes].filter((x): x is number => x !== undefined);
    const limit = caps.length ? Math.min(...caps) : undefined;
    const s = new SessionImpl(this, opts.state, () => this.sessions.delete(s), limit);
    this.sessions.add(s);
    return s;
  }

  evaluate(text: string, opts?: EvaluateOptions): Promise<EvaluationResult> {
    this.assertOpen();
    return evaluateText(this, text, opts);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    for (const s of [...this.sessions]) await s.dispose();
    this.disposed = true;
    await this.parts.backend.dispose();
  }
}
