/**
 * WebGPU speed on random-weight models shaped like state-spaces/mamba-130m and mamba2-130m
 * (tools/random-model.ts, f32): prefill tokens/s for prompts of --prefill lengths, decode tokens/s
 * (greedy generate, the real path: with Backend.deviceSampling the token is sampled on the GPU and
 * the next step is submitted before it is read back; also top-k sampled, and greedy with run-ahead
 * off — one submission and one top-1 read-back per token, in series), and the device's
 * copy bandwidth (a 128 MiB buffer through the copy kernel) for the decode roofline
 * (bandwidth ÷ weight bytes read per token).
 *
 *   node --import tsx bench/webgpu.ts [--models mamba-130m,mamba2-130m] [--prefill 1024,16384]
 *                                     [--decode 128] [--json out.json] [--tiny]
 * --tiny: a 2-layer model of the same widths, for a smoke run on a software adapter.
 */
import { writeFileSync } from 'node:fs';
import { loadModel } from '../src/node.js';
import type { Backend } from '../src/backends/backend.js';
import type { GenerateOptions } from '../src/api/types.js';
import { SessionImpl } from '../src/api/session.js';
import { randomModelFiles, type RandomModelOptions } from '../tools/random-model.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const tiny = process.argv.includes('--tiny');
const SHAPES: Record<string, RandomModelOptions> = {
  'mamba-130m': { modelType: 'mamba', vocabSize: 50280, hiddenSize: 768, numLayers: 24, stateSize: 16, seed: 1 },
  'mamba2-130m': { modelType: 'mamba2', vocabSize: 50288, hiddenSize: 768, numLayers: 24, stateSize: 128, headDim: 64, nGroups: 1, chunkSize: 256, seed: 1 },
};

interface Row {
  model: string; device: string; prefill: Record<string, number>; decodeTokPerSec: number; decodeSampledTokPerSec: number; decodeNoRunAheadTokPerSec?: number; decodeOtherDepthTokPerSec?: number; weightBytes: number; copyReadGBs: number; rooflineTokPerSec: number;
  decodeBreakdown: { jsMs: number; encodeMs: number; dispatches: number; pipelinedMs: number; roundTripMs: number; gpuMs?: number };
}

/** Read bandwidth of the copy kernel: 10 copies of 128 MiB per submission, best of 4 (after a warm-up). */
async function copyBandwidth(b: Backend): Promise<number> {
  const n = 32 * 1024 * 1024; // 128 MiB of f32: fits every binding limit, larger than any L2
  const src = b.zeros([n, 1]);
  const REPS = 10;
  let best = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const outs = Array.from({ length: REPS }, () => b.sliceRows(src, 0, n));
    const probe = b.sliceRows(outs[REPS - 1], n - 1, 1);
    await b.read(probe); // waits for every copy
    const s = (performance.now() - t0) / 1000;
    if (i > 0) best = Math.max(best, (REPS * 4 * n) / s); // bytes read by the copies
    b.free(...outs, probe);
  }
  b.free(src);
  return best;
}

interface Internals {
  allocState(batch: number): import('../src/backends/backend.js').Tensor[];
  run(state: unknown[], ids: Int32Array, batch: number, seq: number, output: 'none'): Promise<unknown>;
  parts: { backend: Backend; graph: import('../src/models/graph.js').ModelGraph; cfg: import('../src/api/types.js').ModelConfig; weights: unknown };
}

/**
 * Where a decode step's time goes: the host's share (recording ~250 ops), the pipelined step time
 * with no read-back between steps (GPU + encoding, overlapped), and one read-back round trip.
 */
async function decodeBreakdown(model: Internals): Promise<Row['decodeBreakdown']> {
  const b = model.parts.backend;
  const stats = (b as unknown as { stats?: { encodeMs: number; dispatches: number } }).stats ?? { encodeMs: 0, dispatches: 0 };
  const state = model.allocState(1);
  const STEPS = 64;
  await model.run(state, Int32Array.of(7), 1, 1, 'none');
  await b.read(state[0]);
  let js = 0;
  const enc0 = stats.encodeMs, disp0 = stats.dispatches;
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    const tj = performance.now();
    await model.run(state, Int32Array.of((i * 31) % 50000), 1, 1, 'none');
    js += performance.now() - tj;
  }
  await b.read(state[0]);
  const pipelinedMs = (performance.now() - t0) / STEPS;
  const encodeMs = (stats.encodeMs - enc0) / STEPS;
  const dispatches = (stats.dispatches - disp0) / STEPS;
  const tiny = b.zeros([1, 1]);
  await b.read(tiny);
  const trips: number[] = [];
  for (let i = 0; i < 21; i++) {
    const tr = performance.now();
    await b.read(tiny);
    trips.push(performance.now() - tr);
  }
  trips.sort((x, y) => x - y);
  const roundTripMs = trips[10];
  // The GPU's own time for a step's layers (embedding → final norm, no head): 16 steps recorded
  // before anything is submitted (the ids come from a device-sampled token, so no host write splits
  // the submission), then one submission: (wall − encoding − one round trip) / 16. Best of 3.
  let gpuMs: number | undefined;
  const ds = b.deviceSampling;
  if (ds) {
    const { graph, cfg, weights } = model.parts;
    const logits = b.zeros([1, cfg.vocabSize]);
    const token = ds.sample(logits, { temperature: 0, topK: 1, topP: 1 }, 0);
    await ds.read(token);
    const G = 16;
    for (let rep = 0; rep < 3; rep++) {
      for (let i = 0; i < G; i++) b.free(graph.forward({ backend: b, cfg, weights, state, batch: 1, seq: 1 }, ds.ids(token)));
      const e0 = stats.encodeMs;
      const tg = performance.now();
      await b.read(tiny);
      const ms = (performance.now() - tg - (stats.encodeMs - e0) - roundTripMs) / G;
      gpuMs = gpuMs === undefined ? ms : Math.min(gpuMs, ms);
    }
    ds.release(token);
    b.free(logits);
  }
  b.free(tiny, ...state);
  return { jsMs: js / STEPS - encodeMs, encodeMs, dispatches, pipelinedMs, roundTripMs, gpuMs };
}

async function benchModel(name: string): Promise<Row> {
  const shape = { ...SHAPES[name], ...(tiny ? { numLayers: 2 } : {}) };
  const t0 = performance.now();
  const files = randomModelFiles(shape);
  const model = await loadModel(files, { backend: 'webgpu' });
  console.error(`${name}: model ready in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${model.backendInfo.device}`);
  const rand = (n: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % 50000);
  // Warm-up: compile every pipeline (prefill and step forms).
  const warm = model.createSession();
  await warm.prefill(rand(300));
  // 32 tokens: run-ahead decode holds a few buffers across steps, so the pool's buffers (and the bind
  // groups cached on them) take some steps to settle; the first measured decode should not pay that.
  await warm.generate([], { temperature: 0, maxTokens: 32, ignoreEos: true }).finished;
  await warm.dispose();

  const prefill: Record<string, number> = {};
  for (const n of arg('prefill', '1024,16384').split(',').map(Number)) {
    const s = model.createSession();
    const ids = rand(n);
    const ts = performance.now();
    await s.prefill(ids);
    prefill[n] = n / ((performance.now() - ts) / 1000);
    console.error(`${name}: prefill ${n} tokens: ${prefill[n].toFixed(0)} tokens/s`);
    await s.dispose();
  }

  const D = Number(arg('decode', '128'));
  const backend = (model as unknown as Internals).parts.backend;
  /** Tokens/s of one session.generate over D tokens after a 16-token prompt (first to last token). */
  const decodeRate = async (opts: GenerateOptions, what: string) => {
    const s = model.createSession();
    await s.prefill(rand(16));
    const stamps: number[] = [];
    const st = (backend as unknown as { stats?: { encodeMs: number; dispatches: number; submits: number } }).stats;
    let enc0 = 0, disp0 = 0;
    for await (const _ of s.generate([], { ...opts, maxTokens: D, ignoreEos: true })) {
      stamps.push(performance.now());
      if (stamps.length === 1 && st) { enc0 = st.encodeMs; disp0 = st.dispatches; }
    }
    const rate = (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000);
    const per = (x: number) => (x / (stamps.length - 1)).toFixed(2);
    const host = st ? `; host encoding + submitting ${per(st.encodeMs - enc0)} ms and ${per(st.dispatches - disp0)} dispatches a token` : '';
    console.error(`${name}: decode ${what}: ${rate.toFixed(1)} tokens/s over ${stamps.length - 1} tokens (${(1000 / rate).toFixed(2)} ms a token${host})`);
    await s.dispose();
    return rate;
  };
  const ahead = backend.deviceSampling !== undefined;
  const decodeTokPerSec = await decodeRate({ temperature: 0 }, ahead ? 'greedy, run-ahead (token sampled on the GPU)' : 'greedy');
  const decodeSampledTokPerSec = await decodeRate({ temperature: 0.8, topK: 40, topP: 0.95, seed: 1 }, 'top-k 40 / top-p 0.95 / T 0.8');
  let decodeNoRunAheadTokPerSec: number | undefined;
  let decodeOtherDepthTokPerSec: number | undefined;
  if (ahead) {
    // The other run-ahead depth (1 ↔ 2), same process, for comparison.
    const depth = SessionImpl.runAheadDepth;
    SessionImpl.runAheadDepth = depth === 1 ? 2 : 1;
    decodeOtherDepthTokPerSec = await decodeRate({ temperature: 0 }, `greedy, run-ahead by ${SessionImpl.runAheadDepth} steps (default ${depth})`);
    SessionImpl.runAheadDepth = depth;
    // The same tree's one-read-back-per-token path (the host samples every token), for comparison.
    const ds = backend.deviceSampling;
    Object.defineProperty(backend, 'deviceSampling', { value: undefined, configurable: true });
    decodeNoRunAheadTokPerSec = await decodeRate({ temperature: 0 }, 'greedy, one read-back per token (run-ahead off)');
    Object.defineProperty(backend, 'deviceSampling', { value: ds, configurable: true });
  }

  const internals = model as unknown as Internals;
  const breakdown = await decodeBreakdown(internals);
  console.error(`${name}: decode step: ${breakdown.dispatches.toFixed(0)} dispatches; host ${breakdown.jsMs.toFixed(2)} ms recording + ${breakdown.encodeMs.toFixed(2)} ms encoding/submitting; ${breakdown.pipelinedMs.toFixed(2)} ms per step pipelined without read-back; read-back round trip ${breakdown.roundTripMs.toFixed(2)} ms${breakdown.gpuMs === undefined ? '' : `; GPU time of a step's layers ${breakdown.gpuMs.toFixed(2)} ms (16 in one submission)`}`);
  const copy = await copyBandwidth(internals.parts.backend);
  const weightBytes = model.info.weightBytes;
  const row: Row = {
    model: name + (tiny ? ' (2 layers)' : ''), device: model.backendInfo.device ?? '?', prefill, decodeTokPerSec, decodeSampledTokPerSec, decodeNoRunAheadTokPerSec, decodeOtherDepthTokPerSec, weightBytes,
    copyReadGBs: copy / 1e9, rooflineTokPerSec: copy / weightBytes, decodeBreakdown: breakdown,
  };
  console.error(`${name}: copy ${(copy / 1e9).toFixed(0)} GB/s read; decode roofline ${row.rooflineTokPerSec.toFixed(0)} tokens/s (${(weightBytes / 1e6).toFixed(0)} MB of weights per token)`);
  await model.dispose();
  return row;
}

const rows: Row[] = [];
for (const m of arg('models', 'mamba-130m,mamba2-130m').split(',')) rows.push(await benchModel(m));
const lens = Object.keys(rows[0].prefill);
console.log(`| model | device | ${lens.map((n) => `prefill ${n} (tok/s)`).join(' | ')} | decode (tok/s) | decode top-k 40 (tok/s) | decode, run-ahead off (tok/s) | copy read (GB/s) | decode roofline (tok/s) | of roofline |`);
console.log(`|---|---|${lens.map(() => '---:|').join('')}---:|---:|---:|---:|---:|---:|`);
for (const r of rows) {
  console.log(`| ${r.model} | ${r.device} | ${lens.map((n) => r.prefill[n].toFixed(0)).join(' | ')} | ${r.decodeTokPerSec.toFixed(1)} | ${r.decodeSampledTokPerSec.toFixed(1)} | ${r.decodeNoRunAheadTokPerSec?.toFixed(1) ?? '—'} | ${r.copyReadGBs.toFixed(0)} | ${r.rooflineTokPerSec.toFixed(0)} | ${((100 * r.decodeTokPerSec) / r.rooflineTokPerSec).toFixed(1)}% |`);
}
const out = arg('json', '');
if (out) writeFileSync(out, JSON.stringify(rows, null, 2));
