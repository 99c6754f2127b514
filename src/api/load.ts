/**
 * loadModel: source → config → backend → validated weights → Model.
 * Every step refuses bad input with a typed error before it allocates for it.
 */
import type { LoadDType, LoadOptions, ModelSource } from './types.js';
import { fail, throwIfAborted } from '../errors.js';
import { inMemorySource, describe, type FileSource } from '../formats/source.js';
import { isRemoteSource } from '../formats/remote/url.js';
import { remoteSource } from '../formats/remote/source.js';
import { cacheApiStore, hasCacheApi, type RemoteCache } from '../formats/remote/cache.js';
import { decodeUtf8Json, DEFAULT_MAX_JSON_BYTES } from '../formats/pyjson.js';
import { DTYPE_BYTES, readSafetensorsWeights, toFloat32, type TensorEntry } from '../formats/safetensors.js';
import { PieceBuffers, uploadInPieces, type FingerprintFeed } from '../formats/upload-pieces.js';
import { ConfigReader } from '../formats/hf-config.js';
import { GGUF_MAGIC, parseGgufFromRanges } from '../formats/gguf.js';
import { ggufCheckpoint } from '../formats/gguf-model.js';
import { architectureFor } from '../models/registry.js';
import type { ModelGraph, TensorGetter, TensorSpec } from '../models/graph.js';
import { selectBackend } from '../backends/registry.js';
import { numel, type Backend, type WeightDType } from '../backends/backend.js';
import { createTokenizer, MAX_TOKENIZER_JSON_BYTES, type TokenizerEx } from '../tokenizer/index.js';
import { Hasher, OrderedHasher } from './fingerprint.js';
import { ModelImpl, activationBytes } from './model.js';

/** How a string source becomes files; the Node entry installs a directory reader. */
type PathResolver = (path: string) => FileSource;
let resolvePath: PathResolver | undefined;
let defaultSource: (() => FileSource) | undefined;

export function setPathResolver(r: PathResolver, defaultModel?: () => FileSource): void {
  resolvePath = r;
  defaultSource = defaultModel;
}

/** The `cache` option → where remote files are kept. Browsers: the Cache API; the Node entry installs a directory. */
type CacheResolver = (cache: string | undefined) => RemoteCache | undefined;
export const DEFAULT_CACHE_NAME = 'mamba-edge';
let resolveCache: CacheResolver = (name) => (hasCacheApi() ? cacheApiStore(name ?? DEFAULT_CACHE_NAME) : undefined);

export function setRemoteCacheResolver(r: CacheResolver): void {
  resolveCache = r;
}

/** `https://host/path/model.gguf` → its folder and file name (a URL to one GGUF file rather than a folder). */
function ggufFileUrl(source: string): { folder: string; file: string } | undefined {
  if (!/^https?:\/\//i.test(source)) return undefined;
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    return undefined; // parseRemoteSource says why
  }
  const m = /\/([^/]+\.gguf)$/i.exec(url.pathname);
  if (!m) return undefined;
  let file: string;
  try {
    file = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  url.pathname = url.pathname.slice(0, -m[1].length);
  return { folder: url.href, file };
}

/** A remote source (`hf:…`, `http(s)://…`) as files; `source` must satisfy isRemoteSource. */
export function openRemoteSource(source: string, opts: LoadOptions): FileSource {
  const gguf = ggufFileUrl(source);
  if (gguf) return Object.assign(openRemoteSource(gguf.folder, opts), { entry: gguf.file });
  if (opts.cache !== undefined && opts.cache !== false && (typeof opts.cache !== 'string' || opts.cache === '')) {
    throw fail('E_ARGUMENT', `cache must be a directory (Node) or cache name (browsers), or false for none; got ${JSON.stringify(opts.cache)}`, { field: 'cache' });
  }
  const cache = opts.cache === false ? undefined : resolveCache(opts.cache);
  return remoteSource(source, {
    ...(opts.revision !== undefined ? { revision: opts.revision } : {}),
    ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
    ...(opts.headers !== undefined ? { headers: opts.headers } : {}),
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    ...(cache ? { cache } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

function toSource(source: ModelSource | undefined, opts: LoadOptions): FileSource {
  if (typeof source === 'string' && isRemoteSource(source)) return openRemoteSource(source, opts);
  for (const field of ['revision', 'endpoint'] as const) {
    if (opts[field] !== undefined) {
      throw fail('E_ARGUMENT', `the ${field} option applies to hf:owner/name sources only${typeof source === 'string' ? `, not to "${source}"` : ''}`, { field });
    }
  }
  if (source === undefined) {
    if (!defaultSource) throw fail('E_ARGUMENT', 'loadModel() without a source needs the embedded default model, which this build does not have; pass a model source');
    return defaultSource();
  }
  if (typeof source === 'string') {
    if (!resolvePath) {
      throw fail('E_ARGUMENT', `loadModel("${source}"): local paths need Node; in a browser or edge function pass an https:// URL of the model folder, hf:owner/name, the files as { "config.json": bytes, "model.safetensors": bytes }, or a GGUF file's bytes`);
    }
    return resolvePath(source);
  }
  if (typeof source === 'object' && source !== null) return inMemorySource(source);
  throw fail('E_ARGUMENT', 'loadModel: source must be a directory or .gguf path, an http(s) URL, hf:owner/name, a Record or a Map of file name → bytes, or the bytes of a GGUF file');
}

function checkOptions(opts: LoadOptions): { dtype: LoadDType | undefined } {
  const dtype = opts.dtype;
  if (dtype !== undefined && dtype !== 'f32' && dtype !== 'f16' && dtype !== 'q8_0') {
    throw fail('E_ARGUMENT', `dtype must be "f32", "f16" or "q8_0", got ${JSON.stringify(dtype)}`, { field: 'dtype' });
  }
  if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1)) {
    throw fail('E_ARGUMENT', `threads must be a positive integer, got ${opts.threads}`, { field: 'threads' });
  }
  if (opts.wasmModules !== undefined) {
    const m = opts.wasmModules as { as?: unknown; c?: unknown } | null;
    const isModule = (v: unknown) => typeof WebAssembly === 'object' && v instanceof WebAssembly.Module;
    if (m === null || typeof m !== 'object' || !isModule(m.as) || !isModule(m.c)) {
      throw fail('E_ARGUMENT', 'wasmModules must be { as: WebAssembly.Module, c: WebAssembly.Module } (kernels-as*.wasm and kernels-c*.wasm, compiled)', { field: 'wasmModules' });
    }
  }
  if (opts.maxMemoryBytes !== undefined && !(opts.maxMemoryBytes > 0)) {
    throw fail('E_ARGUMENT', `maxMemoryBytes must be a positive number, got ${opts.maxMemoryBytes}`, { field: 'maxMemoryBytes' });
  }
  return { dtype };
}

/** E_FORMAT when `name` is larger than `limit` bytes, asked before reading it (E_FILE if it is missing). */
async function checkSize(files: FileSource, name: string, limit: number): Promise<void> {
  const size = await files.size(name);
  if (size > limit) {
    throw fail('E_FORMAT', `${describe(files, name)} is ${size} bytes, more than the ${limit}-byte limit for it`, { file: name });
  }
}

/** Every expected tensor present with the expected shape; extras are reported as warnings. */
function matchTensors(specs: TensorSpec[], tensors: Map<string, TensorEntry>, ignorable: string[]): string[] {
  for (const spec of specs) {
    const t = tensors.get(spec.name);
    if (!t) throw fail('E_FORMAT', `model.safetensors: tensor "${spec.name}" is missing (config.json says it must exist with shape [${spec.shape}])`, { file: 'model.safetensors', field: spec.name });
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      const why = spec.why ? ` (${spec.why})` : '';
      throw fail('E_SHAPE', `${t.file}: tensor "${spec.name}" has shape [${t.shape}], but config.json implies [${spec.shape}]${why}`, { file: t.file, field: spec.name });
    }
  }
  const expected = new Set([...specs.map((s) => s.name), ...ignorable]);
  const extra = [...tensors.keys()].filter((n) => !expected.has(n));
  if (extra.length === 0) return [];
  const shown = extra.slice(0, 4).map((n) => `"${n}"`).join(', ');
  return [`${extra.length} unexpected tensor(s) ignored: ${shown}${extra.length > 4 ? `, and ${extra.length - 4} more` : ''}`];
}

/** A checkpoint, whatever its format: the graph and config, then the weights once read. */
interface Checkpoint {
  graph: ModelGraph;
  cfg: ReturnType<ModelGraph['parseConfig']>;
  specs: TensorSpec[];
  /** The dtype to store matrices in when the caller names none (a GGUF file's own type). */
  preferredDType?: LoadDType;
  weights: Promise<CheckpointWeights>;
}

interface CheckpointWeights {
  /** Every spec present with its shape (checked); what was accepted with a remark. */
  warnings: string[];
  get: TensorGetter;
  /** The stored bytes of a spec's tensor, for the fingerprint. */
  bytesOf(name: string): Uint8Array;
  /**
   * A getter that also hands each tensor's stored bytes to `saw` (the fingerprint, so a tensor
   * read from the file on demand is read once) and widens F16 with `widenF16` (the backend's).
   */
  getVia?(hash: FingerprintFeed, widenF16?: (bits: Uint16Array, out?: Float32Array) => Float32Array): TensorGetter;
  /** The backend as `graph.prepare` sees it (GGUF: q8_0 blocks passed through). */
  uploadView?(b: Backend): { backend: Backend };
  tokenizer(vocabSize: number): Promise<TokenizerEx>;
  /** GGUF: tensor count per ggml type. */
  tensorTypes?: Record<string, number>;
}

/** A Hugging Face folder: config.json, model.safetensors (or shards), tokenizer.json. */
async function openFolder(files: FileSource, opts: LoadOptions): Promise<Checkpoint> {
  const configFile = describe(files, 'config.json');
  // Sizes are checked before reading, so a huge hostile file is never loaded into memory.
  await checkSize(files, 'config.json', DEFAULT_MAX_JSON_BYTES);
  const raw = decodeUtf8Json(await files.read('config.json', { signal: opts.signal }), configFile, undefined, 'config.json');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw fail('E_CONFIG', `${configFile}: expected a JSON object`, { file: configFile });
  }
  const reader = new ConfigReader(raw as Record<string, unknown>, configFile);
  const graph = architectureFor(reader.raw.model_type, configFile);
  const cfg = graph.parseConfig(reader);
  const specs = graph.tensors(cfg);
  const weights = (async (): Promise<CheckpointWeights> => {
    // byTensor: where the source reads byte ranges (Node directories), each tensor is read when the
    // graph asks for it and dropped once copied: the file is never whole in memory.
    const w = await readSafetensorsWeights(files, { signal: opts.signal, onProgress: opts.onProgress, byTensor: true });
    graph.checkCheckpoint?.(cfg, new Set(w.tensors.keys()), configFile);
    return {
      warnings: matchTensors(specs, w.tensors, graph.ignorable?.(cfg) ?? []),
      get: (name) => toFloat32(w.tensors.get(name)!),
      bytesOf: (name) => w.tensors.get(name)!.data,
      getVia: (hash, widenF16) => {
        const entry = (t: TensorEntry, data: Uint8Array): TensorEntry => ({ name: t.name, dtype: t.dtype, shape: t.shape, file: t.file, data });
        const get: TensorGetter = (name) => {
          const t = w.tensors.get(name)!;
          const data = t.data; // a byTensor entry reads the file here
          hash.saw(name, data);
          return toFloat32(entry(t, data), widenF16);
        };
        // Whole matrices straight from the file into the backend, a few MiB at a time, through one
        // reused pair of buffers (F16 widened into the reused f32 one).
        const buffers = new PieceBuffers();
        const widenInto = widenF16 && ((bits: Uint16Array) => widenF16(bits, buffers.valuesFor(bits.length)));
        get.uploadWhole = (name, backend, shape, dtype) => {
          const t = w.tensors.get(name)!;
          return uploadInPieces(hash, buffers, name, backend, shape, dtype, DTYPE_BYTES[t.dtype], t.readRange, (bytes) => toFloat32(entry(t, bytes), widenInto));
        };
        return get;
      },
      async tokenizer(vocabSize) {
        const hasTokenizer = await files.has('tokenizer.json');
        if (hasTokenizer) await checkSize(files, 'tokenizer.json', MAX_TOKENIZER_JSON_BYTES);
        const tokenizerJson = hasTokenizer ? new TextDecoder().decode(await files.read('tokenizer.json', { signal: opts.signal })) : undefined;
        const hasTokenizerConfig = tokenizerJson !== undefined && (await files.has('tokenizer_config.json'));
        if (hasTokenizerConfig) await checkSize(files, 'tokenizer_config.json', DEFAULT_MAX_JSON_BYTES);
        const tokenizerConfigJson = hasTokenizerConfig ? new TextDecoder().decode(await files.read('tokenizer_config.json', { signal: opts.signal })) : undefined;
        return createTokenizer({ vocabSize, tokenizerJson, tokenizerConfigJson, file: describe(files, 'tokenizer.json') });
      },
    };
  })();
  return { graph, cfg, specs, weights };
}

/** A GGUF file (llama.cpp): config, weights and tokenizer all in the one file. */
async function openGguf(files: FileSource, name: string, opts: LoadOptions): Promise<Checkpoint> {
  const file = describe(files, name);
  const notGguf = () => fail('E_FORMAT', `${file} is a file, not a model folder, and not a GGUF file either (it does not start with "GGUF"); pass a folder holding config.json, or a .gguf file`, { file, field: 'magic' });
  const isGguf = (head: Uint8Array) => head.byteLength >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) === GGUF_MAGIC;
  let ck: ReturnType<typeof ggufCheckpoint>;
  if (files.readRangeSync) {
    // By tensor, as Hugging Face folders are read: the header now, each tensor when the graph asks
    // for it (and for the fingerprint in the same pass), never the whole file at once.
    const size = await files.size(name);
    const readRange = files.readRangeSync.bind(files, name);
    if (!isGguf(readRange(0, Math.min(size, 4)))) throw notGguf();
    // progress: the header, then each tensor's bytes the first time they are read (ends at the file's size)
    let loaded = -1;
    const counted = new Set<number>();
    const g = parseGgufFromRanges((offset, length, into) => {
      throwIfAborted(opts.signal, `reading ${file}`);
      const bytes = readRange(offset, length, into);
      if (loaded >= 0 && !counted.has(offset)) { counted.add(offset); loaded += length; opts.onProgress?.({ file: name, loaded, total: size }); }
      return bytes;
    }, size, file);
    loaded = size - [...g.tensors.values()].reduce((n, t) => n + t.size, 0);
    opts.onProgress?.({ file: name, loaded, total: size });
    ck = ggufCheckpoint(g, file);
  } else {
    const bytes = await files.read(name, { signal: opts.signal, onProgress: opts.onProgress });
    if (!isGguf(bytes)) throw notGguf();
    ck = ggufCheckpoint(bytes, file);
  }
  return {
    graph: ck.graph, cfg: ck.cfg, specs: ck.specs, preferredDType: ck.preferredDType,
    weights: Promise.resolve({
      warnings: ck.warnings, get: ck.get, bytesOf: ck.bytesOf, getVia: ck.getVia, uploadView: ck.uploadView, tensorTypes: ck.tensorTypes,
      tokenizer: async (vocabSize: number) => {
        const t = createTokenizer({ vocabSize, tokenizerJson: ck.tokenizer?.json, tokenizerConfigJson: ck.tokenizer?.config, file: `${file} (tokenizer.ggml.*)` });
        // The vocabulary's strings are in the tokenizer now: let the JSON and the metadata arrays go
        // while the weights load (tens of MB of JavaScript heap for a 50k-token vocabulary).
        ck.tokenizer = undefined;
        for (const key of [...ck.gguf.kv.keys()]) if (key.startsWith('tokenizer.ggml.')) ck.gguf.kv.delete(key);
        return t;
      },
    }),
  };
}

/**
 * Load a model: a Hugging Face folder, or a llama.cpp GGUF file (mamba / mamba2).
 * @example
 * const model = await loadModel('./mamba-130m-hf', { dtype: 'f16', onProgress: (p) => console.log(p.file, p.loaded, p.total) });
 * const model2 = await loadModel({ 'config.json': configBytes, 'model.safetensors': weightBytes });
 * const model3 = await loadModel('hf:state-spaces/mamba-130m-hf', { onProgress: (p) => console.log(p.file, p.loaded, p.total, p.from) });
 * const model4 = await loadModel('./mamba-130m.Q8_0.gguf'); // q8_0 blocks stay q8_0
 */
export async function loadModel(source?: ModelSource, opts: LoadOptions = {}): Promise<ModelImpl> {
  const { dtype: askedDType } = checkOptions(opts);
  throwIfAborted(opts.signal, 'loadModel');
  const files = toSource(source, opts);
  const ck = files.entry !== undefined ? await openGguf(files, files.entry, opts) : await openFolder(files, opts);
  const { graph, cfg, specs } = ck;
  const wanted: LoadDType = askedDType ?? ck.preferredDType ?? 'f32';

  // The least these weights can take in this dtype (a backend may store some q8_0 matrices as
  // f16): enough to refuse an oversized model before reading a byte of it.
  const leastBytesPer = { f32: 4, f16: 2, q8_0: 34 / 32 }[wanted];
  const leastWeightBytes = specs.reduce((n, s) => n + numel(s.shape) * (s.matrix ? leastBytesPer : 4), 0);
  if (opts.maxMemoryBytes !== undefined && leastWeightBytes > opts.maxMemoryBytes) {
    throw fail('E_MEMORY', `the model's weights alone need at least ${Math.ceil(leastWeightBytes)} bytes in ${wanted}, more than maxMemoryBytes = ${opts.maxMemoryBytes}`, { field: 'maxMemoryBytes' });
  }

  // Start the backend (a worker pool takes tens of milliseconds) while the weights are read.
  const weightsRead = ck.weights;
  // Marked handled now: it may fail (bad file, abort) while the backend is still starting, before
  // anything awaits it, and an unhandled rejection ends a Node process. Awaiting it below still throws.
  weightsRead.catch(() => undefined);
  let backend: Backend;
  try {
    const parameters = specs.reduce((n, s) => n + numel(s.shape), 0);
    backend = await selectBackend(opts.backend ?? 'auto', { ops: graph.requiredOps, dtype: askedDType ?? 'f32', parameters }, { threads: opts.threads, wasmModules: opts.wasmModules });
  } catch (e) {
    weightsRead.catch(() => undefined);
    throw e;
  }
  // Without an explicit dtype, a GGUF file's own type where this backend stores it.
  const dtype: LoadDType = askedDType ?? (backend.supportsDType(wanted) ? wanted : 'f32');
  try {
    const matrixDType: WeightDType = dtype;
    const weightBytes = specs.reduce((n, s) => n + backend.bytesFor(s.shape, s.matrix ? matrixDType : 'f32'), 0);
    const stateBytes = graph.stateShapes(cfg, 1).reduce((n, s) => n + backend.bytesFor(s, 'f32'), 0);
    const working = activationBytes(cfg, graph.prefillChunk(cfg), 1);
    const needed = weightBytes + stateBytes + working;
    if (backend.capacityBytes !== undefined && needed > backend.capacityBytes) {
      const hint = dtype === 'q8_0' ? '' : `; load it with dtype: '${dtype === 'f32' ? "f16' or 'q8_0" : 'q8_0'}' to shrink the weights`;
      throw fail('E_MEMORY', `the model needs ${needed} bytes (weights ${weightBytes} in ${dtype}), more than the ${backend.name} backend can hold (${backend.capacityBytes} bytes: a 32-bit WebAssembly memory)${hint}`, { field: 'dtype' });
    }
    if (opts.maxMemoryBytes !== undefined && needed > opts.maxMemoryBytes) {
      throw fail('E_MEMORY', `the model needs ${weightBytes + stateBytes + working} bytes (weights ${weightBytes}, one session's state ${stateBytes}, prefill working memory ${working}), more than maxMemoryBytes = ${opts.maxMemoryBytes}`, { field: 'maxMemoryBytes' });
    }

    const weights = await weightsRead;
    const warnings = weights.warnings;
    throwIfAborted(opts.signal, 'loadModel');

    // Fingerprint: architecture, shapes and the checkpoint's bytes — independent of the load dtype.
    // Hashed in spec order as the graph reads the tensors (each tensor's bytes are read from the file once).
    const hasher = new Hasher().updateString(`${cfg.architecture}|${JSON.stringify(specs.map((s) => [s.name, s.shape]))}`);
    const hashing = new OrderedHasher(hasher, specs.map((s) => s.name), (name) => weights.bytesOf(name));
    const target = weights.uploadView?.(backend).backend ?? backend;
    const get = weights.getVia?.(hashing, backend.widenF16?.bind(backend)) ?? weights.get;
    // The tokenizer before the weights: what building it leaves behind can be collected during the load.
    const tokenizer = await weights.tokenizer(cfg.vocabSize);
    const prepared = graph.prepare(cfg, target, get, matrixDType);
    const fingerprint = `${cfg.architecture}-${hashing.finish().hex()}`;

    if (cfg.eosTokenId === undefined && tokenizer.eosTokenId !== undefined) cfg.eosTokenId = tokenizer.eosTokenId;

    const parameters = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    return new ModelImpl({
      graph, cfg, backend, weights: prepared, tokenizer, fingerprint, dtype, warnings,
      parameters, weightBytes, maxMemoryBytes: opts.maxMemoryBytes, fileTensorTypes: weights.tensorTypes,
    });
  } catch (e) {
    weightsRead.catch(() => undefined); // refused before the read finished: its outcome no longer matters
    await backend.dispose();
    throw e;
  }
}

export type { Backend };
