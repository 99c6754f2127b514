/**
 * scanMode 'subgroup' (selective_scan_subgroup.wgsl: the one-pass Mamba-1 prefill scan, a subgroup per
 * channel) and 'subgroup-chain' (selective_scan_subgroup_chain.wgsl: the same tile, a workgroup per time
 * tile, the state chained between tiles) against the reference backend's selectiveScan at odd sizes
 * (T = 1, 2, 31, 127, 255, 256, 257, 1000, 4100 — around and across the S·8-step tiles of any subgroup size
 * S; I = 1, 5, 37, 64 — partial workgroups; N = 1, 5, 16 — partial state quads), batch 2, the state carried
 * in and out; and a transformers golden model (m1-long) generating with the mode forced: its greedy tokens
 * and the default mode's are equal. 'subgroup-chain' also: time units of several tiles (as a small binding
 * limit makes them), two scans in one submission (the chain's clear between them), and the spin bound.
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

type Mode = 'subgroup' | 'subgroup-chain';
type Case = { T: number; I: number; N: number; quads?: number; units?: number };
const cases: Case[] = [];
for (const T of [1, 2, 31, 127, 257, 1000]) for (const [I, N] of [[1, 1], [5, 5], [37, 16], [64, 5]]) cases.push({ T, I, N });
cases.push({ T: 1000, I: 64, N: 16 }, { T: 257, I: 37, N: 1 }, { T: 31, I: 1, N: 16 }, { T: 255, I: 37, N: 16 }, { T: 256, I: 5, N: 5 }, { T: 4100, I: 37, N: 16 });
// B / C staged 1 or 2 state quads at a time (what a device with less workgroup memory gets; lavapipe stages all 4).
cases.push({ T: 257, I: 37, N: 16, quads: 1 }, { T: 1000, I: 5, N: 16, quads: 2 }, { T: 127, I: 64, N: 5, quads: 1 });
// 'subgroup-chain' only: at most 3 or 2 time units (several tiles a unit, as where the chain would not fit a binding).
const chainCases: Case[] = [{ T: 1000, I: 37, N: 16, units: 3 }, { T: 257, I: 5, N: 5, units: 2 }, { T: 4100, I: 64, N: 16, units: 3 }];

/** The case's inputs (seeded), uploaded to `b`. */
function scanInputs(b: WebGpuBackend | ReferenceBackend, { T, I, N }: Case, Bt = 2) {
  const r = rng(7 * T + I + N);
  const d = {
    x: rand(Bt * T * I, r), dt: rand(Bt * T * I, r), dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -Math.abs(v) - 0.1),
    B: rand(Bt * T * N, r), C: rand(Bt * T * N, r), D: rand(I, r), z: rand(Bt * T * I, r), h0: rand(Bt * I * N, r),
  };
  return {
    x: b.upload(d.x, [Bt, T, I]), dt: b.upload(d.dt, [Bt, T, I]), z: b.upload(d.z, [Bt, T, I]), B: b.upload(d.B, [Bt, T, N]), C: b.upload(d.C, [Bt, T, N]),
    dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), D: b.upload(d.D, [I]), state: b.upload(d.h0, [Bt, I, N]),
  };
}

/** The GPU's scan in `mode` with the case's test settings, back to the defaults after. */
async function withMode<R>(g: WebGpuBackend, mode: Mode, c: Case, f: () => Promise<R>): Promise<R> {
  g.scanMode = mode;
  g.subgroupScanQuads = c.quads ?? Infinity;
  g.subgroupChainUnits = c.units ?? Infinity;
  try { return await f(); } finally { g.scanMode = 'chunked'; g.subgroupScanQuads = Infinity; g.subgroupChainUnits = Infinity; }
}

const caseName = (c: Case) => `T=${c.T}, I=${c.I}, N=${c.N}, batch 2, state carried${c.quads ? `, ${c.quads} quad(s) staged at once` : ''}${c.units ? `, at most ${c.units} time units` : ''}`;

describe.skipIf(!gpu || !gpu.subgroups)('webgpu subgroup scans', () => {
  if (!gpu) return;
  afterAll(async () => { await gpu.dispose(); });
  const ref = new ReferenceBackend();

  it('reports the subgroup sizes', () => {
    console.log(`webgpu adapter ${gpu.info.device}: subgroup sizes ${gpu.subgroups?.minSize}..${gpu.subgroups?.maxSize}`);
    expect(gpu.subgroups!.maxSize).toBeGreaterThanOrEqual(gpu.subgroups!.minSize);
  });

  for (const mode of ['subgroup', 'subgroup-chain'] as const) {
    describe(`scanMode ${mode} vs reference`, () => {
      for (const c of [...cases, ...(mode === 'subgroup-chain' ? chainCases : [])]) {
        it(`selectiveScan ${caseName(c)}`, async () => {
          const run = async (b: WebGpuBackend | ReferenceBackend) => {
            const args = scanInputs(b, c);
            return [await b.read(b.selectiveScan(args)), await b.read(args.state)];
          };
          const got = await withMode(gpu, mode, c, () => run(gpu));
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
          backendOf(forced).scanMode = mode;
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
  }

  describe('scanMode subgroup-chain: the chain buffer', () => {
    it('two scans in one submission (the ticket counter and the tile states cleared before each), the second on the first\'s state', async () => {
      const c: Case = { T: 257, I: 37, N: 16 };
      const run = async (b: WebGpuBackend | ReferenceBackend) => {
        const args = scanInputs(b, c);
        const y1 = b.selectiveScan(args);
        const y2 = b.selectiveScan(args); // the same inputs again, from the state the first left
        return [await b.read(y1), await b.read(y2), await b.read(args.state)];
      };
      const before = gpu.stats.submits;
      const got = await withMode(gpu, 'subgroup-chain', c, () => run(gpu));
      expect(gpu.stats.submits - before).toBe(1); // both scans (and their clears) in the one submission of the first read
      const want = await run(ref);
      expectClose(got[0], want[0], TOL, 'first y');
      expectClose(got[1], want[1], TOL, 'second y');
      expectClose(got[2], want[2], TOL, 'state');
    });

    it('the spin bound: units whose predecessor never runs give up (NaN outputs) instead of hanging', async () => {
      const c: Case = { T: 300, I: 37, N: 5 };
      const args = scanInputs(gpu, c);
      const blocks = Math.ceil(c.I / (256 / gpu.subgroups!.maxSize));
      const spin = gpu.subgroupChainSpin;
      gpu.subgroupChainFirstTicket = 2 * blocks; // batch 2: the first time unit's tickets are never drawn
      gpu.subgroupChainSpin = 1 << 14;
      const started = performance.now();
      let y: Float32Array, state: Float32Array;
      try {
        [y, state] = await withMode(gpu, 'subgroup-chain', c, async () => [await gpu.read(gpu.selectiveScan(args)), await gpu.read(args.state)]);
      } finally { gpu.subgroupChainFirstTicket = 0; gpu.subgroupChainSpin = spin; }
      console.log(`spin bound: gave up in ${(performance.now() - started).toFixed(0)} ms`);
      const steps = 8 * gpu.subgroups!.maxSize; // a time unit
      const Tn = c.T * c.I;
      for (const bt of [0, 1]) {
        // the first time unit never ran: its y stays what the pool buffer held; every later one is NaN
        for (let k = steps * c.I; k < Tn; k++) expect(y[bt * Tn + k]).toBeNaN();
      }
      for (const v of state) expect(v).toBeNaN();
      // and the backend still works afterwards
      const args2 = scanInputs(gpu, { T: 31, I: 5, N: 5 });
      const ok = await withMode(gpu, 'subgroup-chain', { T: 31, I: 5, N: 5 }, async () => gpu.read(gpu.selectiveScan(args2)));
      expect(ok.every(Number.isFinite)).toBe(true);
    });
  });
});

describe.skipIf(!gpu)('webgpu scanMode subgroup: switches', () => {
  it('MAMBA_EDGE_WEBGPU_SCAN=subgroup-chain selects the chained scan (or says the adapter lacks subgroups)', async () => {
    const was = process.env.MAMBA_EDGE_WEBGPU_SCAN;
    process.env.MAMBA_EDGE_WEBGPU_SCAN = 'subgroup-chain';
    try {
      if (gpu!.subgroups) {
        const b = await createWebGpuBackend({ allowFallback: true }) as WebGpuBackend;
        expect(b.scanMode).toBe('subgroup-chain');
        await b.dispose();
      } else {
        await expect(createWebGpuBackend({ allowFallback: true })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
      }
    } finally { if (was === undefined) delete process.env.MAMBA_EDGE_WEBGPU_SCAN; else process.env.MAMBA_EDGE_WEBGPU_SCAN = was; }
  });

  it('MAMBA_EDGE_WEBGPU_SCAN takes only the scan modes', async () => {
    const was = process.env.MAMBA_EDGE_WEBGPU_SCAN;
    process.env.MAMBA_EDGE_WEBGPU_SCAN = 'subgroups';
    try {
      await expect(createWebGpuBackend({ allowFallback: true })).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    } finally { if (was === undefined) delete process.env.MAMBA_EDGE_WEBGPU_SCAN; else process.env.MAMBA_EDGE_WEBGPU_SCAN = was; }
  });
});
