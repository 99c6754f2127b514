/**
 * The webview example: the embedded default model (models/default) on a phone-sized page.
 *
 * - Memory budget: `maxMemoryBytes: MEMORY_BUDGET` (24 MiB) with f16 weights. The library checks it
 *   before allocating: weights 10.9 MB + one session's state 1.4 MB + prefill working memory
 *   7.1 MB = 19.3 MB, so the model fits, and a load that would not fit fails with E_MEMORY instead
 *   of the webview's process being killed. The downloaded file bytes are dropped after loading.
 * - Threads: webviews are rarely cross-origin isolated (no COOP/COEP on app-bundled pages), so
 *   there is no SharedArrayBuffer and the kernels run on one thread, in a dedicated worker that
 *   `loadModel` starts: the page stays responsive while the model computes. Where the page is
 *   isolated, the same code gets up to 2 threads (`THREADS_IF_ISOLATED`), to spare the battery.
 * - Streaming: each token's text is appended to the page as it is sampled.
 *
 * Bundled and served by examples/webview/server.ts (`npx tsx examples/webview/server.ts`).
 */
import { loadModel, MambaEdgeError, type BackendInfo, type GenerateOptions, type GenerationResult, type Model } from '../../src/index.js';

/** Upper bound on what the model may allocate (weights + state + working memory), in bytes. */
export const MEMORY_BUDGET = 24 * 1024 * 1024;
const THREADS_IF_ISOLATED = 2;
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const REQUIRED = new Set(['config.json', 'model.safetensors']);

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = el('status');
const form = el<HTMLFormElement>('form');
const promptBox = el<HTMLTextAreaElement>('prompt');
const goButton = el<HTMLButtonElement>('go');
const stopButton = el<HTMLButtonElement>('stop');
const out = el('out');
const stats = el('stats');

async function fetchModelFiles(base: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  await Promise.all(FILES.map(async (name) => {
    const r = await fetch(base + name);
    if (r.ok) files[name] = new Uint8Array(await r.arrayBuffer());
    else if (REQUIRED.has(name)) throw new Error(`${base}${name}: HTTP ${r.status}`);
  }));
  return files;
}

export interface WebviewReady {
  backend: BackendInfo;
  crossOriginIsolated: boolean;
  /** Bytes the loaded model holds: f16 weights and one session's carried state. */
  weightBytes: number;
  stateBytes: number;
  budget: number;
}

export interface WebviewRun {
  text: string;
  /** Token events that reached the page: one per token when streaming works. */
  pieces: number;
  ms: number;
  result: GenerationResult;
}

let model: Model | undefined;
let running: AbortController | null = null;
const mib = (n: number) => `${+(n / 2 ** 20).toFixed(1)} MiB`;

/** Loads the default model within `budget` bytes; threads only where SharedArrayBuffer exists. */
async function load(budget = MEMORY_BUDGET): Promise<Model> {
  let files: Record<string, Uint8Array> | undefined = await fetchModelFiles('models/default/');
  try {
    // Not isolated: no thread count asked for; the library falls back to one thread and says why
    // in backendInfo.note ("single-threaded: SharedArrayBuffer is unavailable …").
    return await loadModel(files, {
      dtype: 'f16',
      maxMemoryBytes: budget,
      ...(globalThis.crossOriginIsolated ? { threads: THREADS_IF_ISOLATED } : {}),
    });
  } finally {
    files = undefined; // the worker holds the weights now; let the page's copy go
  }
}

async function start(): Promise<WebviewReady> {
  model = await load();
  const info = model.backendInfo;
  const isolated = globalThis.crossOriginIsolated === true;
  status.innerHTML = '';
  status.append(
    Object.assign(document.createElement('b'), { textContent: `${info.threads} thread${info.threads === 1 ? '' : 's'}` }),
    ` · ${isolated ? 'cross-origin isolated' : 'single-thread fallback (not cross-origin isolated)'}` +
      ` · ${mib(model.info.weightBytes + model.info.stateBytes)} held, budget ${mib(MEMORY_BUDGET)}`,
  );
  goButton.disabled = false;
  return { backend: info, crossOriginIsolated: isolated, weightBytes: model.info.weightBytes, stateBytes: model.info.stateBytes, budget: MEMORY_BUDGET };
}

/** Generates from `prompt` in a fresh session, appending each token's text to the page as it arrives. */
async function generate(prompt: string, opts: Omit<GenerateOptions, 'signal'> = {}): Promise<WebviewRun> {
  if (!model) throw new Error('the model is not loaded yet');
  running?.abort();
  const ctrl = (running = new AbortController());
  out.replaceChildren(Object.assign(document.createElement('span'), { className: 'prompt', textContent: prompt }));
  const sink = document.createTextNode('');
  out.append(sink);
  out.classList.add('running');
  stats.textContent = '';
  goButton.hidden = true;
  stopButton.hidden = false;
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
    stats.textContent = `${result.completionTokens} tokens · ${(result.completionTokens / (ms / 1000)).toFixed(1)} tokens/s · ${result.finishReason}`;
    return { text, pieces, ms, result };
  } finally {
    await session.dispose();
    if (running === ctrl) running = null;
    out.classList.remove('running');
    goButton.hidden = false;
    stopButton.hidden = true;
  }
}

const ready = start();
ready.catch((e: Error) => {
  status.textContent = e instanceof MambaEdgeError && e.code === 'E_MEMORY' ? `not enough memory: ${e.message}` : `could not load the model: ${e.message}`;
});

/** The run the Go button started last (tests tap the button, then await this). */
let lastRun: Promise<WebviewRun> | undefined;
form.addEventListener('submit', (e) => {
  e.preventDefault();
  lastRun = generate(promptBox.value, { maxTokens: 120, seed: 1 });
  lastRun.catch((err: Error) => { stats.textContent = err.name === 'AbortError' ? 'stopped' : `error: ${err.message}`; });
});
stopButton.addEventListener('click', () => running?.abort());

/** For scripts and tests: `await mambaEdgeWebview.ready`; `.lastRun` after a tap on Go; `.load(budget)` loads another copy. */
Object.assign(globalThis, {
  mambaEdgeWebview: { ready, generate, load, get model() { return model; }, get lastRun() { return lastRun; } },
});
