/**
 * Runs inside a dedicated worker in headless Chromium (test/browser/pool-fault.test.ts bundles it):
 * the library's wasm backend on 2 threads, i.e. the Web Worker pool (workers/browser/pool.ts), with
 * kernel worker 1 made to throw out of its serve loop in the middle of an op (the path a JS heap
 * out-of-memory takes in a browser worker). Posts what happened back to the page.
 */
import { loadModel } from '../../src/index.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { FAULT_THROW } from '../../workers/protocol.js';

interface PoolHooks { threads: number; liveWorkers: number; events: string[]; barrier: { injectFault(t: number, mode: number): void } }

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

async function run() {
  // Wide enough that every matmul is split across the threads (work ≥ MIN_SHARED_WORK).
  const files = randomModelFiles({ modelType: 'mamba', vocabSize: 4096, hiddenSize: 256, numLayers: 2, stateSize: 8, seed: 7 });
  const m = await loadModel(files, { backend: 'wasm', threads: 2 });
  const pool = (m as unknown as { parts: { backend: { exec: PoolHooks } } }).parts.backend.exec;
  const ids = Array.from({ length: 300 }, (_, i) => (i * 37) % 4096);
  const ref = await m.createSession().prefill(ids);

  const s = m.createSession();
  pool.barrier.injectFault(1, FAULT_THROW);
  const t0 = performance.now();
  const err = await s.prefill(ids).catch((e) => e);
  const failMs = performance.now() - t0;
  const next = await s.prefill([1, 2]).catch((e) => e);
  const sameAtOnce = same(await m.createSession().prefill(ids), ref);
  const t1 = performance.now();
  while (pool.liveWorkers < 1 || pool.events.length < 2) {
    if (performance.now() - t1 > 20_000) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const sameAfter = same(await m.createSession().prefill(ids), ref);
  const events = [...pool.events];
  await m.dispose();
  return {
    threads: pool.threads, failMs, code: err?.code, worker: err?.worker, op: err?.op, message: String(err?.message),
    nextCode: next?.code, sameAtOnce, liveAfter: pool.liveWorkers, sameAfter, events,
  };
}

run().then((r) => postMessage(r), (e) => postMessage({ fatal: `${e?.code ?? ''} ${e?.message ?? e}` }));
