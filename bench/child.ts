/**
 * One mamba-edge measurement in its own process (spawned by bench/run.ts), printed as one
 * JSON line. The same measurement as `mamba-edge bench` (src/cli/measure.ts: seeded random
 * prompt ids, a short warm-up, prefill, then greedy decoding one token at a time) through the
 * library directly, so memory can be told apart: the process's high-water mark (which
 * includes loading: the file bytes and the weights in WebAssembly memory are both alive for
 * a moment), the RSS sampled while the prompt and the tokens run, and the backend's arena.
 *
 *   node --import tsx bench/child.ts --model DIR --backend wasm --threads 1 --dtype f32 --prompt-tokens 512 --gen-tokens 128
 */
import { loadModel } from '../src/node.js';
import { measureSpeed } from '../src/cli/measure.js';
import type { BackendName, LoadDType } from '../src/api/types.js';

export interface ChildResult {
  engine: string;
  backend: string;
  threads: number;
  dtype: string;
  parameters: number;
  weightBytes: number;
  stateBytes: number;
  promptTokens: number;
  genTokens: number;
  loadMs: number;
  prefillMs: number;
  prefillTokensPerSec: number;
  /** Prompt submitted → first token chosen: prefill (which returns the last position's logits) + greedy pick. */
  ttftMs: number;
  decodeMs: number;
  decodeTokensPerSec: number;
  /** Kernel high-water mark of the process (getrusage maxrss), loading included. */
  peakRssBytes: number;
  /** Highest RSS sampled after loading, during prefill and decode. */
  runRssBytes: number;
  rssAfterLoadBytes: number;
  /** RSS before loading: the runtime itself (Node, tsx, the library's code). */
  rssBaselineBytes: number;
  /** The wasm backend's arena high-water mark (weights + state + activations), if it has one. */
  arenaPeakBytes?: number;
  note?: string;
}

function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  if (def === undefined) throw new Error(`--${name} is required`);
  return def;
}

async function main(): Promise<ChildResult> {
  const backend = arg('backend', 'wasm') as BackendName;
  const threads = Number(arg('threads', '1'));
  const dtype = arg('dtype', 'f32') as LoadDType;
  const rssBaselineBytes = process.memoryUsage().rss;
  const t0 = performance.now();
  const model = await loadModel(arg('model'), { backend, dtype, threads });
  const loadMs = performance.now() - t0;
  const rssAfterLoadBytes = process.memoryUsage().rss;
  let runRss = rssAfterLoadBytes;
  try {
    const promptTokens = Number(arg('prompt-tokens', '512'));
    const speed = await measureSpeed(model, {
      promptTokens, genTokens: Number(arg('gen-tokens', '128')), seed: 1,
      onSample: () => { runRss = Math.max(runRss, process.memoryUsage().rss); },
      onPrefillProgress: () => { runRss = Math.max(runRss, process.memoryUsage().rss); },
    });
    const arena = (model as unknown as { parts?: { backend?: { peakBytes?: number } } }).parts?.backend?.peakBytes;
    const b = model.backendInfo;
    return {
      engine: `mamba-edge ${model.backend}`,
      backend: model.backend,
      threads: b.threads,
      dtype: model.info.dtype,
      parameters: model.info.parameters,
      weightBytes: model.info.weightBytes,
      stateBytes: model.info.stateBytes,
      loadMs,
      ...speed,
      ttftMs: speed.prefillMs,
      peakRssBytes: Math.max(runRss, process.resourceUsage().maxRSS * 1024),
      runRssBytes: runRss,
      rssAfterLoadBytes,
      rssBaselineBytes,
      ...(arena !== undefined ? { arenaPeakBytes: arena } : {}),
      ...(b.note ? { note: b.note } : {}),
    };
  } finally {
    await model.dispose();
  }
}

main().then((r) => { process.stdout.write(`${JSON.stringify(r)}\n`); process.exit(0); }, (e) => {
  console.error(e instanceof Error ? `${(e as { code?: string }).code ? `${(e as { code?: string }).code}: ` : ''}${e.message}` : e);
  process.exit(1);
});
