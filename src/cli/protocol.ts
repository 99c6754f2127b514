/**
 * Where the CLI runs the model, and the events a job reports.
 *
 * Small models (weights up to INLINE_MAX_WEIGHT_BYTES, the embedded default model
 * included) run on the main thread: no worker to start, so the first token comes sooner
 * (a worker thread costs 60-90 ms on a 2-core machine before it runs a line). Every op is
 * then short, and the library yields to the event loop between tokens, so Ctrl-C is
 * handled gracefully while tokens stream; during loading, prefill and `eval` no SIGINT
 * handler is installed and Ctrl-C ends the process at once (status 130 in the shell).
 *
 * Larger models run in a worker thread and keep the main thread for the terminal: stdout,
 * progress bars and Ctrl-C. A backend that computes synchronously (the reference backend)
 * holds its thread for a whole prefill chunk or decode step, which on a big model takes
 * seconds; on its own thread the SIGINT handler runs at once, prints what was produced,
 * and stops the worker. MAMBA_EDGE_CLI_WORKER=1 forces the worker, =0 the main thread.
 *
 * Worker protocol (one job per worker, over a dedicated MessagePort so the host can drain
 * it synchronously with receiveMessageOnPort when it must exit):
 *   host → worker  workerData: { mambaEdgeCli: true, job }, transfer: [port]
 *                  port: { t: 'abort' }              — abort through the job's AbortController
 *   worker → host  { t: 'load', file, loaded, total, from? } — weight files being read (from: 'network' while downloading)
 *                  { t: 'loaded', ms }                — model ready
 *                  { t: 'prefill', done, total }      — prompt tokens processed
 *                  { t: 'decoding' }                  — generation started (yields between tokens)
 *                  { t: 'text', text }                — generated text, in order
 *                  { t: 'eval', done, total }         — eval: tokens scored
 *                  { t: 'done', result }              — the job's result; last message
 *                  { t: 'error', error }              — the job failed; last message
 * On the main thread the same events go straight to the host's handler.
 */
import type { BackendChoice, LoadDType } from '../api/types.js';
import type { SpeedResult } from './measure.js';

export interface LoadSpec {
  /** Model directory, http(s) URL or hf:owner/name; undefined = the embedded default model. */
  model?: string;
  backend: BackendChoice;
  /** Undefined: f32, or a GGUF file's own type (loadModel's default). */
  dtype?: LoadDType;
  threads?: number;
  /** Remote models: LoadOptions of the same names. */
  revision?: string;
  endpoint?: string;
  cache?: string | false;
}

export interface GenerateJob {
  command: 'generate';
  load: LoadSpec;
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed?: number;
  stop: string[];
  ignoreEos: boolean;
}

export interface InfoJob {
  command: 'info';
  load: LoadSpec;
  /** Context length at which to report per-layer state bytes (default 4096). */
  context?: number;
}

export interface BenchJob {
  command: 'bench';
  load: LoadSpec;
  promptTokens: number;
  genTokens: number;
  seed: number;
}

export interface EvalJob {
  command: 'eval';
  load: LoadSpec;
  /** The file as given on the command line (for the report). */
  file: string;
  fileBytes: number;
  text: string;
}

export type Job = GenerateJob | InfoJob | BenchJob | EvalJob;

/** Weight files (bytes on disk) up to this size run on the main thread; see the top of this file. */
export const INLINE_MAX_WEIGHT_BYTES = 64 * 1024 * 1024;

export interface GenerateResult {
  finishReason: 'eos' | 'stop' | 'length' | 'abort';
  promptTokens: number;
  completionTokens: number;
  loadMs: number;
  prefillMs: number;
  decodeMs: number;
  backend: string;
}

export interface InfoResult {
  source: string;
  architecture: string;
  parameters: number;
  dtype: string;
  backend: string;
  threads: number;
  device?: string;
  fallbackReason?: string;
  stateBytes: number;
  weightBytes: number;
  numLayers: number;
  hiddenSize: number;
  intermediateSize: number;
  stateSize: number;
  convKernel: number;
  vocabSize: number;
  numHeads?: number;
  headDim?: number;
  nGroups?: number;
  eosTokenId?: number;
  fingerprint: string;
  tokenizer: string;
  warnings: string[];
  loadMs: number;
  /** GGUF files: tensor count per ggml type as stored. */
  fileTensorTypes?: Record<string, number>;
  /** KV-cache bytes per token of context (0 for pure SSM models). */
  kvBytesPerToken?: number;
  /** Per-layer state at `context` tokens. */
  context?: number;
  layers?: { index: number; kind: string; stateBytes: number; bytesPerToken: number; bytes: number }[];
}

export interface BenchResult extends SpeedResult {
  source: string;
  architecture: string;
  parameters: number;
  dtype: string;
  backend: string;
  threads: number;
  fallbackReason?: string;
  stateBytes: number;
  weightBytes: number;
  loadMs: number;
  peakRssBytes: number;
}

export interface EvalResult {
  source: string;
  file: string;
  fileBytes: number;
  backend: string;
  threads: number;
  dtype: string;
  fingerprint: string;
  tokens: number;
  predictedTokens: number;
  predictedBytes: number;
  nats: number;
  bitsPerByte: number;
  perplexity: number;
  loadMs: number;
  evalMs: number;
  tokensPerSec: number;
}

export type JobResult = GenerateResult | InfoResult | BenchResult | EvalResult;

export interface SerializedError {
  /** 'usage' for CLI input errors (exit 2), 'library' for MambaEdgeError, 'other' otherwise. */
  kind: 'usage' | 'library' | 'other';
  code?: string;
  message: string;
  stack?: string;
}

export type WorkerEvent =
  | { t: 'load'; file: string; loaded: number; total: number; from?: 'network' | 'cache' }
  | { t: 'loaded'; ms: number }
  | { t: 'prefill'; done: number; total: number }
  | { t: 'decoding' }
  | { t: 'text'; text: string }
  | { t: 'eval'; done: number; total: number }
  | { t: 'done'; result: JobResult }
  | { t: 'error'; error: SerializedError };

export type HostMessage = { t: 'abort' };
