/**
 * scanMode 'subgroup' (selective_scan_subgroup.wgsl: the one-pass Mamba-1 prefill scan, a subgroup per
 * channel) against the reference backend's selectiveScan at odd sizes (T = 1, 2, 31, 127, 257, 1000 —
 * around and across the S·8-step tiles of any subgroup size S; I = 1, 5, 37, 64 — partial workgroups;
 * N = 1, 5, 16 — partial state quads), batch 2, the state carried in and out; and a transformers golden
 * model (m1-long) generating with the mode forced: its greedy tokens and the default mode's are equal.
 *
 * Tolerance 1e-4 relative (to max(1, |value|)), as webgpu.test.ts's scans: f32 against the reference's
 * f64, WGSL's exp2 within 3 + 2·|x| ulp, and the lane scan reorders the recurrence (products of S·8
 * decays composed in a tree instead of one chain), which over 1000 steps stays ≲ 1e-5 like the chunked
 * scans' reordering.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import type { Model } from '../../src/api/types.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { expectClose } from './op-suite.js';
import { rand, rng } from '../helpers/sequences.js';
import { adapterMissing } from '../helpers/webgpu.js';
import { collect } from '../helpers/runahead.js';

vi.setConfig({ testTimeout: 180_000 });
const created = await createWebGpuBackend({ allowFallback: true });
const reason = adapterMissing('webgpu subgroup scan tests', created);
const gpu = (reason ? null : created) as WebGpuBackend | null;
const TOL = 1e-4;

describe.skipIf(!gpu || !gpu.subgroups)('webgpu scanMode subgroup vs reference', () => {
  if (!gpu) return;
  afterAll(async () => { await gpu.dispose(); });
  const ref = new ReferenceBackend();

  it('reports the subgroup sizes', () => {
    console.log(`webgpu adapter ${gpu.info.device}: subgroup sizes ${gpu.subgroups?.minSize}..${gpu.subgroups?.maxSize}`);
    expect(gpu.subgroups!.maxSize).toBeGreaterThanOrEqual(gpu.subgroups!.minSize);
  });

  const cases: [number, number, number][] = [];
  for (const T of [1, 2, 31, 127, 257, 1000]) for (const [I, N] of [[1, 1], [5, 5], [37, 16], [64, 5]]) cases.push([T, I, N]);
  cases.push([1000, 64, 16], [257, 37, 1], [31, 1, 16]);
  // B / C staged 1 or 2 state quads at a time (what a device with less workgroup memory gets; lavapipe stages all 4).
  const quadCases: [number, number, number, number][] = [[257, 37, 16, 1], [1000, 5, 16, 2], [127, 64, 5, 1]];
  for (const [T, I, N, quads] of [...cases.map(([T, I, N]) => [T, I, N, Infinity] as [number, number, number, number]), ...quadCases]) {
    it(`selectiveScan T=${T}, I=${I}, N=${N}, batch 2, state carried${quads < Infinity ? `, ${quads} quad(s) staged at once` : ''}`, async () => {
      const Bt = 2;
      const r = rng(7 * T + I + N);
      const d = {
        x: rand(Bt * T * I, r), dt: rand(Bt * T * I, r), dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -Math.abs(v) - 0.1),
        B: rand(Bt * T * N, r), C: rand(Bt * T * N, r), D: rand(I, r), z: rand(Bt * T * I, r), h0: rand(Bt * I * N, r),
      };
      const run = async (b: WebGpuBackend | ReferenceBackend) => {
        const state = b.upload(d.h0, [Bt, I, N]);
        const args = {
          x: b.upload(d.x, [Bt, T, I]), dt: b.upload(d.dt, [Bt, T, I]), z: b.upload(d.z, [Bt, T, I]), B: b.upload(d.B, [Bt, T, N]), C: b.upload(d.C, [Bt, T, N]),
          dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), D: b.upload(d.D, [I]), state,
        };
        return [await b.read(b.selectiveScan(args)), await b.read(state)];
      };
      gpu.scanMode = 'subgroup';
      gpu.subgroupScanQuads = quads;
      let got;
      try { got = await run(gpu); } finally { gpu.scanMode = 'chunked'; gpu.subgroupScanQuads = Infinity; }
      const want = await run(ref);
      expectClose(got[0], want[0], TOL, 'y');
      expectClose(got[1], want[1], TOL, 'state');
    });
  }

  it('m1-long (transformers golden): greedy tokens with the mode forced equal the default mode\'s and the golden\'s', async () => {
    const dir = new URL('../fixtures/goldens/m1-long/', import.meta.url).pathname;
    const golden = (await import('../fixtures/goldens/m1-long/golden.json', { with: { type: 'json' } })).default as {
      input_ids: number[][]; greedy: { prompt: number[]; tokens: number[] };
    };
    const backendOf = (m: Model) => (m as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
    const forced = await loadModel(dir, { backend: 'webgpu' });
    const plain = await loadModel(dir, { backend: 'webgpu' });
    try {
      backendOf(forced).scanMode = 'subgroup';
      const o = { temperature: 0, maxTokens: 20, ignoreEos: true };
      for (const prompt of [golden.greedy.prompt, golden.input_ids[0]]) {
        const a = await collect(forced.createSession(), prompt, o);
        const p = await collect(plain.createSession(), prompt, o);
        expect(a.ids).toEqual(p.ids);
        if (prompt === golden.greedy.prompt) expect(a.ids).toEqual(golden.greedy.tokens);
      }
    } finally { await forced.dispose(); await plain.dispose(); }
  });
});

describe.skipIf(!gpu)('webgpu scanMode subgroup: switches', () => {
  it('MAMBA_EDGE_WEBGPU_SCAN takes only the scan modes', async () => {
    const was = process.env.MAMBA_EDGE_WEBGPU_SCAN;
    process.env.MAMBA_EDGE_WEBGPU_SCAN = 'subgroups';
    try {
      await expect(createWebGpuBackend({ allowFallback: true })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    } finally { if (was === undefined) delete process.env.MAMBA_EDGE_WEBGPU_SCAN; else process.env.MAMBA_EDGE_WEBGPU_SCAN = was; }
  });
});
