/**
 * How fast a kernel worker's death is seen and repaired (RELIABILITY.md, "Fault injection"): a
 * random 2-layer mamba (d_model 256, vocab 4096) on the wasm backend with 2 threads; `--deaths`
 * times, kernel worker 1 is killed mid-op (the watcher terminates it while it holds inside an op)
 * or crashes mid-op (throws out of its serve loop), alternately. For each death: the ms from the
 * prefill call until it rejected with E_WORKER (the ops before the one that failed included), and
 * from then until the replacement serves (LIVE complete again). Source trees given by --roots
 * alternate, so two checkouts (before / after a change) meet the same machine load.
 *
 *   npx tsx bench/worker-deaths.ts [--roots /work/main,.] [--deaths 10] [--rounds 2]
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const roots = opt('--roots', '.').split(',').map((r) => resolve(r));
const deaths = Number(opt('--deaths', '10'));
const rounds = Number(opt('--rounds', '2'));

interface PoolHooks { liveWorkers: number; killWorkerForTest(t: number, o: { midOp: boolean }): void; crashWorkerForTest(t: number): void }
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(root: string): Promise<{ fail: number[]; serve: number[] }> {
  const { loadModel } = await import(pathToFileURL(`${root}/src/node.ts`).href);
  const { randomModelFiles } = await import(pathToFileURL(`${root}/tools/random-model.ts`).href);
  const m = await loadModel(randomModelFiles({ modelType: 'mamba', vocabSize: 4096, hiddenSize: 256, numLayers: 2, stateSize: 8, seed: 7 }), { backend: 'wasm', threads: 2 });
  const pool = (m as { parts: { backend: { exec: PoolHooks } } }).parts.backend.exec;
  const ids = Array.from({ length: 300 }, (_, i) => (i * 37) % 4096);
  const fail: number[] = [];
  const serve: number[] = [];
  for (let i = 0; i < deaths; i++) {
    while (pool.liveWorkers < 1) await tick(1);
    if (i % 2) pool.crashWorkerForTest(1); else pool.killWorkerForTest(1, { midOp: true });
    const t0 = performance.now();
    const err = await m.createSession().prefill(ids).catch((e: { code?: string }) => e);
    const t1 = performance.now();
    if (err?.code !== 'E_WORKER') throw new Error(`${root}: death ${i} gave ${err?.code ?? 'no error'}, not E_WORKER`);
    while (pool.liveWorkers < 1) await tick(0);
    fail.push(t1 - t0);
    serve.push(performance.now() - t1);
  }
  await m.dispose();
  return { fail, serve };
}

const range = (a: number[]) => {
  const b = [...a].sort((x, y) => x - y);
  const mid = b.length % 2 ? b[b.length >> 1] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2;
  return `${b[0].toFixed(1)}–${b.at(-1)!.toFixed(1)} ms (median ${mid.toFixed(1)})`;
};

console.log(`# worker deaths: ${deaths} per run, kill/crash alternating, 2 threads; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (let r = 0; r < rounds; r++) {
  for (const root of roots) {
    const { fail, serve } = await measure(root);
    console.log(`${root} | call failed after ${range(fail)} | replacement serving ${range(serve)} later`);
  }
}
