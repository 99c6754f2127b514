/**
 * The tiled Mamba-1 scan's variants (WebGpuBackend.scanPoly: the last states' decay 2^x from the FMA-pipe
 * polynomial of include/ex2_poly.wgsl; scanWorkgroup: 32 or 64 channels a workgroup) against the reference
 * backend, and the polynomial itself against Math.pow on the adapter that runs the file.
 *
 * Tolerance: the same 1e-4 relative as test/backends/webgpu.test.ts. ex2Poly is within 2 ulp (2.4e-7
 * relative) of 2^x — checked below — while WGSL only promises exp2 to 3 + 2·|x| ulp, so a decay from the
 * polynomial is no further from the reference's f64 exp than exp2's; over 1,000 steps the state forgets
 * (A < 0), so per-step errors of ~1e-7 do not build past the existing ~1e-5 of the chunked reordering.
 * Below x = −125 the polynomial returns 2^−125 instead of 2^x (≈ 0 next to the Δ·x·B term it is added to).
 *
 * Under CI=true a missing adapter fails the file (test/helpers/webgpu.ts).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import { acquireDevice } from '../../src/backends/webgpu/device.js';
import { WEBGPU_ENV, type WebGpuBackend } from '../../src/backends/webgpu/index.js';
import { checkEnv } from '../../src/backends/env.js';
import type { Backend } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { expectClose } from './op-suite.js';
import { rand, rng } from '../helpers/sequences.js';
import { adapterMissing } from '../helpers/webgpu.js';

const created = await createWebGpuBackend({ allowFallback: true });
const reason = adapterMissing('webgpu scan-poly tests', created);
const gpu = (reason ? null : created) as WebGpuBackend | null;
const TOL = 1e-4;
vi.setConfig({ testTimeout: 120_000 }); // software adapters compile each pipeline variant through LLVM

/** Inputs of a selective scan (A < 0 as in every checkpoint: A = −exp(A_log)). */
function scanInputs(Bt: number, T: number, I: number, N: number) {
  const r = rng(T * 31 + I * 7 + N);
  return {
    x: rand(Bt * T * I, r), dt: rand(Bt * T * I, r), dtBias: rand(I, r, 0.5), A: rand(I * N, r).map((v) => -Math.abs(v) * 4 - 0.1),
    B: rand(Bt * T * N, r), C: rand(Bt * T * N, r), D: rand(I, r), z: rand(Bt * T * I, r), h0: rand(Bt * I * N, r),
  };
}

/** y and the final state of selectiveScan on backend b. */
async function runScan(b: Backend, d: ReturnType<typeof scanInputs>, Bt: number, T: number, I: number, N: number): Promise<[Float32Array, Float32Array]> {
  const state = b.upload(d.h0, [Bt, I, N]);
  const args = {
    x: b.upload(d.x, [Bt, T, I]), dt: b.upload(d.dt, [Bt, T, I]), z: b.upload(d.z, [Bt, T, I]), B: b.upload(d.B, [Bt, T, N]), C: b.upload(d.C, [Bt, T, N]),
    dtBias: b.upload(d.dtBias, [I]), A: b.upload(d.A, [I, N]), D: b.upload(d.D, [I]), state,
  };
  const y = await b.read(b.selectiveScan(args));
  return [y, await b.read(state)];
}

describe('webgpu environment: the scan variants\' switches', () => {
  const set: string[] = [];
  const setEnv = (vars: Record<string, string>) => { for (const [k, v] of Object.entries(vars)) { process.env[k] = v; set.push(k); } };
  afterAll(() => { for (const k of set.splice(0)) delete process.env[k]; });

  it('MAMBA_EDGE_WEBGPU_SCAN_POLY / _SCAN_POLY_OUT take 0..16 and _SCAN_WG 32 | 64; anything else is E_ARGUMENT naming it', () => {
    for (const [name, value] of [['MAMBA_EDGE_WEBGPU_SCAN_POLY', '17'], ['MAMBA_EDGE_WEBGPU_SCAN_POLY', '-1'], ['MAMBA_EDGE_WEBGPU_SCAN_POLY', '4,3'],
      ['MAMBA_EDGE_WEBGPU_SCAN_POLY_OUT', 'x'], ['MAMBA_EDGE_WEBGPU_SCAN_WG', '48'], ['MAMBA_EDGE_WEBGPU_SCAN_WG', '128'], ['MAMBA_EDGE_WEBGPU_SCAN_POLYS', '4']]) {
      setEnv({ [name]: value });
      expect(() => checkEnv('MAMBA_EDGE_WEBGPU_', WEBGPU_ENV), `${name}=${value}`).toThrow(expect.objectContaining({ code: 'E_ARGUMENT', message: expect.stringContaining(name) }));
      delete process.env[name];
    }
    setEnv({ MAMBA_EDGE_WEBGPU_SCAN_POLY: '16', MAMBA_EDGE_WEBGPU_SCAN_POLY_OUT: '0', MAMBA_EDGE_WEBGPU_SCAN_WG: '32' });
    expect(() => checkEnv('MAMBA_EDGE_WEBGPU_', WEBGPU_ENV)).not.toThrow();
    for (const k of set.splice(0)) delete process.env[k];
  });

  if (gpu) {
    it('a backend takes them from the environment (_SCAN_POLY both passes, _SCAN_POLY_OUT over it for pass 3); bad field values are E_ARGUMENT at the scan', async () => {
      setEnv({ MAMBA_EDGE_WEBGPU_SCAN_POLY: '4', MAMBA_EDGE_WEBGPU_SCAN_POLY_OUT: '3', MAMBA_EDGE_WEBGPU_SCAN_WG: '32' });
      const b = await createWebGpuBackend({ allowFallback: true }) as WebGpuBackend;
      try {
        expect(b.scanPoly).toEqual({ chunk: 4, out: 3 });
        expect(b.scanWorkgroup).toBe(32);
      } finally { await b.dispose(); }
      delete process.env.MAMBA_EDGE_WEBGPU_SCAN_POLY_OUT;
      const b2 = await createWebGpuBackend({ allowFallback: true }) as WebGpuBackend;
      try { expect(b2.scanPoly).toEqual({ chunk: 4, out: 4 }); } finally { await b2.dispose(); }
      for (const k of set.splice(0)) delete process.env[k];
      expect(gpu.scanPoly).toEqual({ chunk: 0, out: 0 }); // the defaults until an H100 run says otherwise
      expect(gpu.scanWorkgroup).toBe(64);
      const d = scanInputs(1, 8, 3, 4);
      for (const bad of [() => { gpu.scanPoly = { chunk: 17, out: 0 }; }, () => { gpu.scanPoly = { chunk: 0, out: 1.5 }; }, () => { gpu.scanWorkgroup = 48 as 64; }]) {
        bad();
        try {
          await expect(runScan(gpu, d, 1, 8, 3, 4)).rejects.toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
        } finally { gpu.scanPoly = { chunk: 0, out: 0 }; gpu.scanWorkgroup = 64; }
      }
    });
  }
});

if (gpu) {
  afterAll(async () => { await gpu.dispose(); });

  describe('ex2Poly (include/ex2_poly.wgsl) on the adapter', () => {
    it('equals Math.pow(2, x) within 2 ulp over [−125, 126] (integers, half-integers and their neighbours, small |x|) and 2^clamp(x) outside', async () => {
      const ctx = await acquireDevice({ allowFallback: true });
      if ('unavailable' in ctx) throw new Error(ctx.unavailable);
      const dev = ctx.device;
      try {
        const xs: number[] = [0, -0, 1e-30, -1e-30, 1e-8, -1e-8, 0.25, -0.25, -1000, 1000, -Infinity, Infinity, -125.7, 126.3, -126, 127];
        for (let k = -126; k <= 127; k++) {
          for (const x of [k, k + 0.5]) { // integers and exact halves (the rounding's ties), and a float either side
            const f = Math.fround(x);
            const bits = new Uint32Array(Float32Array.of(f).buffer)[0];
            xs.push(f);
            if (f !== 0) for (const d of [-1, 1]) xs.push(new Float32Array(Uint32Array.of(bits + d).buffer)[0]);
          }
        }
        const r = rng(2);
        for (let i = 0; i < 2000; i++) xs.push(Math.fround(-130 + 260 * r()), Math.fround(4 * r() - 2)); // anywhere, and near 0
        while (xs.length % 4) xs.push(0);
        const input = Float32Array.from(xs);
        const code = readFileSync(new URL('../../gpu/wgsl/include/ex2_poly.wgsl', import.meta.url), 'utf8') + `
@group(0) @binding(0) var<storage, read> xs: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> ys: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> keep: array<u32>; // all ones, read at run time as the scan kernels' n7
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < arrayLength(&xs)) { ys[g.x] = ex2Poly(xs[g.x], keep[0]); }
}`;
        const mk = (size: number, usage: number) => dev.createBuffer({ size, usage });
        const bx = mk(input.byteLength, 128 | 8), by = mk(input.byteLength, 128 | 4), bk = mk(16, 128 | 8), rb = mk(input.byteLength, 1 | 8);
        dev.queue.writeBuffer(bx, 0, input);
        dev.queue.writeBuffer(bk, 0, Uint32Array.of(0xffffffff, 0, 0, 0));
        dev.pushErrorScope('validation');
        const pipeline = dev.createComputePipeline({ layout: 'auto', compute: { module: dev.createShaderModule({ code }), entryPoint: 'main' } });
        const group = dev.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [bx, by, bk].map((buffer, binding) => ({ binding, resource: { buffer } })) });
        const enc = dev.createCommandEncoder();
        const pass = enc.beginComputePass();
        pass.setPipeline(pipeline); pass.setBindGroup(0, group); pass.dispatchWorkgroups(Math.ceil(input.length / 4 / 64)); pass.end();
        enc.copyBufferToBuffer(by, 0, rb, 0, input.byteLength);
        dev.queue.submit([enc.finish()]);
        expect(await dev.popErrorScope()).toBeNull();
        await rb.mapAsync(1);
        const got = new Float32Array(rb.getMappedRange().slice(0));
        rb.unmap();
        let worst = 0, at = -1;
        for (let i = 0; i < input.length; i++) {
          const want = Math.fround(2 ** Math.min(126, Math.max(-125, input[i])));
          const ulp = 2 ** (Math.floor(Math.log2(want)) - 23); // of the f32 2^x (all normal here)
          const e = Math.abs(got[i] - want) / ulp;
          if (!(e <= worst)) { worst = e; at = i; }
        }
        console.log(`ex2Poly on ${ctx.description}: worst ${worst.toFixed(2)} ulp over ${input.length} values`);
        expect(worst, `worst at x = ${input[at]}: ${got[at]} vs 2^x = ${2 ** input[at]}`).toBeLessThanOrEqual(2);
      } finally {
        dev.destroy();
      }
    });
  });

  describe('tiled selective scan: polynomial states and workgroup widths vs reference', () => {
    const ref = new ReferenceBackend();
    const withVariant = async <T>(poly: { chunk: number; out: number }, wg: 32 | 64, chunk: number | undefined, fn: () => Promise<T>): Promise<T> => {
      const before = { poly: gpu.scanPoly, wg: gpu.scanWorkgroup, chunk: { ...gpu.scanChunk } };
      gpu.scanPoly = poly; gpu.scanWorkgroup = wg;
      if (chunk !== undefined) gpu.scanChunk = { ...gpu.scanChunk, mamba1: chunk };
      try { return await fn(); } finally { gpu.scanPoly = before.poly; gpu.scanWorkgroup = before.wg; gpu.scanChunk = before.chunk; }
    };
    // [pass-1 POLY, pass-3 POLY, WG, T, I, N, chunk (default 64)]. Each pipeline variant costs a few seconds
    // of LLVM on a software adapter, so every POLY value 0..16 runs once, in one of the two passes (they share
    // decay2): pass 1 takes 0..8 and pass 3 16..8 at N = 16 — none, part of the last quad, whole quads,
    // all — at T = 127 (two chunks), I = 37 (two 32-channel workgroups, the second part empty). Then the
    // expected balance 4 / 3 at N = 16 over the default chunk's boundaries (63 / 64 / 65), T = 1000, and
    // chunks of 33 and 256; odd N (13, 5: a padded last quad; POLY past N) at T = 1 (the step kernel),
    // 2, 65 and 1000; I = 70 spans two 64-channel workgroups and three 32-channel ones.
    type Case = [number, number, 32 | 64, number, number, number, number?];
    const sweep: Case[] = Array.from({ length: 9 }, (_, k) => [k, 16 - k, k % 2 ? 32 : 64, 127, 37, 16] as Case);
    const cases: Case[] = [
      ...sweep,
      ...[63, 64, 65, 1000].map((T) => [4, 3, 32, T, 70, 16] as Case), [4, 3, 32, 1000, 70, 16, 33], [4, 3, 32, 255, 37, 16, 256],
      ...[1, 2, 1000].map((T) => [4, 3, 64, T, 70, 13] as Case), ...[65, 1000].map((T) => [2, 5, 32, T, 70, 5] as Case),
    ];
    const ys = new Map<string, Float32Array>();
    for (const [p1, p3, wg, T, I, N, chunk] of cases) {
      it(`selectiveScan POLY ${p1}/${p3}, WG ${wg}${chunk ? `, chunk ${chunk}` : ''}: T=${T}, I=${I}, N=${N}, batch 2, state carried`, () => withVariant({ chunk: p1, out: p3 }, wg, chunk, async () => {
        const Bt = 2;
        const d = scanInputs(Bt, T, I, N);
        const [got, want] = [await runScan(gpu, d, Bt, T, I, N), await runScan(ref, d, Bt, T, I, N)];
        expectClose(got[0], want[0], TOL, 'y');
        expectClose(got[1], want[1], TOL, 'state');
        if (T === 127) ys.set(`${p1}/${p3}`, got[0]);
      }));
    }

    it('the polynomial is what runs: POLY 0/16 and 8/8 (same input) differ in some bits of y, within the tolerance', () => {
      const a = ys.get('0/16'), b = ys.get('8/8');
      expect(a && b, 'the sweep\'s cases ran').toBeTruthy();
      let differ = 0;
      for (let i = 0; i < a!.length; i++) if (a![i] !== b![i]) differ++;
      expect(differ, 'two POLY variants gave the same bits: the constant did not reach the shader').toBeGreaterThan(0);
      expectClose(a!, b!, TOL, 'POLY 0/16 vs 8/8');
    });
  });
}
