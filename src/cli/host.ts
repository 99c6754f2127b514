/**
 * The CLI's host side: runs a job (jobs.ts) on the main thread or in a worker thread
 * (protocol.ts says which and why), turns its events into stdout text, progress bars and
 * results, and owns the exit status, Ctrl-C and EPIPE.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { INLINE_MAX_WEIGHT_BYTES } from './protocol.js';
import type { Job, JobResult, SerializedError, WorkerEvent, GenerateResult, InfoResult, BenchResult, EvalResult } from './protocol.js';
import { ProgressBars } from './progress.js';
import { isRemoteSource } from '../formats/remote/url.js';
import { humanBytes, humanCount, humanSeconds, rate, table } from './format.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;
export const EXIT_SIGINT = 130;

export interface HostIO {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  /** MAMBA_EDGE_DEBUG=1: print stack traces. */
  debug: boolean;
}

export interface OutputOptions {
  /** info / bench / eval: print JSON instead of text. */
  json?: boolean;
  /** generate: print timing and token counts on stderr at the end. */
  verbose?: boolean;
}

/** How long a job gets to honour an abort (possible only when its backend yields) before the CLI exits without it. */
const ABORT_GRACE_MS = 250;

/** The worker: this same file set (bundled dist/cli.js, or src/cli/main.ts under tsx) started in worker mode. */
function startWorker(job: Job, port: MessagePort): Worker {
  const self = import.meta.url;
  const workerData = { mambaEdgeCli: true, job, port };
  const options = { workerData, transferList: [port] };
  if (self.endsWith('.ts')) {
    // Running from source under tsx: a worker does not inherit tsx's loader hooks, so register them first.
    const entry = new URL('./main.ts', self).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, { ...options, eval: true });
  }
  return new Worker(new URL(self), options);
}

/** Bytes of the files in a model directory (0 when it cannot be listed: loading will say why). */
function modelDirBytes(dir: string): number {
  try {
    let total = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isFile() || e.isSymbolicLink()) {
        try { total += statSync(join(dir, e.name)).size; } catch { /* a dangling link: loading reports it if it matters */ }
      }
    }
    return total;
  } catch {
    return 0;
  }
}

/**
 * Whether a job runs on the main thread (true) or in a worker thread. The embedded default
 * model and any model directory up to INLINE_MAX_WEIGHT_BYTES run inline;
 * MAMBA_EDGE_CLI_WORKER=1 / =0 forces either way.
 */
export function runsInline(job: Job, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.MAMBA_EDGE_CLI_WORKER;
  if (force === '1') return false;
  if (force === '0') return true;
  if (job.load.model === undefined) return true; // the embedded default model is small
  if (isRemoteSource(job.load.model)) return false; // its size is unknown until downloaded
  return modelDirBytes(job.load.model) <= INLINE_MAX_WEIGHT_BYTES;
}

export function printError(io: HostIO, e: SerializedError): number {
  if (e.kind === 'usage') {
    io.stderr.write(`error: ${e.message}\n(add --help for usage)\n`);
    return EXIT_USAGE;
  }
  if (e.kind === 'library' && e.code === 'E_ABORTED') {
    io.stderr.write('mamba-edge: interrupted\n');
    return EXIT_SIGINT;
  }
  io.stderr.write(e.kind === 'library' ? `mamba-edge: ${e.code}: ${e.message}\n` : `mamba-edge: error: ${e.message}\n`);
  if (io.debug && e.stack) io.stderr.write(`${e.stack}\n`);
  return EXIT_ERROR;
}

/** Where a job runs: its abort switch, and how to stop it when the CLI is done with it. */
interface Runner {
  abort(): void;
  /** Events already sent but not yet handled (worker mode), in order. */
  drain(): WorkerEvent[];
  stop(): void;
}

/** Runs one job; resolves with the process exit status. */
export function execute(job: Job, io: HostIO, out: OutputOptions = {}): Promise<number> {
  const inline = runsInline(job);
  const bars = new ProgressBars(io.stderr);
  let wroteText = false;
  let endsWithNewline = true;
  let settled = false;
  let runner: Runner | undefined;

  return new Promise<number>((resolve) => {
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      bars.stop();
      process.off('SIGINT', onSigint);
      io.stdout.off('error', onStdoutError);
      io.stdout.on('error', () => undefined); // writes made before this point may still report EPIPE
      runner?.stop();
      resolve(code);
    };

    const endLine = () => {
      if (wroteText && !endsWithNewline) io.stdout.write('\n');
      endsWithNewline = true;
    };

    const handle = (e: WorkerEvent) => {
      if (settled) return;
      switch (e.t) {
        case 'load': bars.load(e.file, e.loaded, e.total, e.from); break;
        case 'loaded': bars.stop(); break;
        case 'prefill': bars.prefill(e.done, e.total); break;
        case 'eval': bars.evaluate(e.done, e.total); break;
        case 'decoding':
          // On the main thread, Ctrl-C is handled gracefully only from here on, where the library yields between tokens.
          if (inline) process.on('SIGINT', onSigint);
          break;
        case 'text':
          bars.stop();
          io.stdout.write(e.text);
          wroteText = true;
          endsWithNewline = e.text.endsWith('\n');
          break;
        case 'done':
          bars.stop();
          endLine();
          finish(report(job, e.result, io, out));
          break;
        case 'error':
          bars.stop();
          endLine();
          finish(printError(io, e.error));
          break;
      }
    };

    // Ctrl-C: ask the job to abort; if it cannot answer in time (a synchronous backend in
    // the middle of its math), take what it has already sent, end the line, and stop it.
    let interrupted = false;
    const interrupt = () => {
      if (settled) return;
      for (const ev of runner?.drain() ?? []) {
        if (settled) return;
        if (ev.t === 'text') handle(ev);
        else if (ev.t === 'done' || ev.t === 'error') { handle(ev); return; }
      }
      bars.stop();
      endLine();
      finish(EXIT_SIGINT);
    };
    const onSigint = () => {
      if (interrupted) return interrupt();
      interrupted = true;
      runner?.abort();
      setTimeout(interrupt, ABORT_GRACE_MS).unref();
    };
    if (!inline) process.on('SIGINT', onSigint);

    // `mamba-edge generate ... | head`: the reader went away; stop quietly.
    const onStdoutError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') {
        runner?.abort();
        return finish(EXIT_OK);
      }
      io.stderr.write(`mamba-edge: error: writing to stdout failed: ${err.message}\n`);
      finish(EXIT_ERROR);
    };
    io.stdout.on('error', onStdoutError);

    runner = inline ? runInline(job, handle) : runInWorker(job, handle, () => settled, (code) => {
      bars.stop();
      endLine();
      finish(code);
    }, io);
  });
}

/** The job on this thread; its events go straight to the handler. */
function runInline(job: Job, handle: (e: WorkerEvent) => void): Runner {
  const controller = new AbortController();
  import('./jobs.js').then(
    ({ runJob }) => runJob(job, handle, controller.signal),
    (e: unknown) => handle({ t: 'error', error: { kind: 'other', message: `cannot load the CLI's job runner: ${e instanceof Error ? e.message : String(e)}` } }),
  );
  return {
    abort: () => controller.abort(new Error('interrupted (SIGINT)')),
    drain: () => [],
    // Nothing to stop: the job ends at its next yield once aborted, or with the process.
    stop: () => controller.abort(new Error('the CLI is exiting')),
  };
}

/** The job in a worker thread, its events over a dedicated port. */
function runInWorker(job: Job, handle: (e: WorkerEvent) => void, settled: () => boolean, fail: (code: number) => void, io: HostIO): Runner {
  const { port1, port2 } = new MessageChannel();
  const worker = startWorker(job, port2);
  port1.on('message', handle);
  const drain = () => {
    const events: WorkerEvent[] = [];
    for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) events.push(m.message as WorkerEvent);
    return events;
  };
  worker.on('error', (err) => {
    if (settled()) return;
    fail(printError(io, { kind: 'other', message: `worker failed: ${err.message}`, stack: err.stack }));
  });
  worker.on('exit', (code) => {
    if (settled()) return;
    // The last messages may still be queued on the port.
    for (const ev of drain()) {
      if (settled()) return;
      handle(ev);
    }
    if (!settled()) fail(printError(io, { kind: 'other', message: `the worker exited (code ${code}) before finishing` }));
  });
  return {
    abort: () => port1.postMessage({ t: 'abort' }),
    drain,
    stop: () => {
      port1.close();
      void worker.terminate();
    },
  };
}

function report(job: Job, result: JobResult, io: HostIO, out: OutputOptions): number {
  switch (job.command) {
    case 'generate': {
      const r = result as GenerateResult;
      if (out.verbose) {
        io.stderr.write(
          `[${r.backend}] prompt ${r.promptTokens} tokens in ${humanSeconds(r.prefillMs / 1000)} (${rate((r.promptTokens * 1000) / r.prefillMs)} tokens/s), ` +
            `generated ${r.completionTokens} in ${humanSeconds(r.decodeMs / 1000)} (${rate((r.completionTokens * 1000) / r.decodeMs)} tokens/s), ` +
            `finish: ${r.finishReason}, load ${humanSeconds(r.loadMs / 1000)}\n`,
        );
      }
      return r.finishReason === 'abort' ? EXIT_SIGINT : EXIT_OK;
    }
    case 'info':
      io.stdout.write(out.json ? `${JSON.stringify(result, null, 2)}\n` : formatInfo(result as InfoResult));
      return EXIT_OK;
    case 'bench':
      io.stdout.write(out.json ? `${JSON.stringify(result, null, 2)}\n` : formatBench(result as BenchResult));
      return EXIT_OK;
    case 'eval':
      io.stdout.write(out.json ? `${JSON.stringify(result, null, 2)}\n` : formatEval(result as EvalResult));
      return EXIT_OK;
  }
}

export function formatInfo(r: InfoResult): string {
  const rows: [string, string][] = [
    ['model', r.source],
    ['architecture', r.architecture],
    ['parameters', `${humanCount(r.parameters)} (${r.parameters})`],
    ['dtype', r.dtype],
    ...(r.fileTensorTypes ? [['file tensors', Object.entries(r.fileTensorTypes).map(([t, n]) => `${n} ${t}`).join(', ')] as [string, string]] : []),
    ['backend', `${r.backend} (${r.threads} thread${r.threads === 1 ? '' : 's'}${r.device ? `, ${r.device}` : ''})`],
  ];
  if (r.fallbackReason) rows.push(['fallback', `auto passed over: ${r.fallbackReason}`]);
  const kv = r.kvBytesPerToken ?? 0;
  rows.push(
    ['state', kv > 0
      ? `${humanBytes(r.stateBytes)} fixed + ${humanBytes(kv)} per token of context (KV caches); ${humanBytes(r.stateBytes + kv * (r.context ?? 0))} at ${r.context} tokens`
      : `${humanBytes(r.stateBytes)} (${r.stateBytes} bytes) per session, at any context length`],
    ['weights', `${humanBytes(r.weightBytes)} (${r.weightBytes} bytes)`],
    ['layers', String(r.numLayers)],
    ['hidden size', String(r.hiddenSize)],
    ['inner size', String(r.intermediateSize)],
    ['state size', String(r.stateSize)],
    ['conv kernel', String(r.convKernel)],
  );
  if (r.numHeads !== undefined) rows.push(['heads', `${r.numHeads} × ${r.headDim} (groups ${r.nGroups})`]);
  rows.push(
    ['vocab', String(r.vocabSize)],
    ['eos token', r.eosTokenId === undefined ? 'none' : String(r.eosTokenId)],
    ['tokenizer', r.tokenizer === 'byte' ? 'byte (no tokenizer.json: UTF-8 bytes)' : r.tokenizer],
    ['fingerprint', r.fingerprint],
    ['load time', humanSeconds(r.loadMs / 1000)],
  );
  for (const w of r.warnings) rows.push(['warning', w]);
  const width = Math.max(...rows.map(([k]) => k.length));
  let text = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
  if (r.layers && r.layers.length > 0) {
    const kindWidth = Math.max(4, ...r.layers.map((l) => l.kind.length));
    text += `\nlayer  ${'kind'.padEnd(kindWidth)}  state at ${r.context} tokens\n`;
    for (const l of r.layers) {
      const grows = l.bytesPerToken > 0 ? ` (KV cache, ${humanBytes(l.bytesPerToken)}/token)` : l.stateBytes > 0 ? ' (fixed)' : '';
      text += `${String(l.index).padStart(5)}  ${l.kind.padEnd(kindWidth)}  ${humanBytes(l.bytes)}${grows}\n`;
    }
  }
  return text;
}

export function formatBench(r: BenchResult): string {
  const head = [
    `model    ${r.source} (${r.architecture}, ${humanCount(r.parameters)} parameters, ${r.dtype})`,
    `backend  ${r.backend} (${r.threads} thread${r.threads === 1 ? '' : 's'})${r.fallbackReason ? ` — auto passed over: ${r.fallbackReason}` : ''}`,
    `load     ${humanSeconds(r.loadMs / 1000)}; weights ${humanBytes(r.weightBytes)}; state ${humanBytes(r.stateBytes)}; peak RSS ${humanBytes(r.peakRssBytes)}`,
  ];
  const t = table(
    ['phase', 'tokens', 'time', 'tokens/s'],
    [
      ['prefill', r.promptTokens, humanSeconds(r.prefillMs / 1000), rate(r.prefillTokensPerSec)],
      ['decode', r.genTokens, humanSeconds(r.decodeMs / 1000), rate(r.decodeTokensPerSec)],
    ],
    ['left', 'right', 'right', 'right'],
  );
  return `${head.join('\n')}\n\n${t}\n`;
}

export function formatEval(r: EvalResult): string {
  const rows: [string, string][] = [
    ['model', r.source],
    ['backend', `${r.backend} (${r.threads} thread${r.threads === 1 ? '' : 's'}), ${r.dtype}`],
    ['file', `${r.file} (${r.fileBytes} bytes)`],
    ['tokens', `${r.tokens} (${r.predictedTokens} scored: all but the first, which only gives context)`],
    ['bytes', `${r.predictedBytes} scored (UTF-8 bytes of the scored tokens)`],
    ['bits per byte', r.bitsPerByte.toFixed(4)],
    ['perplexity', `${r.perplexity.toFixed(4)} (per token)`],
    ['time', `${humanSeconds(r.evalMs / 1000)} (${rate(r.tokensPerSec)} tokens/s); load ${humanSeconds(r.loadMs / 1000)}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}
