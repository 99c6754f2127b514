/**
 * workers/supervisor.ts on real worker_threads (the Node watcher's spawner), for the paths the
 * pool-level tests (worker-fault.test.ts, test/browser/pool-fault.test.ts) cannot reach with the
 * real kernel worker bundle: a kernel worker that dies before it answers init. The pool must then
 * fail to start with the reason (not hang until START_MS), mark the pool broken in the control
 * block (GAVE_UP), report it once, and leave no thread behind.
 */
import { describe, expect, it } from 'vitest';
import { clearControlBlock, controlBlock } from '../../workers/barrier.js';
import { GAVE_UP, LIVE } from '../../workers/protocol.js';
import { KernelSupervisor, type SupervisorReports } from '../../workers/supervisor.js';
import { nodeSpawner } from '../../workers/watcher.js';
import { KERNEL_WORKER_SOURCE } from '../../src/backends/wasm/worker.generated.js';

const EMPTY_MODULE = new WebAssembly.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
const threadHandles = () => process.getActiveResourcesInfo().filter((r) => /Worker|MessagePort/.test(r)).length;

function setup(threads: number, modules: unknown = { as: EMPTY_MODULE, c: EMPTY_MODULE }) {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  clearControlBlock(memory, 0);
  const reports: string[] = [];
  const log: SupervisorReports = {
    ready: (t, restart) => { reports.push(`ready ${t} ${restart}`); },
    died: (t, reason) => { reports.push(`died ${t}: ${reason}`); },
    gaveUp: (t, reason) => { reports.push(`gave up ${t}: ${reason}`); },
  };
  const init = { memory, modules: modules as { as: WebAssembly.Module; c: WebAssembly.Module }, threads, controlBase: 0 };
  return { ctl: controlBlock(memory, 0), reports, init, log };
}

describe('KernelSupervisor (Node threads): a kernel worker that dies before it started', () => {
  for (const [what, source, why] of [
    ['exits', 'process.exit(3)', /kernel worker 1 did not start: exited with code 3/],
    ['throws', 'throw new Error("no kernels here")', /kernel worker 1 did not start: crashed \(no kernels here\)/],
  ] as const) {
    it(`(${what}) fails startAll with the reason at once, sets GAVE_UP, reports it, leaves no thread`, async () => {
      const handles = threadHandles();
      const { ctl, reports, init, log } = setup(2);
      const sup = new KernelSupervisor(nodeSpawner(source), init, log);
      const t0 = Date.now();
      const err = await sup.startAll().catch((e: Error) => e);
      expect(Date.now() - t0).toBeLessThan(10_000); // not the 30 s START_MS
      expect((err as Error).message).toMatch(why);
      expect(Atomics.load(ctl, GAVE_UP)).toBe(2);
      expect(Atomics.load(ctl, LIVE)).toBe(0);
      expect(reports).toEqual([expect.stringMatching(new RegExp(`^gave up 1: ${why.source}`))]);
      await sup.quit(0);
      expect(threadHandles()).toBeLessThanOrEqual(handles);
    }, 30_000);
  }

  it('(its init throws: the real kernel worker given no kernels) fails startAll with the init error; each worker gave up; no thread is left', async () => {
    const handles = threadHandles();
    const { ctl, reports, init, log } = setup(3, { as: 1, c: 2 });
    const sup = new KernelSupervisor(nodeSpawner(KERNEL_WORKER_SOURCE), init, log);
    const err = await sup.startAll().catch((e: Error) => e);
    expect((err as Error).message).toMatch(/kernel worker [12] did not start: its init threw \(.+\)/);
    expect(Atomics.load(ctl, GAVE_UP)).toBeGreaterThan(0);
    expect(Atomics.load(ctl, LIVE)).toBe(0);
    await sup.quit(0);
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.filter((r) => /^gave up [12]: kernel worker [12] did not start: its init threw/.test(r))).toHaveLength(reports.length);
    expect(threadHandles()).toBeLessThanOrEqual(handles);
  }, 30_000);
});
