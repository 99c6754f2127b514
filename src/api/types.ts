/**
 * Public API types of mamba-edge — every type a user touches lives here.
 *
 * @example
 * import { loadModel } from 'mamba-edge';
 * const model = await loadModel('./my-mamba');           // HF folder: config.json + model.safetensors
 * const session = model.createSession();
 * for await (const { text } of session.generate('Once upon a time', { maxTokens: 64, seed: 1 })) {
 *   process.stdout.write(text);
 * }
 */

export type BackendName = 'reference' | 'wasm' | 'webgpu' | 'cuda';
export type BackendChoice = 'auto' | BackendName;

/**
 * Storage precision of the large weight matrices once loaded; compute is always f32.
 * 'q8_0' (GGUF's 8-bit blocks of 32 with an f16 scale) needs a backend that stores it
 * (wasm); matrices whose rows are not a multiple of 32 values stay f16 there.
 */
export type LoadDType = 'f32' | 'f16' | 'q8_0';

export interface LoadProgress {
  /** File being read, relative to the model source. */
  file: string;
  /** Bytes read so far. */
  loaded: number;
  /** Total bytes of that file (0 while a server has not said how long a download is). */
  total: number;
  /**
   * Remote sources only: `'network'` while a file downloads (events at least every MiB, `loaded`
   * never goes back, even when a dropped connection is retried), `'cache'` for one event when a
   * file came from the cache.
   */
  from?: 'network' | 'cache';
}

export interface LoadOptions {
  /** Which backend runs the model. Default `'auto'`: the best available backend that supports every op. */
  backend?: BackendChoice;
  /** Worker threads for CPU backends (ignored by the reference backend). */
  threads?: number;
  /**
   * Weight storage precision after load. Default: `'f32'`; for a GGUF file, the file's own
   * (q8_0 and q4_0 files → `'q8_0'`, f16 → `'f16'`) where the backend stores it, else `'f32'`.
   */
  dtype?: LoadDType;
  /** Upper bound on bytes allocated for weights, activations and state; checked before allocating. */
  maxMemoryBytes?: number;
  /**
   * Called as files are read, and as they download for remote sources (see `LoadProgress.from`).
   * Local folders (Node) read model.safetensors one tensor at a time while the weights are
   * set up: there `loaded` / `total` count the tensors' bytes (the header not included).
   */
  onProgress?: (p: LoadProgress) => void;
  /** Aborts loading with `E_ABORTED` (downloads included). */
  signal?: AbortSignal;

  // Remote sources: `hf:owner/name[@revision]` and `https://…/folder/` (see ModelSource).

  /** `hf:` sources: the branch, tag or commit to load. Default `'main'`, or the `@revision` in the source (both given must agree). */
  revision?: string;
  /** `hf:` sources: the Hub to fetch from. Default `'https://huggingface.co'` (a mirror: e.g. `'https://hf-mirror.com'`). */
  endpoint?: string;
  /**
   * Where downloaded files are kept, keyed by URL (the revision is part of it) and checked by
   * size, ETag and SHA-256 on every load. Node: a directory, default `$MAMBA_EDGE_CACHE`, else
   * `~/.cache/mamba-edge`. Browsers and workers: the name of a Cache API cache, default
   * `'mamba-edge'`. `false`: no cache, every load downloads.
   */
  cache?: string | false;
  /** Extra request headers for downloads, e.g. `{ Authorization: 'Bearer hf_…' }` for a gated or private repo. */
  headers?: Record<string, string>;
  /**
   * Attempts after the first when a download fails transiently (network error, HTTP 408/429/5xx,
   * a connection dropped mid-file, a body shorter or longer than its Content-Length); backoff
   * starts at 0.5 s and doubles. Default 4. 404 and 403 are never retried.
   */
  retries?: number;
  /**
   * Precompiled kernel modules for the wasm backend, for runtimes that refuse to compile
   * WebAssembly from bytes at run time (Cloudflare Workers, Vercel Edge): there the platform
   * compiles the `.wasm` files at deploy time and the module imports them as `WebAssembly.Module`s.
   * Pass the single-thread build (`mamba-edge/wasm/kernels-as-st.wasm`, `mamba-edge/wasm/kernels-c-st.wasm`)
   * where there is no SharedArrayBuffer, or the threaded build (`kernels-as.wasm`, `kernels-c.wasm`) with
   * threads. With this option the wasm backend never calls `WebAssembly.compile`; it only instantiates.
   * @example
   * // Cloudflare Workers (wrangler bundles *.wasm imports as compiled modules)
   * import as from 'mamba-edge/wasm/kernels-as-st.wasm';
   * import c from 'mamba-edge/wasm/kernels-c-st.wasm';
   * const model = await loadModel(files, { backend: 'wasm', wasmModules: { as, c } });
   */
  wasmModules?: { as: WebAssembly.Module; c: WebAssembly.Module };
}

/**
 * A model source: a local directory path (Node), a remote folder, or the files themselves as
 * `{ 'config.json': bytes, 'model.safetensors': bytes, ... }` or a Map of the same.
 *
 * Remote folders (everywhere with fetch; downloads cached, see `LoadOptions.cache`):
 * - `'hf:owner/name'` or `'hf:owner/name@revision'`: a Hugging Face Hub repo, files fetched from
 *   `{endpoint}/{owner/name}/resolve/{revision}/{file}`. Only the `hf:` prefix goes to the Hub:
 *   a bare `'owner/name'` is a local path, so a typo in a path never becomes a download.
 * - `'https://host/path/folder/'` (or `http://`): files fetched from `{url}/{file}`.
 * The files read are those of a local folder: config.json, model.safetensors (or
 * model.safetensors.index.json and its shards), tokenizer.json and tokenizer_config.json when
 * they exist (a 404 on those is fine; on a required file it is E_FILE naming the URL).
 *
 * @example
 * await loadModel('hf:state-spaces/mamba-130m-hf');
 * await loadModel('hf:state-spaces/mamba-130m-hf@main', { cache: '/var/cache/models' });
 * await loadModel('https://example.com/models/my-mamba/', { signal: AbortSignal.timeout(60_000) });
 *
 * A llama.cpp GGUF file (mamba / mamba2): its path (Node), `{ 'model.gguf': bytes }`, or its bytes alone.
 * await loadModel('./mamba-130m.Q8_0.gguf');
 */
export type ModelSource = string | Record<string, Uint8Array | ArrayBuffer> | Map<string, Uint8Array | ArrayBuffer> | Uint8Array | ArrayBuffer;

/**
 * 'rnn' | 'lstm' | 'gru' | 's4d': the lineage (docs/lineage.md); 'mamba3': Mamba-3 SISO / MIMO (docs/mamba3.md).
 * 'llama': a plain transformer; 'bamba' | 'nemotron_h' | 'jamba': Mamba–attention hybrids (their sessions carry KV caches too).
 */
export type Architecture = 'mamba' | 'mamba2' | 'rnn' | 'lstm' | 'gru' | 's4d' | 'mamba3' | 'llama' | 'bamba' | 'nemotron_h' | 'jamba';

export interface ModelConfig {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  /** d_state: SSM state size per channel. */
  stateSize: number;
  convKernel: number;
  /** d_inner = expand × hidden_size. */
  intermediateSize: number;
  /** Mamba-2 and Mamba-3 only. */
  numHeads?: number;
  /** Mamba-2 and Mamba-3 only. */
  headDim?: number;
  /** Mamba-2 and Mamba-3 only. */
  nGroups?: number;
  eosTokenId?: number;
  /** The parsed config.json as written. */
  raw: Record<string, unknown>;
}

export interface BackendInfo {
  name: BackendName;
  threads: number;
  device?: string;
  /** Why `'auto'` did not pick a faster backend. */
  fallbackReason?: string;
  /** How the backend adapted to this runtime (e.g. "single-threaded: SharedArrayBuffer is unavailable"). */
  note?: string;
}

export interface ModelInfo {
  architecture: Architecture;
  parameters: number;
  dtype: LoadDType;
  backend: BackendName;
  /** Bytes of carried state (conv + SSM) for one session — the same at any context length. */
  stateBytes: number;
  /** Bytes held by weights on the backend. */
  weightBytes: number;
  fingerprint: string;
  /** Things the loader noticed but accepted (e.g. unexpected extra tensors). */
  warnings: string[];
  /**
   * For a GGUF file: how many tensors of each ggml type it stores, e.g. `{ Q8_0: 17, F32: 57 }`
   * (`dtype` says how the matrices are held after load).
   */
  fileTensorTypes?: Record<string, number>;
  /** KV-cache bytes one session adds per token of context (0 for pure SSM models; attention layers grow). */
  kvBytesPerToken: number;
  /** Every layer's kind ('mamba2', 'attention+moe', ...), fixed state bytes and KV bytes per token. */
  layers: LayerInfo[];
}

export interface LayerInfo {
  index: number;
  /** The mixer, and the feed-forward after a '+' where the layer has one: 'mamba', 'mamba2', 'attention', 'mlp', 'attention+moe', ... */
  kind: string;
  /** Fixed carried state of this layer (conv + SSM) for one session. */
  stateBytes: number;
  /** KV-cache bytes this layer adds per token of context. */
  bytesPerToken: number;
}

/** One session's carried state after a given number of tokens (`model.stateAt(n)`). */
export interface StateAtContext {
  contextTokens: number;
  totalBytes: number;
  layers: (LayerInfo & { bytes: number })[];
}

export interface Tokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** Size of the id space the tokenizer can produce. */
  readonly vocabSize: number;
  readonly kind: 'byte' | 'tokenizer.json';
  /** tokenizer_config.json `chat_template` (Jinja), when the model has one; the HTTP handler renders chat prompts with it. */
  readonly chatTemplate?: string;
  /** Text of the end-of-sequence token (e.g. "<|endoftext|>"), when the tokenizer files name one. */
  readonly eosToken?: string;
  /** Text of the beginning-of-sequence token, when tokenizer_config.json names one. */
  readonly bosToken?: string;
}

export interface ForwardOptions {
  output?: 'logits' | 'hidden';
  signal?: AbortSignal;
}

export interface ForwardLogits {
  logits: Float32Array;
  shape: [batch: number, seq: number, vocab: number];
}

export interface ForwardHidden {
  hidden: Float32Array;
  shape: [batch: number, seq: number, hidden: number];
}

export interface PrefillOptions {
  signal?: AbortSignal;
  /** Called after each prefill chunk with tokens done / total. */
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface GenerateOptions {
  /** Default 256. Must be ≥ 1. */
  maxTokens?: number;
  /** Default 0.8; 0 = greedy. */
  temperature?: number;
  /** Default 40; 0 disables. */
  topK?: number;
  /** Default 0.95; 1 disables. */
  topP?: number;
  /** Seed of the sampler's random numbers; same seed → same tokens on every backend. */
  seed?: number;
  /** Generation ends before any of these strings; the stop text is not emitted. */
  stop?: string[];
  /** Default false: generation ends at the model's eos token. */
  ignoreEos?: boolean;
  signal?: AbortSignal;
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'abort';

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

export interface GeneratedToken {
  id: number;
  /** Text this token completes (may be '' while a UTF-8 sequence or a possible stop string is held back). */
  text: string;
}

export interface Generation extends AsyncIterable<GeneratedToken> {
  /** Resolves when generation ends (also when nobody iterates: it then runs to completion itself). */
  finished: Promise<GenerationResult>;
}

export interface SessionOptions {
  /** A blob from `session.saveState()` to resume from. */
  state?: Uint8Array;
  /**
   * Upper bound on this session's memory (weights included), on top of the load option of the same
   * name (the smaller applies). Attention layers' KV caches never grow past it: a call that would
   * need more context fails with E_MEMORY before allocating, naming the context length that fits.
   */
  maxMemoryBytes?: number;
}

export interface Session {
  /** Runs the prompt through the model, returns logits at its last position. */
  prefill(ids: number[], opts?: PrefillOptions): Promise<Float32Array>;
  /** Logits for every position ([T × vocab]) while advancing the state. */
  forward(ids: number[], opts?: { signal?: AbortSignal }): Promise<Float32Array>;
  /** One token in, next-token logits out. */
  step(id: number): Promise<Float32Array>;
  generate(prompt: string | number[], opts?: GenerateOptions): Generation;
  generateStream(prompt: string | number[], opts?: GenerateOptions): ReadableStream<string>;
  /** Serialize everything needed to continue exactly where this session stands. */
  saveState(): Promise<Uint8Array>;
  /** Tokens consumed so far. */
  readonly position: number;
  dispose(): Promise<void>;
}

export interface EvaluateOptions {
  signal?: AbortSignal;
  /** Tokens per forward chunk (default: what keeps one chunk's logits near 32 MB). */
  chunkTokens?: number;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface EvaluationResult {
  /** Tokens in the text. */
  tokens: number;
  /** Tokens scored: all but the first, which only gives context. */
  predictedTokens: number;
  /** UTF-8 bytes of the scored tokens. */
  predictedBytes: number;
  /** Total negative log-likelihood, natural log. */
  nats: number;
  /** nats / ln 2 / predictedBytes — comparable across tokenizers (uniform bytes = 8). */
  bitsPerByte: number;
  /** exp(nats / predictedTokens). */
  perplexity: number;
}

export interface Model {
  readonly config: ModelConfig;
  readonly backend: BackendName;
  readonly backendInfo: BackendInfo;
  readonly fingerprint: string;
  readonly tokenizer: Tokenizer;
  readonly info: ModelInfo;
  forward(ids: number[][], opts?: ForwardOptions & { output?: 'logits' }): Promise<ForwardLogits>;
  forward(ids: number[][], opts: ForwardOptions & { output: 'hidden' }): Promise<ForwardHidden>;
  createSession(opts?: SessionOptions): Session;
  /**
   * Per-layer state bytes of one session after `contextTokens` tokens (KV caches grow, SSM state does not).
   * @example
   * for (const l of model.stateAt(4096).layers) console.log(l.index, l.kind, l.bytes);
   */
  stateAt(contextTokens: number): StateAtContext;
  /**
   * Bits per byte and perplexity of `text`, in bounded memory.
   * @example
   * const { bitsPerByte } = await model.evaluate(readFileSync('heldout.txt', 'utf8'));
   */
  evaluate(text: string, opts?: EvaluateOptions): Promise<EvaluationResult>;
  dispose(): Promise<void>;
}

// ---- HTTP handler (src/server) ------------------------------------------------

/** One message of an OpenAI-style chat request. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | 'developer';
  content: string;
}

/**
 * Options of `createHandler(model, options)`.
 * @example
 * const handler = createHandler(model, { modelId: 'mamba-130m', cors: true });
 * export default { fetch: handler };                      // Cloudflare Workers, Deno.serve, Bun.serve
 */
export interface HandlerOptions {
  /** The model's id in responses and in `GET /v1/models`. Default: `mamba-edge-<architecture>`. */
  modelId?: string;
  /** Prefix of every route, e.g. '/api' serves '/api/v1/completions'. Default ''. */
  basePath?: string;
  /** `max_tokens` when a request leaves it out. Default 256. */
  defaultMaxTokens?: number;
  /** Largest `max_tokens` a request may ask for (400 above it). Default 4096. */
  maxTokensLimit?: number;
  /**
   * Bytes a request body may spend on everything but a saved state (prompt, messages, JSON).
   * Default 1 MiB. The body limit is this plus the base64 size of one saved state of this
   * model (see `Handler.maxBodyBytes`); a larger body is answered 413.
   */
  promptAllowanceBytes?: number;
  /** A Jinja chat template to use instead of the model's tokenizer_config.json `chat_template`. */
  chatTemplate?: string;
  /** Answer CORS preflights and add `Access-Control-Allow-Origin: *`. Default false. */
  cors?: boolean;
}

/**
 * A web-standard request handler: `(request: Request) => Promise<Response>`, serving the
 * OpenAI-compatible routes (docs/http.md). Runs wherever the fetch API does (edge functions,
 * Deno, Bun, Node ≥ 20 behind an adapter, service workers).
 */
export interface Handler {
  (request: Request): Promise<Response>;
  /** Largest request body accepted, in bytes (413 above it): one state in base64 + the prompt allowance. */
  readonly maxBodyBytes: number;
}

/** Which model of a router served a request. */
export type RouteName = 'short' | 'long';

export interface RouterOptions {
  /** Serves prompts of at most `maxShortTokens` tokens (typically an attention or hybrid model). */
  short: Model;
  /** Serves longer prompts (typically a Mamba model: constant memory and per-token cost). */
  long: Model;
  /** Prompt length (counted by `short`'s tokenizer for text) up to which `short` serves. */
  maxShortTokens: number;
  /** Called once per routed request. */
  onRoute?: (r: { servedBy: RouteName; model: Model }) => void;
}

/** A generation that says which model served it. */
export interface RoutedGeneration extends Generation {
  servedBy: RouteName;
  model: Model;
}

/** A session whose model is chosen by its first request's prompt length and kept afterwards. */
export interface RouterSession extends Omit<Session, 'generate'> {
  generate(prompt: string | number[], opts?: GenerateOptions): RoutedGeneration;
  /** null until the first request. */
  readonly servedBy: RouteName | null;
}

/**
 * Length-based routing (`createRouter`): short prompts to one model, long ones to another.
 * @example
 * const router = createRouter({ short: llama, long: mamba, maxShortTokens: 1024 });
 * const g = router.generate('Hello', { maxTokens: 16 });
 * g.servedBy; // 'short'
 */
export interface Router {
  /** Which model a prompt would go to. */
  route(prompt: string | number[]): RouteName;
  /** One request on a fresh session of the chosen model. */
  generate(prompt: string | number[], opts?: GenerateOptions): RoutedGeneration;
  /** A session bound at its first request. */
  createSession(): RouterSession;
  /** Requests served so far by each model. */
  readonly served: { short: number; long: number };
}
