/**
 * scanMode 'states' (selective_scan_states.wgsl: the Mamba-1 prefill scan in one pass over T, a lane per
 * (channel, state entry), 32-step tiles walked 16 steps at a time) against the reference backend: y and
 * the final state, from a nonzero starting state. T around the kernel's 16-step sub-tiles and 32-step
 * tiles (2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 1000); I not a multiple of the workgroup's 8 channels (13, 300:
 * a last block partly empty) and multiples of it; N = 16 (the checkpoints'), 8, 5 and 1 (lanes n ≥ N idle);
 * batch 1 and 2. Also: N > 16 under 'states' runs the chunked kernels and still agrees; the mode is
 * selectable through MAMBA_EDGE_WEBGPU_SCAN.
 *
 * Tolerance 1e-4 relative to max(1, |value|), as webgpu.test.ts's scan cases: f32 against the reference's
 * f64 and WGSL's exp2 (≤ 3 + 2·|x| ulp). This kernel keeps the sequential order of the recurrence (no
 * chunk reordering); only the sum over n is reassociated (4 × 4 partial sums).
 * Adapter policy as webgpu.test.ts (lavapipe on CI; CI=true without an adapter fails).
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import type { Backend } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { expectClose } from './op-suite.js';
import { rand, rng } from '../helpers/sequences.js';
import { adapterMissing } from '../helpers/webgpu.js';

const created = await createWebGpuBackend({ allowFallback: true, scan: 'states' });
const reason = adapterMissing('webgpu scan-states tests', created);
const gpu = (reason ? null : created) as WebGpuBackend | null;
const TOL = 1e-4;
vi.setConfig({ testTimeout: 120_000 });

if (gpu) {
  const ref = new ReferenceBackend();
  afterAll(async () => { await gpu.dispose(); });

  /** One scan on `b` from `d`: [y, final state]. */
  const scanOn = async (b: Backend, d: Record<string, Float32Array>, Bt: number, T: number, I: number, N: number) => {
    const state = b.upload(d.h0, [Bt, I, N]);
    const args = {
      x: b.upload(d.x, [Bt, T, I]), dt: b.upload(d.dt, [Bt, T, I]), z: b.upload(d.z, [Bt, T, I]), B: b.upload(d.B, [Bt, T, N]), C: b.upload(d.C, [Bt, T, N]),
      dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), D: b.upload(d.D, [I]), state,
    };
    const before = gpu.stats.dispatches;
    const y = b.selectiveScan(args);
    const out: [Float32Array, Float32Array] = [await b.read(y), await b.read(state)];
    b.free(y, ...Object.values(args));
    // one dispatch (selective_scan_states) for N ≤ 16 and T > 1; the chunked kernels' three otherwise
    if (b === gpu && T > 1) expect(gpu.stats.dispatches - before).toBe(N <= 16 ? 1 : 3);
    return out;
  };
  const inputs = (Bt: number, T: number, I: number, N: number) => {
    const r = rng(T * 31 + I * 7 + N + Bt);
    return {
      x: rand(Bt * T * I, r), dt: rand(Bt * T * I, r, 2), dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -Math.abs(v) - 0.1),
      B: rand(Bt * T * N, r), C: rand(Bt * T * N, r), D: rand(I, r), z: rand(Bt * T * I, r), h0: rand(Bt * I * N, r),
    };
  };

  describe(`webgpu scanMode 'states' on ${gpu.info.device}`, () => {
    it('is the mode asked for', () => { expect(gpu.scanMode).toBe('states'); });

    // [T, I, N, batch]
    const cases: [number, number, number, number][] = [
      ...[2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 1000].map((T) => [T, 13, 16, 2] as [number, number, number, number]),
      ...[2, 17, 65, 1000].map((T) => [T, 300, 16, 1] as [number, number, number, number]),
      [64, 16, 16, 2], [127, 24, 16, 1], [1000, 64, 16, 2],
      [65, 13, 5, 2], [1000, 300, 5, 1], [127, 8, 5, 1],
      [16, 13, 8, 1], [129, 40, 8, 2], [1000, 13, 8, 2],
      [2, 13, 1, 2], [63, 300, 1, 1], [1000, 8, 1, 2],
    ];
    for (const [T, I, N, Bt] of cases) {
      it(`selectiveScan T=${T}, I=${I}, N=${N}, batch ${Bt}: y and final state vs reference`, async () => {
        const d = inputs(Bt, T, I, N);
        const [got, want] = [await scanOn(gpu, d, Bt, T, I, N), await scanOn(ref, d, Bt, T, I, N)];
        expectClose(got[0], want[0], TOL, 'y');
        expectClose(got[1], want[1], TOL, 'state');
      });
    }

    it('two scans in a row carry the state (the second starts from the first one\'s end)', async () => {
      const [Bt, T, I, N] = [2, 100, 19, 16];
      const d = inputs(Bt, T, I, N);
      const half = (v: Float32Array, k: number, per: number) => {
        const out = new Float32Array(Bt * 50 * per);
        for (let b = 0; b < Bt; b++) out.set(v.subarray((b * T + k * 50) * per, (b * T + k * 50 + 50) * per), b * 50 * per);
        return out;
      };
      const run = async (b: Backend) => {
        const state = b.upload(d.h0, [Bt, I, N]);
        const consts = { dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), D: b.upload(d.D, [I]) };
        const ys: Float32Array[] = [];
        for (const k of [0, 1]) {
          ys.push(await b.read(b.selectiveScan({
            x: b.upload(half(d.x, k, I), [Bt, 50, I]), dt: b.upload(half(d.dt, k, I), [Bt, 50, I]), z: b.upload(half(d.z, k, I), [Bt, 50, I]),
            B: b.upload(half(d.B, k, N), [Bt, 50, N]), C: b.upload(half(d.C, k, N), [Bt, 50, N]), ...consts, state,
          })));
        }
        return [...ys, await b.read(state)];
      };
      const [got, want] = [await run(gpu), await run(ref)];
      for (let k = 0; k < 3; k++) expectClose(got[k], want[k], TOL, ['y (first half)', 'y (second half)', 'state'][k]);
    });

    it('N > 16 runs the chunked kernels under \'states\' and agrees with the reference', async () => {
      const [Bt, T, I, N] = [1, 70, 13, 17];
      const d = inputs(Bt, T, I, N);
      const [got, want] = [await scanOn(gpu, d, Bt, T, I, N), await scanOn(ref, d, Bt, T, I, N)];
      expectClose(got[0], want[0], TOL, 'y');
      expectClose(got[1], want[1], TOL, 'state');
    });

    it('MAMBA_EDGE_WEBGPU_SCAN=states selects it', async () => {
      const was = process.env.MAMBA_EDGE_WEBGPU_SCAN;
      try {
        process.env.MAMBA_EDGE_WEBGPU_SCAN = 'states';
        const b = await createWebGpuBackend({ allowFallback: true }) as WebGpuBackend;
        expect(b.scanMode).toBe('states');
        await b.dispose();
      } finally { if (was === undefined) delete process.env.MAMBA_EDGE_WEBGPU_SCAN; else process.env.MAMBA_EDGE_WEBGPU_SCAN = was; }
    });
  });
}
