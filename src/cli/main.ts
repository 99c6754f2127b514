/**
 * `mamba-edge` — the command-line entry. The same file is also the CLI's worker
 * (started by host.ts with workerData.mambaEdgeCli), which runs the model for large models.
 * Everything beyond node:worker_threads is imported on demand, so neither side loads
 * what it does not use (the worker never loads commander; nobody loads cli-progress
 * unless a progress bar is drawn).
 */
import { isMainThread, workerData, type MessagePort } from 'node:worker_threads';
import type { Job } from './protocol.js';

interface CliWorkerData { mambaEdgeCli: true; job: Job; port: MessagePort }

/** Resolves once everything written to the stream so far has been handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) return resolve();
    stream.write('', () => resolve());
  });
}

const data = (isMainThread ? undefined : workerData) as CliWorkerData | undefined;
if (data?.mambaEdgeCli) {
  const { runWorkerJob } = await import('./worker.js');
  await runWorkerJob(data.job, data.port);
} else {
  const { runCli } = await import('./program.js');
  const code = await runCli(process.argv, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    debug: process.env.MAMBA_EDGE_DEBUG === '1',
  });
  // Exit now rather than when the event loop drains: a job on the main thread may still be
  // winding down (an interrupted generation, a backend's thread pool), and the answer is given.
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
