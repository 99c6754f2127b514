/**
 * The CLI's jobs: load the model, run one command, report through `post` (events of
 * protocol.ts). The same code runs on the main thread (small models, see host.ts) or in
 * the CLI's worker thread (worker.ts adapts `post` to a MessagePort).
 */
import type { Model } from '../api/types.js';
import { UsageError } from './args.js';
import { measureSpeed } from './measure.js';
import type {
  BenchJob, BenchResult, EvalJob, EvalResult, GenerateJob, GenerateResult, InfoJob, InfoResult, Job, JobResult, LoadSpec, SerializedError, WorkerEvent,
} from './protocol.js';

type Library = typeof import('../node.js');
export type Post = (e: WorkerEvent) => void;

/** Runs `job`; always ends with exactly one 'done' or 'error' event, never throws. */
export async function runJob(job: Job, post: Post, signal: AbortSignal): Promise<void> {
  let lib: Library | undefined;
  let result: JobResult;
  try {
    lib = await import('../node.js');
    result =
      job.command === 'generate' ? await generate(lib, job, post, signal)
      : job.command === 'info' ? await info(lib, job, post, signal)
      : job.command === 'eval' ? await evaluate(lib, job, post, signal)
      : await bench(lib, job, post, signal);
  } catch (e) {
    post({ t: 'error', error: serializeError(e, lib, job.load) });
    return;
  }
  post({ t: 'done', result });
}

function serializeError(e: unknown, lib: Library | undefined, load: LoadSpec): SerializedError {
  if (e instanceof UsageError) return { kind: 'usage', message: e.message, stack: e.stack };
  if (lib && e instanceof lib.MambaEdgeError) {
    let message = e.message;
    if (load.model === undefined && e.code === 'E_FILE') {
      message += ` (no --model was given, so the embedded default model in ${lib.defaultModelDir()} was used; this install has none yet: pass --model DIR)`;
    }
    return { kind: 'library', code: e.code, message, stack: e.stack };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return { kind: 'other', message: err.message, stack: err.stack };
}

async function load(lib: Library, spec: LoadSpec, post: Post, signal: AbortSignal): Promise<{ model: Model; loadMs: number }> {
  const t0 = performance.now();
  const model = await lib.loadModel(spec.model, {
    backend: spec.backend,
    ...(spec.dtype !== undefined ? { dtype: spec.dtype } : {}),
    ...(spec.threads !== undefined ? { threads: spec.threads } : {}),
    ...(spec.revision !== undefined ? { revision: spec.revision } : {}),
    // The endpoint may come from $HF_ENDPOINT on any run: it only concerns hf: models.
    ...(spec.endpoint !== undefined && /^hf:/i.test(spec.model ?? '') ? { endpoint: spec.endpoint } : {}),
    ...(spec.cache !== undefined ? { cache: spec.cache } : {}),
    // huggingface_hub's convention: HF_TOKEN authorizes Hub downloads (gated or private repos); sent to hf: sources only.
    ...(/^hf:/i.test(spec.model ?? '') && process.env.HF_TOKEN ? { headers: { authorization: `Bearer ${process.env.HF_TOKEN}` } } : {}),
    signal,
    onProgress: (p) => post({ t: 'load', file: p.file, loaded: p.loaded, total: p.total, ...(p.from ? { from: p.from } : {}) }),
  });
  const loadMs = performance.now() - t0;
  post({ t: 'loaded', ms: loadMs });
  return { model, loadMs };
}

async function generate(lib: Library, job: GenerateJob, post: Post, signal: AbortSignal): Promise<GenerateResult> {
  const { model, loadMs } = await load(lib, job.load, post, signal);
  try {
    const ids = model.tokenizer.encode(job.prompt);
    if (ids.length === 0) throw new UsageError('the prompt encodes to no tokens; give a non-empty prompt');
    const session = model.createSession();
    const result: GenerateResult = {
      finishReason: 'length', promptTokens: ids.length, completionTokens: 0, loadMs, prefillMs: 0, decodeMs: 0, backend: model.backend,
    };
    let t0 = performance.now();
    post({ t: 'prefill', done: 0, total: ids.length });
    try {
      // Prefill on its own (same state and logits as generate(prompt) would reach) so progress can be shown.
      await session.prefill(ids, { signal, onProgress: (p) => post({ t: 'prefill', done: p.done, total: p.total }) });
    } catch (e) {
      if (e instanceof lib.MambaEdgeError && e.code === 'E_ABORTED') return { ...result, finishReason: 'abort', prefillMs: performance.now() - t0 };
      throw e;
    }
    result.prefillMs = performance.now() - t0;
    t0 = performance.now();
    const generation = session.generate([], {
      maxTokens: job.maxTokens, temperature: job.temperature, topK: job.topK, topP: job.topP,
      ...(job.seed !== undefined ? { seed: job.seed } : {}),
      stop: job.stop, ignoreEos: job.ignoreEos, signal,
    });
    post({ t: 'decoding' });
    try {
      for await (const { text } of generation) if (text) post({ t: 'text', text });
    } catch (e) {
      if (!(e instanceof lib.MambaEdgeError && e.code === 'E_ABORTED')) throw e;
    }
    const finished = await generation.finished;
    return { ...result, finishReason: finished.finishReason, completionTokens: finished.completionTokens, decodeMs: performance.now() - t0 };
  } finally {
    await model.dispose();
  }
}

async function info(lib: Library, job: InfoJob, post: Post, signal: AbortSignal): Promise<InfoResult> {
  const { model, loadMs } = await load(lib, job.load, post, signal);
  try {
    const c = model.config;
    const i = model.info;
    const b = model.backendInfo;
    return {
      source: job.load.model ?? lib.defaultModelDir(),
      architecture: i.architecture,
      parameters: i.parameters,
      dtype: i.dtype,
      backend: i.backend,
      threads: b.threads,
      ...(b.device !== undefined ? { device: b.device } : {}),
      ...(b.fallbackReason !== undefined ? { fallbackReason: b.fallbackReason } : {}),
      stateBytes: i.stateBytes,
      kvBytesPerToken: i.kvBytesPerToken,
      context: job.context ?? 4096,
      layers: model.stateAt(job.context ?? 4096).layers,
      weightBytes: i.weightBytes,
      numLayers: c.numLayers,
      hiddenSize: c.hiddenSize,
      intermediateSize: c.intermediateSize,
      stateSize: c.stateSize,
      convKernel: c.convKernel,
      vocabSize: c.vocabSize,
      ...(c.numHeads !== undefined ? { numHeads: c.numHeads } : {}),
      ...(c.headDim !== undefined ? { headDim: c.headDim } : {}),
      ...(c.nGroups !== undefined ? { nGroups: c.nGroups } : {}),
      ...(c.eosTokenId !== undefined ? { eosTokenId: c.eosTokenId } : {}),
      fingerprint: i.fingerprint,
      tokenizer: model.tokenizer.kind,
      warnings: i.warnings,
      loadMs,
      ...(i.fileTensorTypes ? { fileTensorTypes: i.fileTensorTypes } : {}),
    };
  } finally {
    await model.dispose();
  }
}

async function evaluate(lib: Library, job: EvalJob, post: Post, signal: AbortSignal): Promise<EvalResult> {
  const { model, loadMs } = await load(lib, job.load, post, signal);
  try {
    const t0 = performance.now();
    const r = await model.evaluate(job.text, { signal, onProgress: (p) => post({ t: 'eval', done: p.done, total: p.total }) });
    const evalMs = performance.now() - t0;
    return {
      source: job.load.model ?? lib.defaultModelDir(),
      file: job.file,
      fileBytes: job.fileBytes,
      backend: model.backend,
      threads: model.backendInfo.threads,
      dtype: model.info.dtype,
      fingerprint: model.fingerprint,
      tokens: r.tokens,
      predictedTokens: r.predictedTokens,
      predictedBytes: r.predictedBytes,
      nats: r.nats,
      bitsPerByte: r.bitsPerByte,
      perplexity: r.perplexity,
      loadMs,
      evalMs,
      tokensPerSec: (r.tokens * 1000) / evalMs,
    };
  } finally {
    await model.dispose();
  }
}

async function bench(lib: Library, job: BenchJob, post: Post, signal: AbortSignal): Promise<BenchResult> {
  let peakRss = process.memoryUsage().rss;
  const sample = () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); };
  const { model, loadMs } = await load(lib, job.load, post, signal);
  sample();
  try {
    const speed = await measureSpeed(model, {
      promptTokens: job.promptTokens, genTokens: job.genTokens, seed: job.seed, signal, onSample: sample,
      onPrefillProgress: (p) => post({ t: 'prefill', done: p.done, total: p.total }),
    });
    const i = model.info;
    return {
      source: job.load.model ?? lib.defaultModelDir(),
      architecture: i.architecture,
      parameters: i.parameters,
      dtype: i.dtype,
      backend: i.backend,
      threads: model.backendInfo.threads,
      ...(model.backendInfo.fallbackReason !== undefined ? { fallbackReason: model.backendInfo.fallbackReason } : {}),
      stateBytes: i.stateBytes,
      weightBytes: i.weightBytes,
      loadMs,
      // The kernel's high-water mark covers transient peaks inside load that sampling would miss.
      peakRssBytes: Math.max(peakRss, process.resourceUsage().maxRSS * 1024),
      ...speed,
    };
  } finally {
    await model.dispose();
  }
}
