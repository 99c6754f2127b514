/**
 * Where mamba-edge's wasm backend spends a decode step (and a prefill): wraps the backend's
 * Executor so every kernel call is timed on the calling thread (with threads > 1 that is the
 * coordinator's share plus its wait at the barrier, i.e. the op's wall time). Bench-only:
 * nothing in src/ changes. Matmuls are keyed by shape, so the lm_head and each projection
 * show separately; "outside kernels" is the step's wall time not spent in any kernel call
 * (JavaScript: graph, allocation, reading logits, argmax, the event loop).
 *
 * Planned decode steps (WasmBackend.recordStep) call prepared kernels (Executor.prepare): those
 * are timed too. `--no-plan` profiles the op-by-op path instead (no plans, in_proj as parts).
 *
 *   node --import tsx bench/profile.ts --model DIR [--threads 1] [--dtype f32] [--prompt-tokens 512] [--gen-tokens 64] [--no-plan] [--json]
 */
import { loadModel } from '../src/node.js';
import { argmax, seededRandom } from '../src/cli/measure.js';
import type { LoadDType } from '../src/api/types.js';
import { WasmBackend } from '../src/backends/wasm/index.js';

interface Executor {
  threads: number;
  run(kernel: string, args: number[], n: number, work?: number): void;
  prepare(kernel: string, args: number[], n: number, work?: number): () => void;
}
interface Acc { ms: number; calls: number; bytes: number; flops: number }

export interface ProfileRow {
  op: string;
  msPerToken: number;
  share: number;
  calls: number;
  /** Weight bytes streamed per second (matmuls; meaningful for decode, where each call reads its weights once). */
  gbPerSec?: number;
  /** 2·rows·K·M per second (matmuls; meaningful for prefill). */
  gflops?: number;
}
export interface ProfileResult {
  model: string;
  threads: number;
  dtype: string;
  decode: { tokensPerSec: number; msPerToken: number; tokens: number; rows: ProfileRow[] };
  prefill: { tokensPerSec: number; promptTokens: number; rows: ProfileRow[] };
}

const W_BYTES: Record<string, number> = { matmul_f32: 4, matmul_f16: 2, matmul_q8_0: 34 / 32 };

function keyOf(kernel: string, args: number[]): { key: string; bytes: number; flops: number } {
  if (kernel.startsWith('matmul_')) {
    const [, , , , rows, K, M] = args;
    return { key: `${kernel} ${K}→${M}`, bytes: K * M * W_BYTES[kernel], flops: 2 * rows * K * M };
  }
  return { key: kernel, bytes: 0, flops: 0 };
}

function rowsOf(acc: Map<string, Acc>, totalMs: number, tokens: number): ProfileRow[] {
  const kernelMs = [...acc.values()].reduce((s, a) => s + a.ms, 0);
  const rows: ProfileRow[] = [...acc.entries()].map(([op, a]) => ({
    op,
    msPerToken: a.ms / tokens,
    share: a.ms / totalMs,
    calls: a.calls,
    ...(a.bytes ? { gbPerSec: a.bytes / (a.ms / 1000) / 1e9, gflops: a.flops / (a.ms / 1000) / 1e9 } : {}),
  }));
  rows.sort((x, y) => y.msPerToken - x.msPerToken);
  rows.push({ op: 'outside kernels (JS)', msPerToken: (totalMs - kernelMs) / tokens, share: (totalMs - kernelMs) / totalMs, calls: 0 });
  return rows;
}

/** Loads on the wasm backend; `plan` false: no decode plans and the graphs' projections as separate parts (no rowView). */
export async function loadWasm(dir: string, opts: { threads: number; dtype: LoadDType; plan?: boolean; wasmModules?: { as: WebAssembly.Module; c: WebAssembly.Module } }) {
  const proto = WasmBackend.prototype as { rowView?: unknown };
  const rowView = proto.rowView;
  if (opts.plan === false) proto.rowView = undefined;
  try {
    const model = await loadModel(dir, { backend: 'wasm', threads: opts.threads, dtype: opts.dtype, ...(opts.wasmModules ? { wasmModules: opts.wasmModules } : {}) });
    (model as unknown as { parts: { backend: WasmBackend } }).parts.backend.planSteps = opts.plan !== false;
    return model;
  } finally {
    proto.rowView = rowView;
  }
}

export async function profile(o: { model: string; threads: number; dtype: LoadDType; promptTokens: number; genTokens: number; plan?: boolean }): Promise<ProfileResult> {
  const model = await loadWasm(o.model, o);
  try {
    const backend = (model as unknown as { parts: { backend: { exec: Executor } } }).parts.backend;
    const exec = backend.exec;
    const run = exec.run.bind(exec), prepare = exec.prepare.bind(exec);
    let acc = new Map<string, Acc>();
    const count = (kernel: string, args: number[], ms: number) => {
      const { key, bytes, flops } = keyOf(kernel, args);
      let a = acc.get(key);
      if (!a) acc.set(key, (a = { ms: 0, calls: 0, bytes: 0, flops: 0 }));
      a.ms += ms;
      a.calls += 1;
      a.bytes += bytes;
      a.flops += flops;
    };
    exec.run = (kernel, args, n, work) => {
      const t0 = performance.now();
      run(kernel, args, n, work);
      count(kernel, args, performance.now() - t0);
    };
    exec.prepare = (kernel, args, n, work) => {
      const call = prepare(kernel, args, n, work), saved = [...args];
      return () => {
        const t0 = performance.now();
        call();
        count(kernel, saved, performance.now() - t0);
      };
    };
    const rand = seededRandom(1);
    const ids = Array.from({ length: o.promptTokens }, () => Math.floor(rand() * model.config.vocabSize));
    // warm-up (JIT), as the bench does
    const w = model.createSession();
    await w.prefill(ids.slice(0, 4));
    await w.step(ids[0]);
    await w.dispose();

    const s = model.createSession();
    acc = new Map();
    let t0 = performance.now();
    let logits = await s.prefill(ids);
    const prefillMs = performance.now() - t0;
    const prefillRows = rowsOf(acc, prefillMs, o.promptTokens);
    acc = new Map();
    t0 = performance.now();
    for (let i = 0; i < o.genTokens; i++) logits = await s.step(argmax(logits));
    const decodeMs = performance.now() - t0;
    await s.dispose();
    return {
      model: model.info.architecture,
      threads: model.backendInfo.threads,
      dtype: o.dtype,
      decode: { tokensPerSec: (o.genTokens * 1000) / decodeMs, msPerToken: decodeMs / o.genTokens, tokens: o.genTokens, rows: rowsOf(acc, decodeMs, o.genTokens) },
      prefill: { tokensPerSec: (o.promptTokens * 1000) / prefillMs, promptTokens: o.promptTokens, rows: prefillRows },
    };
  } finally {
    await model.dispose();
  }
}

export function formatProfile(r: ProfileResult, top = 12): string {
  const lines = [`${r.model} wasm ${r.dtype} threads ${r.threads}: decode ${r.decode.tokensPerSec.toFixed(1)} tok/s (${r.decode.msPerToken.toFixed(2)} ms/token), prefill ${r.prefill.tokensPerSec.toFixed(0)} tok/s (${r.prefill.promptTokens} tokens)`];
  const fmt = (rows: ProfileRow[], tokens: number, decode: boolean) => {
    const js = rows[rows.length - 1];
    return [...rows.slice(0, Math.min(top, rows.length - 1)), js].map((x) => {
      const rateCol = decode ? (x.gbPerSec === undefined ? '' : `  ${x.gbPerSec.toFixed(1)} GB/s of weights`) : (x.gflops === undefined ? '' : `  ${x.gflops.toFixed(1)} GFLOP/s`);
      const calls = x.calls ? `${(x.calls / tokens).toFixed(decode ? 0 : 2).padStart(5)} calls/tok` : '               ';
      return `  ${x.op.padEnd(24)} ${(x.msPerToken * 1000).toFixed(0).padStart(7)} µs/tok ${(100 * x.share).toFixed(1).padStart(5)}%  ${calls}${rateCol}`;
    });
  };
  lines.push(' decode:', ...fmt(r.decode.rows, r.decode.tokens, true));
  lines.push(' prefill:', ...fmt(r.prefill.rows, r.prefill.promptTokens, false));
  return lines.join('\n');
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : def;
}

if (process.argv[1]?.endsWith('profile.ts')) {
  profile({
    model: arg('model', ''),
    threads: Number(arg('threads', '1')),
    dtype: arg('dtype', 'f32') as LoadDType,
    promptTokens: Number(arg('prompt-tokens', '512')),
    genTokens: Number(arg('gen-tokens', '64')),
    plan: !process.argv.includes('--no-plan'),
  }).then((r) => {
    process.stdout.write(process.argv.includes('--json') ? `${JSON.stringify(r)}\n` : `${formatProfile(r)}\n`);
    process.exit(0);
  }, (e) => { console.error(e); process.exit(1); });
}
