/**
 * The browser example: fetch the default model's files, load them (the model runs in a
 * dedicated worker: threads where the page is cross-origin isolated, one thread otherwise),
 * and stream generated text into the page. `?threads=N` in the URL sets the thread count.
 * Bundled by examples/browser/server.ts (esbuild) — `npx tsx examples/browser/server.ts`.
 */
import { loadModel, type BackendInfo, type GenerateOptions, type GenerationResult, type Model } from '../../src/index.js';

const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const REQUIRED = new Set(['config.json', 'model.safetensors']);

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const [backendLine, form, promptBox, maxTokensBox, seedBox, goButton, stopButton, out, stats] = [
  el('backend'), el<HTMLFormElement>('form'), el<HTMLTextAreaElement>('prompt'), el<HTMLInputElement>('maxTokens'),
  el<HTMLInputElement>('seed'), el<HTMLButtonElement>('go'), el<HTMLButtonElement>('stop'), el('out'), el('stats'),
];

async function fetchModelFiles(base: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  await Promise.all(FILES.map(async (name) => {
    const r = await fetch(base + name);
    if (r.ok) files[name] = new Uint8Array(await r.arrayBuffer());
    else if (REQUIRED.has(name)) throw new Error(`${base}${name}: HTTP ${r.status}`);
  }));
  return files;
}

export interface DemoRun {
  text: string;
  /** Token events received: the text arrived piece by piece, not at the end. */
  pieces: number;
  ms: number;
  result: GenerationResult;
}

let model: Model | undefined;
let running: AbortController | null = null;

/** Generate from `prompt` in a fresh session, appending each piece to the page as it arrives. */
async function generate(prompt: string, opts: Omit<GenerateOptions, 'signal'> = {}): Promise<DemoRun> {
  if (!model) throw new Error('the model is not loaded yet');
  running?.abort();
  const ctrl = (running = new AbortController());
  out.replaceChildren(Object.assign(document.createElement('span'), { className: 'prompt', textContent: prompt }));
  const sink = document.createTextNode('');
  out.append(sink);
  stats.textContent = '';
  goButton.disabled = true;
  stopButton.disabled = false;
  const session = model.createSession();
  const t0 = performance.now();
  let text = '';
  let pieces = 0;
  try {
    const generation = session.generate(prompt, { ...opts, signal: ctrl.signal });
    for await (const { text: piece } of generation) {
      text += piece;
      pieces++;
      sink.data += piece;
    }
    const result = await generation.finished;
    const ms = performance.now() - t0;
    stats.textContent = `${result.completionTokens} tokens in ${(ms / 1000).toFixed(2)} s (${(result.completionTokens / (ms / 1000)).toFixed(1)} tokens/s, prompt ${result.promptTokens} tokens) — ${result.finishReason}`;
    return { text, pieces, ms, result };
  } finally {
    await session.dispose();
    if (running === ctrl) running = null;
    goButton.disabled = false;
    stopButton.disabled = true;
  }
}

function describe(info: BackendInfo): string {
  return `backend ${info.name}: ${info.device ?? ''} · ${info.threads} thread${info.threads === 1 ? '' : 's'}` +
    ` · crossOriginIsolated ${String(globalThis.crossOriginIsolated)}${info.note ? ` · ${info.note}` : ''}`;
}

async function start(): Promise<BackendInfo> {
  const params = new URLSearchParams(location.search);
  const threads = params.get('threads') ? Number(params.get('threads')) : undefined;
  const files = await fetchModelFiles('models/default/');
  model = await loadModel(files, threads ? { threads } : {});
  backendLine.textContent = describe(model.backendInfo);
  goButton.disabled = false;
  return model.backendInfo;
}

const ready = start();
ready.catch((e: Error) => { backendLine.textContent = `could not load the model: ${e.message}`; });

form.addEventListener('submit', (e) => {
  e.preventDefault();
  generate(promptBox.value, { maxTokens: Number(maxTokensBox.value) || 200, seed: Number(seedBox.value) || 0 })
    .catch((err: Error) => { stats.textContent = err.name === 'AbortError' ? 'stopped' : `error: ${err.message}`; });
});
stopButton.addEventListener('click', () => running?.abort());

/** For scripts and tests: `await mambaEdgeDemo.ready`, then `mambaEdgeDemo.generate(prompt, opts)` (or use `mambaEdgeDemo.model`, `.loadModel`). */
Object.assign(globalThis, {
  mambaEdgeDemo: { ready, generate, loadModel, fetchModelFiles, crossOriginIsolated: globalThis.crossOriginIsolated, get model() { return model; } },
});
