/**
 * WebGpuBackend.gpuMsOf (bench/webgpu.ts's kernel rows time the GPU with it): the device time of one submission
 * from timestamps written before and after its commands. On the adapter at hand (lavapipe in CI): ten copies take
 * longer than one, a read inside the timed commands (a second submission) is refused with E_ARGUMENT, nothing
 * recorded is 0 ms, and a device made without 'timestamp-query' answers null.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import { requestTimestampQueries } from '../../src/backends/webgpu/device.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import { probeTimestampAdapter } from '../helpers/webgpu.js';

vi.setConfig({ testTimeout: 60_000 });
const { reason, timestamps: adapterTimestamps } = await probeTimestampAdapter('webgpu gpuMsOf tests');

describe.skipIf(reason !== null)('webgpu gpuMsOf', () => {
  const made: WebGpuBackend[] = [];
  const backend = async (timestamps: boolean) => {
    requestTimestampQueries(timestamps);
    try {
      const b = (await createWebGpuBackend({ allowFallback: true })) as WebGpuBackend;
      made.push(b);
      return b;
    } finally {
      requestTimestampQueries(false);
    }
  };
  afterAll(async () => { for (const b of made) await b.dispose(); });

  it.skipIf(!adapterTimestamps)('times the commands it records: ten 16 MiB copies take longer than one', async () => {
    const b = await backend(true);
    const n = 4 << 20;
    const src = b.upload(new Float32Array(n).fill(1.5), [n]);
    const copies = (k: number) => () => { for (let i = 0; i < k; i++) b.free(b.sliceRows(src, 0, n)); };
    await b.gpuMsOf(copies(1)); // warm: pipelines and pooled buffers made
    let one = Infinity, ten = Infinity;
    for (let r = 0; r < 3; r++) {
      one = Math.min(one, (await b.gpuMsOf(copies(1)))!);
      ten = Math.min(ten, (await b.gpuMsOf(copies(10)))!);
    }
    expect(one).toBeGreaterThan(0);
    expect(Number.isFinite(ten)).toBe(true);
    expect(ten).toBeGreaterThan(2 * one);
    expect(await b.gpuMsOf(() => {})).toBe(0); // nothing recorded, nothing submitted
    b.free(src);
  });

  it.skipIf(!adapterTimestamps)('refuses commands that went out in more than one submission (a read inside)', async () => {
    const b = await backend(true);
    const t = b.upload(new Float32Array(8).fill(2), [8]);
    let reading: Promise<Float32Array> | undefined;
    await expect(b.gpuMsOf(() => { b.free(b.sliceRows(t, 0, 8)); reading = b.read(t); })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    expect(Array.from(await reading!)).toEqual(new Array(8).fill(2)); // the read itself completes
    b.free(t);
  });

  it('answers null on a device made without timestamp-query', async () => {
    const b = await backend(false);
    const t = b.upload(new Float32Array(8), [8]);
    expect(await b.gpuMsOf(() => { b.free(b.sliceRows(t, 0, 8)); })).toBeNull();
    b.free(t);
  });
});
