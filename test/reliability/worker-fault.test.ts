/**
 * A kernel worker killed in the middle of a long prefill (worker.terminate() on a pool worker
 * while the prompt's chunks run): the call fails with E_BACKEND within the stall bound instead
 * of hanging, the model then refuses every call at once saying it must be reloaded, the session
 * refuses to continue from a half-updated state, and dispose completes.
 */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/node.js';
import type { Worker } from 'node:worker_threads';
import { randomModelFiles } from '../../tools/random-model.js';

interface PoolHooks { workerForTest(i?: number): Worker; setStallMsForTest(ms: number): void; threads: number }
const poolOf = (m: unknown) => (m as { parts: { backend: { exec: PoolHooks } } }).parts.backend.exec;

// Wide enough that every matmul is split across the threads (work ≥ MIN_SHARED_WORK).
const files = () => randomModelFiles({ modelType: 'mamba', vocabSize: 4096, hiddenSize: 256, numLayers: 2, stateSize: 8, seed: 7 });
const STALL_MS = 2000;

describe('a kernel worker killed mid-prefill', () => {
  for (const when of ['from onProgress, after the first chunk', 'from a timer, at whatever point the prefill has reached']) {
    it(`(${when}) fails the call with E_BACKEND, leaves the model clearly unusable, disposes`, async () => {
      const m = await loadModel(files(), { backend: 'wasm', threads: 2 });
      const pool = poolOf(m);
      expect(pool.threads).toBe(2);
      pool.setStallMsForTest(STALL_MS);
      const s = m.createSession();
      const ids = Array.from({ length: 1024 }, (_, i) => (i * 37) % 4096); // 4 prefill chunks
      let killedAt = -1;
      const kill = () => { void pool.workerForTest(0).terminate(); };
      if (when.startsWith('from a timer')) setTimeout(() => { killedAt = 0; kill(); }, 15);
      const t0 = Date.now();
      const err = await s.prefill(ids, {
        onProgress: (p) => { if (killedAt < 0) { killedAt = p.done; kill(); } },
      }).catch((e) => e);
      const took = Date.now() - t0;
      expect(killedAt).toBeGreaterThanOrEqual(0);
      expect(err?.code).toBe('E_BACKEND');
      // Either the exit event arrived before the next op (fails at once) or the op went to the dead
      // worker and waited out the stall bound: a worker's death cannot be seen while this thread waits.
      expect(err.message).toMatch(/kernel worker 1 exited|did not finish .* within 2 s/);
      expect(took).toBeLessThan(STALL_MS * 4 + 10_000);

      // Every later call fails fast, saying what to do.
      const t1 = Date.now();
      const again = await m.forward([[1, 2, 3]]).catch((e) => e);
      expect(again.code).toBe('E_BACKEND');
      expect(again.message).toMatch(/broken.*dispose the model and load it again/);
      const next = await s.prefill([1, 2]).catch((e) => e);
      expect(['E_BACKEND', 'E_STATE']).toContain(next.code);
      expect(Date.now() - t1).toBeLessThan(1000);

      const t2 = Date.now();
      await m.dispose();
      expect(Date.now() - t2).toBeLessThan(5000);
    }, 60_000);
  }
});
