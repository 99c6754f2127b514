/**
 * What Dawn's host side costs per compute dispatch, and what makes it cheaper — the question behind
 * issue 5's decode (BENCHMARKS.md, "WebGPU decode: recorded steps…": ~14 µs of host per dispatch on
 * the H100 with no JavaScript of ours left between the Dawn calls).
 *
 * Each case encodes `--dispatches` dispatches of trivial kernels (one workgroup of 64 threads, a
 * few loads and a store) the way a recorded decode step does, then submits them; the host time of
 * the three phases is timed separately, median of `--reps` rounds after warm-up (the GPU's work is
 * waited for outside the timed region):
 *   encode    createCommandEncoder + beginComputePass + setPipeline / setBindGroup / dispatchWorkgroups + end
 *   finish    encoder.finish()
 *   submit    queue.submit() (Dawn translates its command stream into the driver's here: barriers,
 *             descriptor sets) — plus, where a case has them, the queue.writeBuffer of parameters
 * Cases vary one thing each against the baseline (the decode step's shape: 11 bindings — a uniform
 * of parameters at its own offset + 10 storage buffers, each dispatch's outputs writable —, a
 * distinct bind group per dispatch, 8 pipelines in turn, one pass, one submission):
 *   bindings per group (2, 4, 6, 11), read-only vs writable storage, distinct buffers vs one buffer
 *   at offsets, a pass per dispatch, the same bind group every dispatch, one pipeline, a dynamic
 *   uniform offset (one bind group per pipeline + buffers), command buffer size per submit.
 * The host cost is CPU work in Dawn (and the driver's command recording), so lavapipe shows it on any
 * machine; the absolute µs differ by CPU and driver (lavapipe records into its own queue, NVIDIA's
 * driver into a GPU command buffer): compare cases within one run.
 *
 *   [MAMBA_EDGE_DAWN_FLAGS='enable-dawn-features=skip_validation'] node --import tsx bench/dawn-dispatch.ts [--dispatches 100] [--reps 30] [--json out.json]
 * MAMBA_EDGE_DAWN_FLAGS: dawn.node create() flags (Dawn toggles) for the whole process, as for the backend (src/node.ts).
 */
/// <reference types="@webgpu/types" />
import { writeFileSync } from 'node:fs';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const N = Number(arg('dispatches', '100'));
const REPS = Number(arg('reps', '30'));
const out = arg('json', '');

import '../src/node.js'; // installs the Dawn provider
import { acquireDevice, dawnFlagsFromEnv } from '../src/backends/webgpu/device.js';

// $MAMBA_EDGE_DAWN_FLAGS (src/node.ts passes it to dawn.node's create()): e.g. enable-dawn-features=skip_validation.
const dawnFlags = dawnFlagsFromEnv(process.env.MAMBA_EDGE_DAWN_FLAGS);
// The backend's own device (its requiredLimits: 10 storage buffers a stage, as the decode kernels bind).
const ctx = await acquireDevice({ allowFallback: true });
if ('unavailable' in ctx) throw new Error(`no WebGPU device: ${ctx.unavailable}`);
const { device, description } = ctx;
const U = { UNIFORM: 64, STORAGE: 128, COPY_DST: 8 };

/** A kernel with `nStorage` storage bindings (the first `writable` read_write) after a uniform at binding 0. */
function kernel(nStorage: number, writable: number, salt: number, dynamicUniform: boolean): GPUComputePipeline {
  const decl: string[] = [];
  const reads: string[] = [];
  for (let j = 0; j < nStorage; j++) {
    const rw = j >= nStorage - writable;
    decl.push(`@group(0) @binding(${j + 1}) var<storage, ${rw ? 'read_write' : 'read'}> b${j}: array<f32>;`);
    if (!rw) reads.push(`b${j}[i]`);
  }
  const sum = reads.length ? reads.join(' + ') : '0.0';
  const code = `struct P { a: u32, b: u32, c: f32, d: f32 }
@group(0) @binding(0) var<uniform> prm: P;
${decl.join('\n')}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x % 64u;
  let s = ${sum} + f32(prm.a) + ${salt}.0;
${Array.from({ length: writable }, (_, k) => `  b${nStorage - writable + k}[i] = s;`).join('\n')}
}`;
  const module = device.createShaderModule({ code });
  if (!dynamicUniform) return device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: 4, buffer: { type: 'uniform', hasDynamicOffset: true } }];
  for (let j = 0; j < nStorage; j++) entries.push({ binding: j + 1, visibility: 4, buffer: { type: j >= nStorage - writable ? 'storage' : 'read-only-storage' } });
  const layout = device.createPipelineLayout({ bindGroupLayouts: [device.createBindGroupLayout({ entries })] });
  return device.createComputePipeline({ layout, compute: { module, entryPoint: 'main' } });
}

interface Case {
  what: string;
  /** bindings per group: uniform + storage */
  storage: number;
  writable: number;
  pipelines: number;
  /** 'distinct': every binding its own buffer; 'block': every read-only binding a 256-byte-aligned range of one buffer */
  buffers: 'distinct' | 'block';
  passPerDispatch?: boolean;
  sameGroup?: boolean;
  dynamicUniform?: boolean;
  /** dispatches per submission (default all N in one) */
  perSubmit?: number;
  /** skip setBindGroup when the group did not change (only matters with sameGroup) */
  skipRedundant?: boolean;
  /** distinct buffers in the pool the dispatches bind from (default 40: the activations a decode step reuses) */
  poolSize?: number;
  /** bytes of each pool buffer (default 256) */
  bufferBytes?: number;
}

const BASE: Case = { what: 'baseline (decode-like: 1 uniform + 10 storage, 2 writable, 8 pipelines, distinct buffers)', storage: 10, writable: 2, pipelines: 8, buffers: 'distinct' };
const cases: Case[] = [
  BASE,
  { ...BASE, what: '1 uniform + 1 storage (writable)', storage: 1, writable: 1 },
  { ...BASE, what: '1 uniform + 3 storage', storage: 3, writable: 1 },
  { ...BASE, what: '1 uniform + 5 storage', storage: 5, writable: 1 },
  { ...BASE, what: '10 storage, 1 writable', writable: 1 },
  { ...BASE, what: '10 storage, all writable', writable: 10 },
  { ...BASE, what: 'every read-only binding a range of one buffer', buffers: 'block' },
  { ...BASE, what: 'one pipeline for all dispatches', pipelines: 1 },
  { ...BASE, what: 'a compute pass per dispatch', passPerDispatch: true },
  { ...BASE, what: 'the same bind group every dispatch (setBindGroup each time)', sameGroup: true },
  { ...BASE, what: 'one pipeline, the same bind group, setBindGroup each time', pipelines: 1, sameGroup: true },
  { ...BASE, what: 'one pipeline, the same bind group, setBindGroup once', pipelines: 1, sameGroup: true, skipRedundant: true },
  { ...BASE, what: 'dynamic uniform offset (a bind group per pipeline, offset per dispatch)', dynamicUniform: true },
  { ...BASE, what: 'submit every 10 dispatches', perSubmit: 10 },
  { ...BASE, what: 'submit every 25 dispatches', perSubmit: 25 },
  // A decode step binds each layer's own weights: a few hundred distinct buffers in one pass, some large.
  { ...BASE, what: 'a pool of 400 distinct buffers (a step\'s weights + activations)', poolSize: 400 },
  { ...BASE, what: 'a pool of 400 distinct buffers of 1 MiB', poolSize: 400, bufferBytes: 1 << 20 },
];

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Builds a case's pipelines, buffers and bind groups; returns one timed round (ms of encode, finish, submit) and a cleanup. */
function setup(c: Case): { round(): Promise<[number, number, number]>; destroy(): void } {
  const pipes = Array.from({ length: c.pipelines }, (_, p) => kernel(c.storage, c.writable, p, !!c.dynamicUniform));
  const params = device.createBuffer({ size: 256 * N, usage: U.UNIFORM | U.COPY_DST });
  const block = c.buffers === 'block' ? device.createBuffer({ size: 256 * (c.storage * N + 1), usage: U.STORAGE }) : null;
  // Distinct buffers: a pool of 40 as in a decode step (activations reused across layers), each dispatch
  // binding `storage` of them in a rotating window, no buffer twice in one dispatch (writable aliasing).
  const pool = Array.from({ length: Math.max(c.poolSize ?? 40, c.storage + 1) }, () => device.createBuffer({ size: c.bufferBytes ?? 256, usage: U.STORAGE }));
  const groups: GPUBindGroup[] = [];
  const dynGroups: GPUBindGroup[] = [];
  for (let d = 0; d < N; d++) {
    const pipe = pipes[d % c.pipelines];
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: params, offset: c.dynamicUniform ? 0 : 256 * d, size: 16 } }];
    for (let j = 0; j < c.storage; j++) {
      // (a writable binding stays its own buffer: Dawn rejects one buffer both written and read in a dispatch)
      const writable = j >= c.storage - c.writable;
      entries.push({ binding: j + 1, resource: block && !writable ? { buffer: block, offset: 256 * (d * c.storage + j), size: 256 } : { buffer: pool[(d * (pool.length > 40 ? c.storage : 3) + j) % pool.length] } });
    }
    const g = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
    groups.push(c.sameGroup ? (groups[d % c.pipelines] ?? g) : g);
    if (c.dynamicUniform && d < c.pipelines) dynGroups.push(g);
  }
  const perSubmit = c.perSubmit ?? N;
  const round = async (): Promise<[number, number, number]> => {
    let enc = 0, fin = 0, sub = 0;
    for (let d0 = 0; d0 < N; d0 += perSubmit) {
      const t0 = performance.now();
      const e = device.createCommandEncoder();
      let pass: GPUComputePassEncoder | null = null;
      let last: GPUComputePipeline | null = null;
      let lastGroup: GPUBindGroup | null = null;
      for (let d = d0; d < Math.min(N, d0 + perSubmit); d++) {
        if (!pass) { pass = e.beginComputePass(); last = null; lastGroup = null; }
        const pipe = pipes[d % c.pipelines];
        if (pipe !== last) { pass.setPipeline(pipe); last = pipe; }
        if (c.dynamicUniform) {
          pass.setBindGroup(0, dynGroups[d % c.pipelines], [256 * d]);
        } else {
          const g = groups[d];
          if (!(c.skipRedundant && g === lastGroup)) { pass.setBindGroup(0, g); lastGroup = g; }
        }
        pass.dispatchWorkgroups(1);
        if (c.passPerDispatch) { pass.end(); pass = null; }
      }
      if (pass) pass.end();
      const t1 = performance.now();
      const cb = e.finish();
      const t2 = performance.now();
      device.queue.submit([cb]);
      const t3 = performance.now();
      enc += t1 - t0; fin += t2 - t1; sub += t3 - t2;
    }
    await device.queue.onSubmittedWorkDone(); // the GPU's work, outside the timed phases
    return [enc, fin, sub];
  };
  return { round, destroy: () => { params.destroy(); block?.destroy(); for (const b of pool) b.destroy(); } };
}

console.error(`adapter: ${description}; Dawn flags [${dawnFlags.join(' ')}]; ${N} dispatches a submission, median of ${REPS} rounds, cases interleaved round by round`);
device.pushErrorScope('validation');
const built = cases.map(setup);
for (let w = 0; w < 5; w++) for (const b of built) await b.round(); // warm-up
const times = cases.map(() => [[], [], []] as number[][]);
// Round-robin over the cases, so load from other processes on the machine falls on all of them alike.
for (let rep = 0; rep < REPS; rep++) {
  for (let i = 0; i < built.length; i++) (await built[i].round()).forEach((v, k) => times[i][k].push(v));
}
const err = await device.popErrorScope();
if (err) throw new Error(err.message);
const rows: (Case & { encodeUs: number; finishUs: number; submitUs: number; totalUs: number })[] = [];
console.log('| case | encode µs | finish µs | submit µs | total µs a dispatch |');
console.log('|---|---:|---:|---:|---:|');
cases.forEach((c, i) => {
  const us = (ms: number) => (1000 * ms) / N;
  const [e, f, s] = times[i].map(median);
  const tot = median(times[i][0].map((v, r) => v + times[i][1][r] + times[i][2][r]));
  const r = { encodeUs: us(e), finishUs: us(f), submitUs: us(s), totalUs: us(tot) };
  rows.push({ ...c, ...r });
  console.log(`| ${c.what} | ${r.encodeUs.toFixed(2)} | ${r.finishUs.toFixed(2)} | ${r.submitUs.toFixed(2)} | ${r.totalUs.toFixed(2)} |`);
});
for (const b of built) b.destroy();
if (out) writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), device: description, dawnFlags, dispatches: N, reps: REPS, rows }, null, 2));
device.destroy();
