/**
 * The host's memory read bandwidth: one pass over a buffer much larger than the caches
 * (512 MiB per thread vs a 32 MiB L3 here), best of a few passes. The pass is native code
 * (Buffer#indexOf of a byte that is absent = glibc memchr, vectorized), so it measures what
 * the machine streams, not what a language gets from it. With `threads` > 1 each
 * worker_thread scans its own buffer at the same time and the bytes are summed.
 *
 *   node --import tsx bench/bandwidth.ts [--threads 1,2] [--mib 512] [--json]
 */
import { Worker } from 'node:worker_threads';

export interface Bandwidth { threads: number; bytesPerSec: number; bufferBytes: number }

const SCAN = `
const { parentPort, workerData } = require('node:worker_threads');
const buf = Buffer.alloc(workerData.bytes, 0); // zero-filled, and touched so it is resident
for (let i = 0; i < buf.length; i += 4096) buf[i] = 1;
buf.fill(0);
parentPort.on('message', (m) => {
  if (m === 'quit') { process.exit(0); }
  const t0 = performance.now();
  const at = buf.indexOf(0xab);
  const ms = performance.now() - t0;
  parentPort.postMessage({ ms, at });
});
parentPort.postMessage('ready');
`;

export async function measureBandwidth(threads: number, bytes = 512 * 1024 * 1024, passes = 5): Promise<Bandwidth> {
  const workers = Array.from({ length: threads }, () => new Worker(SCAN, { eval: true, workerData: { bytes } }));
  const next = (w: Worker) => new Promise<unknown>((r) => w.once('message', r));
  await Promise.all(workers.map(next));
  let best = 0;
  for (let p = 0; p < passes; p++) {
    const t0 = performance.now();
    const results = workers.map(next);
    for (const w of workers) w.postMessage('go');
    await Promise.all(results);
    const ms = performance.now() - t0; // wall time of the slowest thread's pass
    best = Math.max(best, (threads * bytes) / (ms / 1000));
  }
  for (const w of workers) w.postMessage('quit');
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  return { threads, bytesPerSec: best, bufferBytes: bytes };
}

if (process.argv[1]?.endsWith('bandwidth.ts')) {
  const i = process.argv.indexOf('--threads');
  const list = (i > 0 ? process.argv[i + 1] : '1,2').split(',').map(Number);
  const j = process.argv.indexOf('--mib');
  const mib = j > 0 ? Number(process.argv[j + 1]) : 512;
  (async () => {
    const out: Bandwidth[] = [];
    for (const t of list) out.push(await measureBandwidth(t, mib * 1024 * 1024));
    if (process.argv.includes('--json')) console.log(JSON.stringify(out));
    else for (const b of out) console.log(`${b.threads} thread${b.threads > 1 ? 's' : ''}: ${(b.bytesPerSec / 1e9).toFixed(1)} GB/s (one pass over ${b.bufferBytes / 2 ** 20} MiB per thread, best of 5)`);
  })().catch((e) => { console.error(e); process.exit(1); });
}
