/**
 * Peer: llama.cpp native, through node-llama-cpp's prebuilt CPU binary. One measurement per
 * process (peak RSS is this run's alone), printed as one JSON line on stdout:
 *
 *   node --import tsx bench/peers/llama.ts --gguf FILE --threads 1 --prompt-tokens 512 --gen-tokens 128
 *
 * Weights are read into process memory (useMmap: false: this VM pages mmapped file pages out
 * and decode would re-read them from disk), no GPU layers. The prompt is the same seeded
 * random ids mamba-edge's bench uses (src/cli/measure.ts), fed as token ids; decoding is
 * greedy (temperature 0). As in mamba-edge's bench: a short warm-up first; prefill = the
 * prompt evaluated up to the first generated token (so prefill time = time to first token),
 * decode = the next gen-tokens tokens, each one evaluation + one greedy sample.
 */
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { seededRandom } from '../../src/cli/measure.js';

export interface PeerResult {
  engine: string;
  threads: number;
  promptTokens: number;
  genTokens: number;
  loadMs: number;
  prefillMs: number;
  prefillTokensPerSec: number;
  ttftMs: number;
  decodeMs: number;
  decodeTokensPerSec: number;
  peakRssBytes: number;
  /** The first generated token ids (greedy), to check the GGUF is the same model. */
  tokens: number[];
}

export function promptIds(n: number, vocabSize: number, seed = 1): number[] {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(rand() * vocabSize));
}

export async function runLlama(o: { gguf: string; threads: number; promptTokens: number; genTokens: number; vocabSize?: number; warmup?: boolean }): Promise<PeerResult> {
  let peakRss = process.memoryUsage().rss;
  const sample = () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); };
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 0, logLevel: LlamaLogLevel.error });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: o.gguf, useMmap: false, gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  sample();
  const V = o.vocabSize ?? 50280;
  const ctxSize = Math.max(256, Math.ceil((o.promptTokens + o.genTokens + 16) / 256) * 256);
  const context = await model.createContext({ contextSize: ctxSize, batchSize: Math.min(512, o.promptTokens), threads: o.threads, sequences: 1 });
  const seq = context.getSequence();
  const ids = promptIds(o.promptTokens, V) as Token[];
  try {
    if (o.warmup ?? true) {
      let n = 0;
      for await (const _t of seq.evaluate(ids.slice(0, 4), { temperature: 0 })) if (++n >= 2) break;
      await seq.clearHistory();
    }
    const tokens: number[] = [];
    const start = performance.now();
    let first = 0;
    for await (const t of seq.evaluate(ids, { temperature: 0 })) {
      if (tokens.length === 0) first = performance.now();
      tokens.push(t as number);
      sample();
      if (tokens.length > o.genTokens) break;
    }
    const end = performance.now();
    const prefillMs = first - start;
    const decodeMs = end - first;
    return {
      engine: `llama.cpp ${llama.buildType === 'prebuilt' ? 'prebuilt' : llama.buildType} (node-llama-cpp ${await version()}, llama.cpp ${llama.llamaCppRelease.release})`,
      threads: context.currentThreads,
      promptTokens: o.promptTokens,
      genTokens: tokens.length - 1,
      loadMs,
      prefillMs,
      prefillTokensPerSec: (o.promptTokens * 1000) / prefillMs,
      ttftMs: prefillMs,
      decodeMs,
      decodeTokensPerSec: ((tokens.length - 1) * 1000) / decodeMs,
      peakRssBytes: Math.max(peakRss, process.resourceUsage().maxRSS * 1024),
      tokens: tokens.slice(0, 16),
    };
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}

async function version(): Promise<string> {
  const { readFileSync } = await import('node:fs');
  try {
    return (JSON.parse(readFileSync(new URL('./node_modules/node-llama-cpp/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function arg(name: string, def?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  if (def === undefined) throw new Error(`--${name} is required`);
  return def;
}

if (process.argv[1]?.endsWith('llama.ts')) {
  runLlama({
    gguf: arg('gguf'),
    threads: Number(arg('threads', '1')),
    promptTokens: Number(arg('prompt-tokens', '512')),
    genTokens: Number(arg('gen-tokens', '128')),
    ...(process.argv.includes('--vocab-size') ? { vocabSize: Number(arg('vocab-size')) } : {}),
  }).then((r) => { process.stdout.write(`${JSON.stringify(r)}\n`); process.exit(0); }, (e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
}
