/**
 * The CLI runs the model in a worker thread and keeps the main thread for the terminal:
 * stdout, progress bars and Ctrl-C. A backend that computes synchronously (the reference
 * backend) never hands the event loop back during a generate call, so a SIGINT handler on
 * the thread doing the math would only run after the generation ended; on its own thread
 * the handler runs at once, prints what was produced, and stops the worker.
 *
 * Protocol (one job per worker, over a dedicated MessagePort so the host can drain it
 * synchronously with receiveMessageOnPort when it must exit):
 *   host → worker  workerData: { mambaEdgeCli: true, job }, transfer: [port]
 *                  port: { t: 'abort' }              — abort through the job's AbortController
 *   worker → host  { t: 'load', file, loaded, total } — weight files being read
 *                  { t: 'loaded', ms }                — model ready
 *                  { t: 'prefill', done, total }      — prompt tokens processed
 *                  { t: 'text', text }                — generated text, in order
 *                  { t: 'done', result }              — the job's result; last message
 *                  { t: 'error', error }              — the job failed; last message
 */
import type { BackendChoice, LoadDType } from '../api/types.js';
import type { SpeedResult } from './measure.js';

export interface LoadSpec {
  /** Model directory; undefined = the embedded default model. */
  model?: string;
  backend: BackendChoice;
  dtype: LoadDType;
  threads?: number;
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
}

export interface BenchJob {
  command: 'bench';
  load: LoadSpec;
  promptTokens: number;
  genTokens: number;
  seed: number;
}

export type Job = GenerateJob | InfoJob | BenchJob;

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

export interface SerializedError {
  /** 'usage' for CLI input errors (exit 2), 'library' for MambaEdgeError, 'other' otherwise. */
  kind: 'usage' | 'library' | 'other';
  code?: string;
  message: string;
  stack?: string;
}

export type WorkerEvent =
  | { t: 'load'; file: string; loaded: number; total: number }
  | { t: 'loaded'; ms: number }
  | { t: 'prefill'; done: number; total: number }
  | { t: 'text'; text: string }
  | { t: 'done'; result: GenerateResult | InfoResult | BenchResult }
  | { t: 'error'; error: SerializedError };

export type HostMessage = { t: 'abort' };
