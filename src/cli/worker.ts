/**
 * The CLI's worker side: runs one job (jobs.ts) and streams its events to the host over
 * the job's MessagePort. See protocol.ts for when the CLI uses a worker thread at all.
 */
import type { MessagePort } from 'node:worker_threads';
import { runJob } from './jobs.js';
import type { HostMessage, Job, WorkerEvent } from './protocol.js';

export async function runWorkerJob(job: Job, port: MessagePort): Promise<void> {
  const controller = new AbortController();
  port.on('message', (m: HostMessage) => {
    if (m.t === 'abort') controller.abort(new Error('interrupted (SIGINT)'));
  });
  try {
    await runJob(job, (e: WorkerEvent) => port.postMessage(e), controller.signal);
  } finally {
    port.close();
  }
}
