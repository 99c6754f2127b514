/**
 * Where a WebGPU decode step's GPU time goes, dispatch by dispatch (issue 5).
 *
 * For random-weight models in the shapes of the published checkpoints (tools/bench-shapes.ts; `--tiny`: 2
 * layers of the same widths, for a software adapter), a throwaway session decodes as `generate` does —
 * the recorded step (Backend.recordStep) with the token sampled on the device and run ahead — while
 * WebGpuBackend.captureSubmissions records what is submitted. The last submission holding the recorded
 * step's replay is one decode step: the replay's dispatches plus the sampling (top_k_sample) and the id /
 * read-back copies. Then, on the same device:
 *   each dispatch ALONE   its pipeline + bind group dispatched `--reps` times in one compute pass; time per
 *                         dispatch = (pass time) / reps. Pass time: the pass's own timestamps where the device
 *                         has 'timestamp-query' (asked for here, requestTimestampQueries), otherwise wall time
 *                         from submit to onSubmittedWorkDone minus an empty submission's. Best of --rounds.
 *   each dispatch IN THE STEP  (timestamps only) the step with each dispatch in a compute pass of its own,
 *                         timestamps at the pass's beginning and end: the dispatch finds the caches as the
 *                         step leaves them. Alone, a dispatch replayed `reps` times reads weights that stay in
 *                         the L2 cache (50 MiB on an H100: every per-layer weight of the 130M models fits), so
 *                         the alone column flatters memory-bound kernels; the in-step column does not (but
 *                         leaves out the barrier / pass boundary between dispatches). Best of --step-reps × --rounds.
 *   the whole step        the captured submission's commands in order, `--step-reps` times back to back in one
 *                         submission (timestamps from an empty pass before and after), per step. Copies into
 *                         read-back (MAP_READ) buffers are left out: the host may hold them mapped.
 * Printed per model: one row per dispatch — index, kernel (the pipeline label's name; the variant after
 * it: weight loader | NS | RQ), workgroups, bytes bound (every storage binding's size once: weights and
 * state, outputs too, so an upper bound on what it reads), µs, GB/s (bytes bound ÷ µs; none for the
 * embedding gathers, which bind the whole table and read a row) — then rows grouped by kernel (count,
 * total µs, share of the sum), then the sum beside the whole step: their difference is what the step's
 * dispatch boundaries (and passes, copies) cost on top of the dispatches alone.
 * The session's state is garbage after the replays: the session is disposed; the model is not touched.
 * Timestamps under Dawn are quantized unless its toggle is off: with $MAMBA_EDGE_DAWN_FLAGS unset, the bench sets
 * it to disable-dawn-features=timestamp_quantization; with other flags, add that one (a warning says when the
 * timestamps look quantized).
 *
 *   node --import tsx bench/webgpu-decode-profile.ts [--models mamba-130m,mamba2-130m] [--tiny] [--vocab N]
 *        [--reps 100] [--step-reps 20] [--rounds 3] [--no-timestamps] [--json out.json]
 *   npm run bench:webgpu-profile -- --tiny
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/node.js';
import type { Model } from '../src/api/types.js';
import type { CapturedCommand, WebGpuBackend } from '../src/backends/webgpu/index.js';
import { requestTimestampQueries } from '../src/backends/webgpu/device.js';
import { randomModelFiles } from '../tools/random-model.js';
import { BENCH_MODELS, type BenchModelName } from '../tools/bench-shapes.js';

/** GPUBufferUsage / GPUMapMode values (Dawn in Node defines no such globals). */
const MAP_READ = 1, COPY_SRC = 4, COPY_DST = 8, QUERY_RESOLVE = 512;

export interface ProfileRow {
  index: number;
  /** The kernel's name (gpu/wgsl/<kernel>.wgsl) and the pipeline's whole label (kernels.ts: name|weights|NS|RQ). */
  kernel: string; label: string;
  /** Part of the recorded step's replay (false: the sampling after it). */
  replayed: boolean;
  workgroups: [number, number];
  /** Every storage binding's size, once per (buffer, offset). */
  bytes: number;
  /** µs a dispatch: timestamps where the device has them, else wall. */
  us: number; usWall: number; usTimestamp: number | null;
  /**
   * µs of the dispatch inside the step (timestamps only, else null): the step run with each dispatch in a
   * compute pass of its own with timestamps around it, so it finds the caches as the step leaves them
   * (alone, a dispatch replayed `reps` times reads weights that stay in the L2 cache: 50 MiB on an H100).
   */
  inStepUs: number | null;
  /** bytes ÷ us; null for gathers (embedding), which bind a whole table and read one row. */
  gbs: number | null;
}
export interface StepProfile {
  device: string; method: 'timestamp' | 'wall'; reps: number; stepReps: number; rounds: number;
  rows: ProfileRow[];
  byKernel: { kernel: string; count: number; us: number; share: number; inStepUs: number | null }[];
  /** Σ rows' inStepUs (timestamps only). */
  inStepSumUs: number | null;
  /** Σ rows' µs, and the whole step replayed back to back (µs a step, same method; wall beside). */
  sumUs: number; stepUs: number; stepUsWall: number;
  /** The captured step: its dispatches as the backend counted them, its copies and clears (and those left out of the step replay). */
  dispatches: number; copies: number; clears: number; skippedCopies: number;
  /** Timestamps whose every difference is a multiple of 10 µs or more: Dawn's quantization is on. */
  quantized: boolean;
}

const kernelOf = (label: string) => label.split('|')[0];
const variantOf = (label: string) => label.split('|').slice(1).filter(Boolean).join(' ');

/** Sum of the distinct storage bindings' sizes. */
function boundBytes(b: { buffer: GPUBuffer; offset: number; size: number }[]): number {
  const seen = new Map<GPUBuffer, Set<number>>();
  let sum = 0;
  for (const x of b) {
    let s = seen.get(x.buffer);
    if (!s) seen.set(x.buffer, (s = new Set()));
    if (s.has(x.offset)) continue;
    s.add(x.offset);
    sum += x.size;
  }
  return sum;
}

/**
 * The profile of one decode step of `model` (on the webgpu backend): see the header. Decodes a few tokens
 * in a throwaway session first (`warmTokens`: the step gets recorded and the pools settle).
 */
export async function profileDecodeStep(model: Model, opts: { reps?: number; stepReps?: number; rounds?: number; prompt?: number; warmTokens?: number } = {}): Promise<StepProfile> {
  const reps = opts.reps ?? 100, stepReps = opts.stepReps ?? 20, rounds = opts.rounds ?? 3;
  const backend = (model as unknown as { parts: { backend: WebGpuBackend } }).parts.backend;
  if (backend.name !== 'webgpu') throw new Error(`profileDecodeStep: the model runs on ${backend.name}, not webgpu`);
  const dev = backend.gpuDevice;
  const session = model.createSession();
  let profile: StepProfile;
  try {
    let seed = 12345; // prompt ids below 100: every vocabulary has them
    const prompt = Array.from({ length: opts.prompt ?? 16 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % 100);
    await session.prefill(prompt);
    await session.generate([], { temperature: 0, maxTokens: opts.warmTokens ?? 6, ignoreEos: true }).finished;
    const cap = backend.captureSubmissions();
    let subs;
    try {
      await session.generate([], { temperature: 0, maxTokens: 3, ignoreEos: true }).finished;
      subs = cap.stop();
    } catch (e) { cap.release(); throw e; }
    const steps = subs.filter((s) => s.commands.some((c) => c.kind === 'dispatch' && c.replayed));
    if (steps.length === 0) { cap.release(); throw new Error('profileDecodeStep: the decode replayed no recorded step (WebGpuBackend.recordSteps off, or a model whose step is not recorded)'); }
    const step = steps[steps.length - 1];
    try {
      profile = await measure(dev, step.commands, step.dispatches, { reps, stepReps, rounds });
    } finally { cap.release(); }
    profile.device = model.backendInfo.device ?? '?';
  } finally {
    await session.dispose();
  }
  return profile;
}

type DispatchCmd = Extract<CapturedCommand, { kind: 'dispatch' }>;

async function measure(dev: GPUDevice, commands: CapturedCommand[], counted: number, o: { reps: number; stepReps: number; rounds: number }): Promise<StepProfile> {
  const dispatches = commands.filter((c): c is DispatchCmd => c.kind === 'dispatch');
  // Copies into read-back buffers stay out of the step replay (the host may hold one mapped).
  const stepCmds = commands.filter((c) => !(c.kind === 'copy' && (c.dst.usage & MAP_READ)));
  const slots = dispatches.length + 1; // + the whole step
  const useTs = dev.features.has('timestamp-query');
  const qs = useTs ? dev.createQuerySet({ type: 'timestamp', count: 2 * slots }) : null;
  const resolveBuf = useTs ? dev.createBuffer({ size: 16 * slots, usage: QUERY_RESOLVE | COPY_SRC }) : null;
  const readBuf = useTs ? dev.createBuffer({ size: 16 * slots, usage: MAP_READ | COPY_DST }) : null;
  const wall = new Array<number>(slots).fill(Infinity);
  const ts = new Array<number>(slots).fill(Infinity);
  const deltas: number[] = [];
  // In-step timestamps: a pair a dispatch a step, for as many steps as 4,096 queries (WebGPU's limit) hold.
  const inReps = Math.max(1, Math.min(o.stepReps, Math.floor(4096 / (2 * Math.max(1, dispatches.length)))));
  const qsIn = useTs && dispatches.length ? dev.createQuerySet({ type: 'timestamp', count: 2 * dispatches.length * inReps }) : null;
  const inBytes = 16 * dispatches.length * inReps;
  const inResolve = qsIn ? dev.createBuffer({ size: inBytes, usage: QUERY_RESOLVE | COPY_SRC }) : null;
  const inRead = qsIn ? dev.createBuffer({ size: inBytes, usage: MAP_READ | COPY_DST }) : null;
  const inStep = new Array<number>(dispatches.length).fill(Infinity);
  const timed = async (encode: (enc: GPUCommandEncoder) => void): Promise<number> => {
    const enc = dev.createCommandEncoder();
    encode(enc);
    const cb = enc.finish();
    const t0 = performance.now();
    dev.queue.submit([cb]);
    await dev.queue.onSubmittedWorkDone();
    return (performance.now() - t0) * 1000;
  };
  dev.pushErrorScope('validation');
  try {
    for (let round = 0; round < o.rounds; round++) {
      let empty = Infinity;
      for (let k = 0; k < 3; k++) empty = Math.min(empty, await timed(() => {}));
      for (let i = 0; i < dispatches.length; i++) {
        const d = dispatches[i];
        const us = await timed((enc) => {
          const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } } : undefined);
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, d.group);
          for (let r = 0; r < o.reps; r++) pass.dispatchWorkgroups(d.x, d.y);
          pass.end();
        });
        wall[i] = Math.min(wall[i], Math.max(0, us - empty) / o.reps);
      }
      const s = dispatches.length;
      const us = await timed((enc) => {
        if (qs) enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * s } }).end();
        for (let r = 0; r < o.stepReps; r++) encodeStep(enc, stepCmds);
        if (qs) enc.beginComputePass({ timestampWrites: { querySet: qs, endOfPassWriteIndex: 2 * s + 1 } }).end();
      });
      wall[s] = Math.min(wall[s], Math.max(0, us - empty) / o.stepReps);
      if (qs) {
        const enc = dev.createCommandEncoder();
        enc.resolveQuerySet(qs, 0, 2 * slots, resolveBuf!, 0);
        enc.copyBufferToBuffer(resolveBuf!, 0, readBuf!, 0, 16 * slots);
        dev.queue.submit([enc.finish()]);
        await readBuf!.mapAsync(MAP_READ);
        const t = new BigUint64Array(readBuf!.getMappedRange().slice(0));
        readBuf!.unmap();
        for (let i = 0; i < slots; i++) {
          const ns = Number(t[2 * i + 1] - t[2 * i]);
          deltas.push(ns);
          ts[i] = Math.min(ts[i], ns / 1000 / (i === s ? o.stepReps : o.reps));
        }
      }
      if (qsIn) {
        const enc = dev.createCommandEncoder();
        for (let r = 0; r < inReps; r++) encodeStep(enc, stepCmds, qsIn, 2 * dispatches.length * r);
        enc.resolveQuerySet(qsIn, 0, 2 * dispatches.length * inReps, inResolve!, 0);
        enc.copyBufferToBuffer(inResolve!, 0, inRead!, 0, inBytes);
        dev.queue.submit([enc.finish()]);
        await inRead!.mapAsync(MAP_READ);
        const t = new BigUint64Array(inRead!.getMappedRange().slice(0));
        inRead!.unmap();
        for (let r = 0; r < inReps; r++) {
          for (let i = 0; i < dispatches.length; i++) {
            const k = 2 * (dispatches.length * r + i);
            inStep[i] = Math.min(inStep[i], Number(t[k + 1] - t[k]) / 1000);
          }
        }
      }
    }
  } finally {
    const err = await dev.popErrorScope();
    qs?.destroy(); resolveBuf?.destroy(); readBuf?.destroy(); qsIn?.destroy(); inResolve?.destroy(); inRead?.destroy();
    if (err) throw new Error(`profileDecodeStep: a replayed command failed validation: ${err.message}`);
  }
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const quantized = useTs && deltas.filter((d) => d > 0).reduce((a, d) => gcd(a, d), 0) >= 10_000;
  const rows: ProfileRow[] = dispatches.map((d, i) => {
    const us = useTs ? ts[i] : wall[i];
    const bytes = boundBytes(d.bindings);
    const kernel = kernelOf(d.label);
    return {
      index: i, kernel, label: d.label, replayed: d.replayed, workgroups: [d.x, d.y], bytes,
      us, usWall: wall[i], usTimestamp: useTs ? ts[i] : null, inStepUs: qsIn ? inStep[i] : null,
      gbs: kernel.startsWith('embedding') || !(us > 0) ? null : bytes / us / 1e3,
    };
  });
  const sumUs = rows.reduce((a, r) => a + r.us, 0);
  const groups = new Map<string, StepProfile['byKernel'][number]>();
  for (const r of rows) {
    const g = groups.get(r.kernel) ?? { kernel: r.kernel, count: 0, us: 0, share: 0, inStepUs: qsIn ? 0 : null };
    g.count++; g.us += r.us;
    if (g.inStepUs !== null) g.inStepUs += r.inStepUs!;
    groups.set(r.kernel, g);
  }
  const byKernel = [...groups.values()].sort((a, b) => b.us - a.us);
  for (const g of byKernel) g.share = sumUs > 0 ? g.us / sumUs : 0;
  const s = dispatches.length;
  return {
    device: '', method: useTs ? 'timestamp' : 'wall', reps: o.reps, stepReps: o.stepReps, rounds: o.rounds,
    rows, byKernel, sumUs, inStepSumUs: qsIn ? rows.reduce((a, r) => a + r.inStepUs!, 0) : null, stepUs: useTs ? ts[s] : wall[s], stepUsWall: wall[s],
    dispatches: counted, copies: commands.filter((c) => c.kind === 'copy').length, clears: commands.filter((c) => c.kind === 'clear').length,
    skippedCopies: commands.length - stepCmds.length, quantized,
  };
}

/**
 * The captured commands in order, as WebGpuBackend.submit encodes them: one pass per run of dispatches;
 * with `qs`, one pass per dispatch instead, timestamps at its beginning and end from index `at` on.
 */
function encodeStep(enc: GPUCommandEncoder, cmds: CapturedCommand[], qs?: GPUQuerySet, at = 0): void {
  let pass: GPUComputePassEncoder | null = null;
  let last: GPUComputePipeline | null = null;
  for (const c of cmds) {
    if (c.kind === 'dispatch') {
      if (qs) {
        const p = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: at, endOfPassWriteIndex: at + 1 } });
        at += 2;
        p.setPipeline(c.pipeline);
        p.setBindGroup(0, c.group);
        p.dispatchWorkgroups(c.x, c.y);
        p.end();
        continue;
      }
      if (!pass) { pass = enc.beginComputePass(); last = null; }
      if (c.pipeline !== last) { pass.setPipeline(c.pipeline); last = c.pipeline; }
      pass.setBindGroup(0, c.group);
      pass.dispatchWorkgroups(c.x, c.y);
      continue;
    }
    if (pass) { pass.end(); pass = null; }
    if (c.kind === 'clear') enc.clearBuffer(c.buffer, 0, c.size);
    else enc.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
  }
  if (pass) pass.end();
}

/** The profile as text: the rows, the rows by kernel, the sum beside the whole step. */
export function formatProfile(name: string, p: StepProfile): string {
  const f = (x: number, d = 1) => x.toFixed(d);
  const out: string[] = [];
  out.push(`## ${name} on ${p.device}: ${p.rows.length} dispatches a step (backend counted ${p.dispatches}), ${p.copies} copies, ${p.clears} clears; ` +
    `${p.method} time, ${p.reps} reps a dispatch, ${p.stepReps} steps back to back, best of ${p.rounds}`);
  if (p.quantized) out.push('WARNING: the timestamps look quantized (every difference a multiple of ≥ 10 µs): run with MAMBA_EDGE_DAWN_FLAGS=disable-dawn-features=timestamp_quantization');
  const inS = p.inStepSumUs !== null;
  out.push('', '| # | kernel | variant | workgroups | bytes bound | µs | GB/s |' + (p.method === 'timestamp' ? ' µs (wall) |' : '') + (inS ? ' µs in step | GB/s in step |' : ''),
    '|---:|---|---|---:|---:|---:|---:|' + (p.method === 'timestamp' ? '---:|' : '') + (inS ? '---:|---:|' : ''));
  for (const r of p.rows) {
    const inGbs = r.inStepUs !== null && r.gbs !== null && r.inStepUs > 0 ? f(r.bytes / r.inStepUs / 1e3) : '—';
    out.push(`| ${r.index} | ${r.kernel}${r.replayed ? '' : ' (sampling)'} | ${variantOf(r.label)} | ${r.workgroups[1] > 1 ? `${r.workgroups[0]}×${r.workgroups[1]}` : r.workgroups[0]} | ` +
      `${(r.bytes / 2 ** 20).toFixed(3)} MiB | ${f(r.us, 2)} | ${r.gbs === null ? '—' : f(r.gbs)} |` + (p.method === 'timestamp' ? ` ${f(r.usWall, 2)} |` : '') +
      (inS ? ` ${f(r.inStepUs!, 2)} | ${inGbs} |` : ''));
  }
  out.push('', '| kernel | dispatches | µs | share of the sum |' + (inS ? ' µs in step | share |' : ''), '|---|---:|---:|---:|' + (inS ? '---:|---:|' : ''));
  for (const g of p.byKernel) {
    out.push(`| ${g.kernel} | ${g.count} | ${f(g.us)} | ${f(100 * g.share)} % |` + (inS ? ` ${f(g.inStepUs!)} | ${f(100 * g.inStepUs! / (p.inStepSumUs! || 1))} % |` : ''));
  }
  if (inS) out.push('', `sum of the dispatches in the step (one pass each, timestamps around each): ${f(p.inStepSumUs!)} µs`);
  out.push('', `sum of the dispatches alone: ${f(p.sumUs)} µs; the whole step back to back: ${f(p.stepUs)} µs a step (wall ${f(p.stepUsWall)}); ` +
    `difference (dispatch boundaries, passes, copies): ${f(p.stepUs - p.sumUs)} µs` + (p.skippedCopies ? ` (${p.skippedCopies} read-back copies left out of the step replay)` : ''));
  return out.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const names = arg('models', 'mamba-130m,mamba2-130m').split(',') as BenchModelName[];
  const tiny = process.argv.includes('--tiny');
  const vocab = Number(arg('vocab', '0'));
  const opts = { reps: Number(arg('reps', tiny ? '10' : '100')), stepReps: Number(arg('step-reps', tiny ? '3' : '20')), rounds: Number(arg('rounds', '3')) };
  requestTimestampQueries(!process.argv.includes('--no-timestamps'));
  process.env.MAMBA_EDGE_DAWN_FLAGS ??= 'disable-dawn-features=timestamp_quantization'; // read when the first device is made
  const json: Record<string, StepProfile> = {};
  for (const name of names) {
    if (!(name in BENCH_MODELS)) { console.error(`unknown model ${name}; known: ${Object.keys(BENCH_MODELS).join(', ')}`); process.exit(2); }
    const shape = { ...BENCH_MODELS[name], ...(tiny ? { numLayers: 2 } : {}), ...(vocab > 0 ? { vocabSize: vocab } : {}) };
    const t0 = performance.now();
    const model = await loadModel(randomModelFiles(shape), { backend: 'webgpu' });
    const p = await profileDecodeStep(model, opts);
    const label = name + (tiny ? ' (2 layers)' : '') + (vocab > 0 ? ` (vocab ${vocab})` : '');
    console.log(formatProfile(label, p) + `\n(${((performance.now() - t0) / 1000).toFixed(1)} s with loading)\n`);
    json[label] = { ...p, rows: p.rows };
    await model.dispose();
  }
  const out = arg('json', '');
  if (out) writeFileSync(out, JSON.stringify(json, null, 1));
  process.exit(0);
}
