/**
 * Abort signals at random points of load, prefill and generate (test/reliability/abort-child.mts,
 * in a child process): aborted calls are E_ABORTED and change nothing (prefill) or leave exactly what
 * a shorter generate leaves; the session stays usable; a long-lived signal collects no listeners; and
 * after dispose the process exits on its own, promptly — no worker, timer or handle left running.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const child = fileURLToPath(new URL('./abort-child.mts', import.meta.url));

describe.each([[1, 2], [2, 1]])('abort signals at random points (seed %i, %i thread(s))', (seed, threads) => {
  it('every aborted call is clean and the process exits by itself after dispose', () => {
    const started = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', child, String(seed), String(threads)], { encoding: 'utf8', timeout: 150_000 });
    const exited = Date.now();
    expect(r.error, 'the child did not exit by itself within the timeout (something kept it alive)').toBeUndefined();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.problems).toEqual([]);
    // Nothing left that keeps the process alive once the model is disposed.
    expect(out.resources).toEqual([]);
    expect(exited - out.disposedAt).toBeLessThan(5_000);
    // The random points reached every phase.
    expect(out.tally['prefill aborted']).toBeGreaterThan(0);
    expect(out.tally['generate aborted after tokens'] ?? 0).toBeGreaterThan(0);
    expect(exited - started).toBeLessThan(150_000);
  }, 160_000);
});
