/**
 * `mamba-edge` — the command-line entry. The same file is also the CLI's worker
 * (started by host.ts with workerData.mambaEdgeCli), which runs the model.
 */
import { isMainThread, workerData, type MessagePort } from 'node:worker_threads';
import type { Job } from './protocol.js';

interface CliWorkerData { mambaEdgeCli: true; job: Job; port: MessagePort }

const data = (isMainThread ? undefined : workerData) as CliWorkerData | undefined;
if (data?.mambaEdgeCli) {
  const { runWorkerJob } = await import('./worker.js');
  await runWorkerJob(data.job, data.port);
} else {
  const { runCli } = await import('./program.js');
  process.exitCode = await runCli(process.argv, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    debug: process.env.MAMBA_EDGE_DEBUG === '1',
  });
}
