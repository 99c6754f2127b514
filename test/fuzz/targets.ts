/**
 * Fuzz targets: one per parser of untrusted bytes on main. Each mutates real seed files
 * (random-weight models written by tools/random-model.ts, the shipped tokenizers, state blobs
 * saved by a real session) with structure-aware edits, then loads the result through the
 * public API and runs a forward step (a generate step for saved states).
 *
 * Adding a parser (GGUF, a remote source, a KV-cache state): write a FuzzTarget with a seed,
 * an arbitrary built from mutate.ts, and a `run` that loads + steps; add it to TARGETS.
 */
import fc from 'fast-check';
import { createHandler, loadModel } from '../../src/node.js';
import type { Model } from '../../src/api/types.js';
import { crc32 } from '../../src/api/state-blob.js';
import { parsePythonJson } from '../../src/formats/pyjson.js';
import { parseSafetensors, toFloat32 } from '../../src/formats/safetensors.js';
import { arr, bool, f32, hfMambaToGgufParts, i32, str, u32, writeGguf, type GgufDType, type GgufTensor, type GgufValue, type HfMambaConfig } from '../../tools/gguf-writer.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FuzzTarget } from './harness.js';
import {
  applyByteEdits, applyJsonEdits, byteEdit, hostileValue, jsonEdit, utf8, writePyJson, HOSTILE_NUMBERS, HOSTILE_STRINGS,
  type ByteEdit, type JsonEdit,
} from './mutate.js';

export type Files = Record<string, Uint8Array>;
export interface FileCase { files: Files }

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
export const filesSize = (c: FileCase) => Object.values(c.files).reduce((n, b) => n + b.byteLength, 0);

const fixture = (dir: string): Files => {
  const path = root(`test/fixtures/${dir.includes('/') ? dir : `lineage/${dir}`}`);
  // tokenizer.json where the fixture has one (the hybrids' vocabularies are smaller than 256 bytes).
  return Object.fromEntries(['config.json', 'model.safetensors', 'tokenizer.json'].filter((f) => existsSync(`${path}/${f}`))
    .map((f) => [f, new Uint8Array(readFileSync(`${path}/${f}`))]));
};

/**
 * Seed models: small enough that a case takes about a millisecond, with every architecture and
 * tensor dtype the loaders know (the lineage ones are the committed fixtures, 50–110 kB).
 */
export function seedModels(): Files[] {
  return [
    randomModelFiles({ modelType: 'mamba', vocabSize: 300, hiddenSize: 8, numLayers: 1, stateSize: 4, seed: 1 }),
    randomModelFiles({ modelType: 'mamba', vocabSize: 300, hiddenSize: 8, numLayers: 2, stateSize: 2, useBias: true, tieWordEmbeddings: false, dtype: 'F16', seed: 2 }),
    randomModelFiles({ modelType: 'mamba2', vocabSize: 300, hiddenSize: 16, numLayers: 1, stateSize: 4, headDim: 8, chunkSize: 8, dtype: 'BF16', seed: 3 }),
    fixture('rnn-tanh'), fixture('lstm-proj-tied'), fixture('gru-3layer-nobias'), fixture('s4d-gated-tied'),
    // Attention and hybrids (KV caches), Mamba-3: the committed golden fixtures, 85–280 kB.
    fixture('hybrid/llama-gqa'), fixture('hybrid/bamba'), fixture('mamba3/siso-tied'),
  ];
}

/** Load, run one forward step over in-vocabulary ids, dispose. */
export async function loadAndStep(files: Files, after?: (m: Model) => Promise<void>): Promise<void> {
  const m = await loadModel(files, { backend: 'reference' });
  try {
    const V = m.config.vocabSize;
    await m.forward([[0, 1 % V, 2 % V]]);
    await after?.(m);
  } finally {
    await m.dispose();
  }
}

/** True one time in ten: for edits that spoil almost every input they touch. */
const rarely = fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

const SAFETENSORS_DTYPES = ['F32', 'F16', 'BF16', 'BOOL', 'U8', 'I8', 'I16', 'I32', 'I64', 'U64', 'F64', 'F8_E4M3', 'F4', 'f32', 'Q8_0', ''];

// ---- safetensors ------------------------------------------------------------------

type TensorEdit =
  | { kind: 'shape'; tensor: number; dim: number; value: number }
  | { kind: 'offset'; tensor: number; which: number; value: number }
  | { kind: 'shift'; tensor: number; by: number }
  | { kind: 'dtype'; tensor: number; dtype: string }
  | { kind: 'overlap'; tensor: number; other: number }
  | { kind: 'duplicate'; tensor: number; other: number };

interface SafetensorsCase {
  seed: number;
  tensorEdits: TensorEdit[];
  jsonEdits: JsonEdit[];
  dupKey: boolean;
  lengthField: bigint | null;
  bodyEdits: ByteEdit[];
  fileEdits: ByteEdit[];
}

function splitSafetensors(bytes: Uint8Array): { header: Record<string, unknown>; body: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), body: bytes.subarray(8 + n) };
}

function applyTensorEdit(header: Record<string, unknown>, e: TensorEdit): void {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (!names.length) return;
  const name = names[e.tensor % names.length];
  const t = header[name] as { dtype: unknown; shape: unknown[]; data_offsets: unknown[] };
  if (t === null || typeof t !== 'object') return;
  const other = header[names[('other' in e ? e.other : 0) % names.length]] as { data_offsets: unknown[] } | null;
  switch (e.kind) {
    case 'shape': if (Array.isArray(t.shape)) t.shape[e.dim % (t.shape.length + 1)] = e.value; break;
    case 'offset': if (Array.isArray(t.data_offsets)) t.data_offsets[e.which] = e.value; break;
    case 'shift': if (Array.isArray(t.data_offsets)) t.data_offsets = t.data_offsets.map((o) => (typeof o === 'number' ? o + e.by : o)); break;
    case 'dtype': t.dtype = e.dtype; break;
    case 'overlap': if (other && typeof other === 'object') t.data_offsets = structuredClone(other.data_offsets); break;
    case 'duplicate': header[`${name}.copy`] = structuredClone(t); if (other && typeof other === 'object') header[names[e.other % names.length]] = structuredClone(t); break;
  }
}

function buildSafetensors(seedBytes: Uint8Array, c: SafetensorsCase): Uint8Array {
  const { header, body } = splitSafetensors(seedBytes);
  for (const e of c.tensorEdits) applyTensorEdit(header, e);
  const edited = applyJsonEdits(header, c.jsonEdits);
  const json = utf8(writePyJson(edited, c.dupKey));
  const newBody = applyByteEdits(body, c.bodyEdits);
  const out = new Uint8Array(8 + json.length + newBody.length);
  new DataView(out.buffer).setBigUint64(0, c.lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(newBody, 8 + json.length);
  return applyByteEdits(out, c.fileEdits);
}

export function safetensorsTarget(): FuzzTarget<FileCase> {
  let seeds: Files[] = [];
  return {
    name: 'safetensors',
    async setup() { seeds = seedModels(); },
    arbitrary() {
      const tensor = fc.nat(), other = fc.nat();
      const num = fc.oneof(fc.constantFrom(...HOSTILE_NUMBERS), fc.integer({ min: -64, max: 5000 }));
      const tensorEdit: fc.Arbitrary<TensorEdit> = fc.oneof(
        fc.record({ kind: fc.constant('shape' as const), tensor, dim: fc.nat(4), value: num }),
        fc.record({ kind: fc.constant('offset' as const), tensor, which: fc.integer({ min: 0, max: 1 }), value: num }),
        fc.record({ kind: fc.constant('shift' as const), tensor, by: fc.integer({ min: -9, max: 9 }) }),
        fc.record({ kind: fc.constant('dtype' as const), tensor, dtype: fc.constantFrom(...SAFETENSORS_DTYPES) }),
        fc.record({ kind: fc.constant('overlap' as const), tensor, other }),
        fc.record({ kind: fc.constant('duplicate' as const), tensor, other }),
      );
      const lengthField = fc.oneof(
        { weight: 8, arbitrary: fc.constant(null) },
        { weight: 2, arbitrary: fc.constantFrom(0n, 1n, 7n, 100_000_000n, 100_000_001n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n) },
      );
      return fc.record({
        seed: fc.nat(seeds.length - 1),
        tensorEdits: fc.array(tensorEdit, { maxLength: 3 }),
        jsonEdits: fc.array(jsonEdit(['dtype', 'shape', 'data_offsets', '__metadata__']), { maxLength: 2 }),
        dupKey: rarely,
        lengthField,
        bodyEdits: fc.array(byteEdit(), { maxLength: 3 }),
        fileEdits: fc.oneof({ weight: 4, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 2 }) }),
      }).map((c) => ({ files: { ...seeds[c.seed], 'model.safetensors': buildSafetensors(seeds[c.seed]['model.safetensors'], c) } }));
    },
    run: (c) => loadAndStep(c.files),
    size: filesSize,
  };
}

// ---- sharded safetensors: model.safetensors.index.json + shards -----------------------

/** Splits a single-file model into two shards and an index, as transformers' save_pretrained does. */
function shard(files: Files): Files {
  const { header, body } = splitSafetensors(files['model.safetensors']);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const halves = [names.slice(0, Math.ceil(names.length / 2)), names.slice(Math.ceil(names.length / 2))];
  const { 'model.safetensors': _single, ...out } = files; // config.json, tokenizer.json
  const weightMap: Record<string, string> = {};
  halves.forEach((list, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    const h: Record<string, unknown> = {};
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const name of list) {
      const t = header[name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
      const bytes = body.subarray(t.data_offsets[0], t.data_offsets[1]);
      h[name] = { ...t, data_offsets: [offset, offset + bytes.length] };
      parts.push(bytes);
      offset += bytes.length;
      weightMap[name] = file;
    }
    const json = utf8(JSON.stringify(h));
    const bytes = new Uint8Array(8 + json.length + offset);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
    bytes.set(json, 8);
    let at = 8 + json.length;
    for (const p of parts) { bytes.set(p, at); at += p.length; }
    out[file] = bytes;
  });
  out['model.safetensors.index.json'] = utf8(JSON.stringify({ metadata: { total_size: body.length }, weight_map: weightMap }));
  return out;
}

const SHARD_NAMES = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model-00003-of-00002.safetensors', 'model.safetensors.index.json', 'config.json'];

export function indexTarget(): FuzzTarget<FileCase> {
  let seeds: Files[] = [];
  let docs: unknown[] = [];
  return {
    name: 'index',
    async setup() {
      seeds = seedModels().map(shard);
      docs = seeds.map((s) => JSON.parse(new TextDecoder().decode(s['model.safetensors.index.json'])));
    },
    arbitrary() {
      const mapEdit = fc.record({ tensor: fc.nat(), value: fc.oneof(fc.constantFrom(...SHARD_NAMES), hostileValue()) });
      return fc.record({
        seed: fc.nat(seeds.length - 1),
        mapEdits: fc.array(mapEdit, { maxLength: 3 }),
        jsonEdits: fc.array(jsonEdit(['weight_map', 'metadata']), { maxLength: 2 }),
        dupKey: rarely,
        drop: fc.oneof({ weight: 9, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(1) }),
        shardEdits: fc.oneof({ weight: 4, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 2 }) }),
        textEdits: fc.oneof({ weight: 9, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 2 }) }),
      }).map((c) => {
        const files: Files = { ...seeds[c.seed] };
        const doc = structuredClone(docs[c.seed]) as { weight_map: Record<string, unknown> };
        const names = Object.keys(doc.weight_map);
        for (const e of c.mapEdits) doc.weight_map[names[e.tensor % names.length]] = e.value;
        files['model.safetensors.index.json'] = applyByteEdits(utf8(writePyJson(applyJsonEdits(doc, c.jsonEdits), c.dupKey)), c.textEdits);
        const shardName = SHARD_NAMES[Math.max(0, c.drop)];
        if (c.drop >= 0) delete files[shardName];
        else if (c.shardEdits.length) files[SHARD_NAMES[c.seed % 2]] = applyByteEdits(files[SHARD_NAMES[c.seed % 2]], c.shardEdits);
        return { files };
      });
    },
    run: (c) => loadAndStep(c.files),
    size: filesSize,
  };
}

// ---- GGUF (llama.cpp) ----------------------------------------------------------------

type KvValue = GgufValue;
interface GgufCase {
  seed: number;
  kvEdits: { index: number; value: KvValue | 'delete' | 'duplicate' }[];
  tensorEdits: { index: number; kind: 'drop' | 'duplicate' | 'dims' | 'type' | 'offset'; dim: number; value: number | bigint }[];
  tensorCount: bigint | null;
  kvCount: bigint | null;
  version: number | null;
  bytes: ByteEdit[];
}

const GGUF_HOSTILE_DIMS = [0, 1, 3, 31, 32, 33, 2 ** 31, 2 ** 32, 2 ** 53, 2n ** 63n, 2n ** 64n - 1n];
const GGUF_HOSTILE_TYPES = [0, 1, 2, 8, 30, 3, 10, 24, 27, 28, 39, 40, 1000, 2 ** 31];
const GGUF_HOSTILE_OFFSETS = [0, 1, 31, 33, 64, 2 ** 40, 2n ** 63n, 2n ** 64n - 1n];

function buildGguf(parts: { kv: [string, GgufValue][]; tensors: GgufTensor[] }, c: GgufCase): Uint8Array {
  const kv = parts.kv.map(([k, v]) => [k, v] as [string, GgufValue]);
  for (const e of c.kvEdits) {
    const i = e.index % kv.length;
    if (e.value === 'delete') kv.splice(i, 1);
    else if (e.value === 'duplicate') kv.push([kv[i][0], kv[i][1]]);
    else if (kv[i][0] !== 'general.alignment') kv[i] = [kv[i][0], e.value]; // the writer itself needs a sane alignment
  }
  const tensors = [...parts.tensors];
  const dims = new Map<number, { dim: number; value: number | bigint }>();
  const types = new Map<number, number>();
  const offsets = new Map<number, number | bigint>();
  for (const e of c.tensorEdits) {
    const i = e.index % tensors.length;
    if (e.kind === 'drop') tensors.splice(i, 1);
    else if (e.kind === 'duplicate') tensors.push(tensors[i]);
    else if (e.kind === 'dims') dims.set(i, { dim: e.dim, value: e.value });
    else if (e.kind === 'type') types.set(i, Number(e.value));
    else offsets.set(i, e.value);
  }
  const bytes = writeGguf(kv, tensors, {
    ...(c.tensorCount !== null ? { tensorCount: c.tensorCount } : {}),
    ...(c.kvCount !== null ? { kvCount: c.kvCount } : {}),
    ...(c.version !== null ? { version: c.version } : {}),
    dims: (i, d) => { const e = dims.get(i); if (!e) return d; const out: (number | bigint)[] = [...d]; out[e.dim % (d.length + 1)] = e.value; return out; },
    typeId: (i, id) => types.get(i) ?? id,
    offset: (i, o) => offsets.get(i) ?? o,
  });
  return applyByteEdits(bytes, c.bytes);
}

export function ggufTarget(): FuzzTarget<FileCase> {
  let seeds: { kv: [string, GgufValue][]; tensors: GgufTensor[] }[] = [];
  return {
    name: 'gguf',
    async setup() {
      const models = seedModels().slice(0, 3); // the Mamba-1 and Mamba-2 seeds: GGUF holds these architectures
      seeds = [];
      for (const [i, m] of models.entries()) {
        const config = parsePythonJson(new TextDecoder().decode(m['config.json']), 'config.json') as HfMambaConfig;
        const st = parseSafetensors(m['model.safetensors'], 'model.safetensors');
        const get = (n: string) => { const t = st.tensors.get(n); return t && { shape: t.shape, data: toFloat32(t).slice() }; };
        for (const dtype of (['f32', 'f16', 'q8_0', 'q4_0', 'bf16'] as GgufDType[]).filter((_, j) => j % models.length === i || j === 0)) {
          seeds.push(hfMambaToGgufParts(config, get, dtype));
        }
      }
    },
    arbitrary() {
      const u64 = (value: bigint): GgufValue => ({ type: 'u64', value });
      const kvValue: fc.Arbitrary<KvValue> = fc.oneof(
        fc.constantFrom(0, 1, 2, 3, 7, 31, 32, 33, 64, 255, 300, 65535, 2 ** 24, 2 ** 31, 2 ** 32 - 1).map(u32),
        fc.constantFrom(-1, -(2 ** 31), 0, 1).map(i32),
        fc.constantFrom(NaN, Infinity, -1, 0, 1e-5, 1e30).map(f32),
        fc.constantFrom('', 'mamba', 'mamba2', 'llama', 'gpt-2', 'x'.repeat(1000)).map(str),
        fc.boolean().map(bool),
        fc.constantFrom(0n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n).map(u64),
        fc.constantFrom([], [0], [1, 2, 3], new Array(1000).fill(7)).map((v) => arr('u32', v)),
        fc.constantFrom([], ['a'], ['', ''], new Array(300).fill('Ġ')).map((v) => arr('string', v)),
      );
      const hostileCount = fc.oneof(
        { weight: 9, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom(0n, 1n, 1000n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n) },
      );
      return fc.record({
        seed: fc.nat(seeds.length - 1),
        kvEdits: fc.array(fc.record({ index: fc.nat(), value: fc.oneof(kvValue, fc.constantFrom('delete' as const, 'duplicate' as const)) }), { maxLength: 3 }),
        tensorEdits: fc.array(fc.record({
          index: fc.nat(),
          kind: fc.constantFrom('drop' as const, 'duplicate' as const, 'dims' as const, 'type' as const, 'offset' as const),
          dim: fc.nat(3),
          value: fc.oneof(fc.constantFrom(...GGUF_HOSTILE_DIMS), fc.constantFrom(...GGUF_HOSTILE_TYPES), fc.constantFrom(...GGUF_HOSTILE_OFFSETS)),
        }), { maxLength: 3 }),
        tensorCount: hostileCount,
        kvCount: hostileCount,
        version: fc.oneof({ weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 4, 2 ** 31) }),
        bytes: fc.oneof({ weight: 3, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 3 }) }),
      }).map((c) => ({ files: { 'model.gguf': buildGguf(seeds[c.seed], c) } }));
    },
    run: (c) => loadAndStep(c.files),
    size: filesSize,
  };
}

// ---- the HTTP handler (createHandler) ---------------------------------------------------

export interface RequestCase { method: string; path: string; body: Uint8Array; contentType: string }

const HANDLER_FIELDS = ['prompt', 'messages', 'max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'stream', 'state', 'return_state', 'role', 'content', 'model', 'n'];

/**
 * Request bodies: completions and chat requests (with and without a saved state, streamed or not)
 * with hostile fields, JSON edits and byte edits. Property: a Response always comes back and its body
 * ends; it is never an `internal_error` (an untyped exception inside), in the status or in an SSE event.
 */
export function handlerTarget(): FuzzTarget<RequestCase> {
  let model: Model | undefined;
  let handler: ((r: Request) => Promise<Response>) | undefined;
  let bodies: Record<string, unknown>[] = [];
  return {
    name: 'handler',
    async setup() {
      model = await loadModel({ ...seedModels()[0], 'tokenizer.json': new Uint8Array(readFileSync(root('models/default/tokenizer.json'))) }, { backend: 'reference' });
      handler = createHandler(model, { maxTokensLimit: 8, defaultMaxTokens: 4 });
      const s = model.createSession();
      await s.prefill([1, 2, 3]);
      const state = Buffer.from(await s.saveState()).toString('base64');
      await s.dispose();
      bodies = [
        { prompt: 'Once upon a time', max_tokens: 4, seed: 1 },
        { prompt: 'Hi', max_tokens: 3, stream: true, temperature: 0.5, stop: ['\n'] },
        { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }], max_tokens: 3, seed: 2 },
        { messages: [{ role: 'user', content: 'more' }], max_tokens: 2, stream: true, return_state: true },
        { prompt: ' and then', state, max_tokens: 2, return_state: true },
      ];
    },
    async teardown() { await model?.dispose(); },
    arbitrary() {
      return fc.record({
        seed: fc.nat(bodies.length - 1),
        fields: fc.array(fc.record({ field: fc.constantFrom(...HANDLER_FIELDS), value: hostileValue() }), { maxLength: 2 }),
        jsonEdits: fc.array(jsonEdit(HANDLER_FIELDS), { maxLength: 2 }),
        dupKey: rarely,
        bytes: fc.oneof({ weight: 6, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 2 }) }),
        route: fc.oneof(
          { weight: 12, arbitrary: fc.constant(null) },
          { weight: 1, arbitrary: fc.constantFrom(['GET', '/v1/models'], ['GET', '/v1/completions'], ['PUT', '/v1/chat/completions'], ['POST', '/v1/nothing'], ['POST', '/../v1/completions'], ['OPTIONS', '/v1/completions']) },
        ),
        contentType: fc.constantFrom('application/json', 'application/json', 'text/plain', ''),
      }).map((c): RequestCase => {
        const body = structuredClone(bodies[c.seed]);
        for (const f of c.fields) body[f.field] = f.value;
        const chat = 'messages' in bodies[c.seed];
        const [method, path] = c.route ?? ['POST', chat ? '/v1/chat/completions' : '/v1/completions'];
        return { method, path, body: applyByteEdits(utf8(writePyJson(applyJsonEdits(body, c.jsonEdits), c.dupKey)), c.bytes), contentType: c.contentType };
      });
    },
    async run(c) {
      const init: RequestInit = { method: c.method, headers: c.contentType ? { 'content-type': c.contentType } : {} };
      if (c.method !== 'GET' && c.method !== 'HEAD') init.body = c.body as Uint8Array<ArrayBuffer>;
      const res = await handler!(new Request(`http://localhost${c.path}`, init));
      const text = await res.text(); // a stream must end
      if (res.status >= 500 || text.includes('"internal_error"')) {
        throw new Error(`handler answered ${res.status}: ${text.slice(0, 300)}`);
      }
      return `HTTP ${res.status}`;
    },
    size: (c) => c.body.byteLength,
  };
}

// ---- config.json --------------------------------------------------------------------

/** Every field a model graph reads from config.json (grep `r.int(` etc. in src/models). */
export const CONFIG_FIELDS = [
  'model_type', 'vocab_size', 'hidden_size', 'num_hidden_layers', 'num_layers', 'state_size', 'expand', 'conv_kernel', 'use_bias',
  'use_conv_bias', 'tie_word_embeddings', 'layer_norm_epsilon', 'norm_eps', 'time_step_rank', 'num_heads', 'head_dim', 'n_groups',
  'chunk_size', 'time_step_limit', 'hidden_act', 'eos_token_id', 'residual_in_fp32', 'rms_norm', 'embedding_size', 'proj_size',
  'bias', 'bidirectional', 'gated', 'head_bias', 'dropout', 'nonlinearity', 'architectures',
];

export function configTarget(): FuzzTarget<FileCase> {
  let seeds: Files[] = [];
  let docs: unknown[] = [];
  return {
    name: 'config',
    async setup() {
      seeds = seedModels();
      docs = seeds.map((s) => parsePythonJson(new TextDecoder().decode(s['config.json']), 'config.json'));
    },
    arbitrary() {
      const fieldEdit = fc.record({ field: fc.constantFrom(...CONFIG_FIELDS), value: hostileValue() });
      return fc.record({
        seed: fc.nat(seeds.length - 1),
        fields: fc.array(fieldEdit, { minLength: 0, maxLength: 3 }),
        jsonEdits: fc.array(jsonEdit(CONFIG_FIELDS), { maxLength: 2 }),
        dupKey: rarely,
        textEdits: fc.oneof({ weight: 5, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 3 }) }),
      }).map((c) => {
        const doc = structuredClone(docs[c.seed]) as Record<string, unknown>;
        for (const f of c.fields) doc[f.field] = f.value;
        const text = utf8(writePyJson(applyJsonEdits(doc, c.jsonEdits), c.dupKey));
        return { files: { ...seeds[c.seed], 'config.json': applyByteEdits(text, c.textEdits) } };
      });
    },
    run: (c) => loadAndStep(c.files),
    size: filesSize,
  };
}

// ---- tokenizer.json ----------------------------------------------------------------

/** Text encoded by every case: ASCII, accents, an emoji, whitespace runs, the special token. */
const SAMPLE_TEXT = 'Hello, world!  123 ünïcødé 🙂\n\tend<|endoftext|> aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!';

const PRE_TOKENIZERS: unknown[] = [
  null,
  { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  { type: 'Whitespace' },
  { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Isolated', invert: false },
  { type: 'Split', pattern: { Regex: '(' }, behavior: 'Removed', invert: false },
  // Catastrophic backtracking on SAMPLE_TEXT's run of a's: exponential time unless refused.
  { type: 'Split', pattern: { Regex: '(a+)+$' }, behavior: 'Isolated', invert: false },
  { type: 'Split', pattern: { Regex: '(\\w+\\s?)*$' }, behavior: 'Isolated', invert: false },
  { type: 'Split', pattern: { Regex: '' }, behavior: 'Isolated', invert: false },
  { type: 'Split', pattern: { String: '' }, behavior: 'Isolated', invert: false },
  { type: 'Split', pattern: 7, behavior: 'Nonsense', invert: 'yes' },
  { type: 'Digits', individual_digits: true },
  { type: 'Punctuation' },
  { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'Digits' }] },
  { type: 'Sequence', pretokenizers: 'x' },
  { type: 'Sequence' },
  { type: 'NoSuchPreTokenizer' },
];

const NORMALIZERS: unknown[] = [
  null,
  { type: 'NFC' }, { type: 'NFKD' }, { type: 'Lowercase' }, { type: 'Strip', left: true, right: true },
  { type: 'Replace', pattern: { String: 'a' }, content: 'aaaaaaaaaaaaaaaa' },
  { type: 'Replace', pattern: { Regex: '[' }, content: '' },
  { type: 'Replace', pattern: { Regex: '(a*)*b' }, content: '' },
  { type: 'Prepend', prepend: '▁' },
  { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Lowercase' }] },
  { type: 'Sequence', normalizers: null },
  { type: 'Precompiled', precompiled_charsmap: 'AAAA' },
  { type: 'Nope' },
];

export function tokenizerTarget(): FuzzTarget<FileCase> {
  let model: Files = {};
  let docs: unknown[] = [];
  return {
    name: 'tokenizer',
    async setup() {
      model = seedModels()[0]; // vocab 300 holds both seed tokenizers (256 and 272 ids)
      docs = ['models/default/tokenizer.json', 'test/fixtures/tokenizer-tiny/tokenizer.json'].map((p) => JSON.parse(readFileSync(root(p), 'utf8')));
    },
    arbitrary() {
      const targeted = fc.oneof(
        fc.record({ path: fc.constant('vocab'), index: fc.nat(), value: hostileValue() }),
        fc.record({ path: fc.constant('vocabId'), index: fc.nat(), value: fc.constantFrom(...HOSTILE_NUMBERS, 299, 300, 301, 1e6, 1e9) }),
        fc.record({ path: fc.constant('added'), index: fc.nat(), value: hostileValue() }),
        fc.record({ path: fc.constant('pre_tokenizer'), index: fc.nat(PRE_TOKENIZERS.length - 1), value: fc.constant(null) }),
        fc.record({ path: fc.constant('normalizer'), index: fc.nat(NORMALIZERS.length - 1), value: fc.constant(null) }),
        fc.record({ path: fc.constant('merges'), index: fc.nat(), value: hostileValue() }),
        fc.record({ path: fc.constant('modelType'), index: fc.nat(), value: fc.constantFrom('BPE', 'WordPiece', 'Unigram', 'WordLevel', null, 3) }),
        fc.record({ path: fc.constant('unk'), index: fc.nat(), value: hostileValue() }),
      );
      const tokConfig = fc.option(fc.record({
        add_bos_token: fc.oneof(fc.constant(true), hostileValue()),
        bos_token: fc.oneof(fc.constantFrom('<|endoftext|>', 'a', 'Ġ'), hostileValue()),
        eos_token: fc.oneof(fc.constantFrom('<|endoftext|>', { content: '<|endoftext|>' }), hostileValue()),
      }, { requiredKeys: [] }));
      return fc.record({
        seed: fc.nat(docs.length - 1),
        targeted: fc.array(targeted, { maxLength: 3 }),
        jsonEdits: fc.array(jsonEdit(['type', 'vocab', 'merges', 'added_tokens', 'unk_token', 'id', 'content', 'special']), { maxLength: 2 }),
        dupKey: rarely,
        textEdits: fc.oneof({ weight: 6, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 3 }) }),
        tokConfig,
      }).map((c) => {
        const doc = structuredClone(docs[c.seed]) as { model: { type?: unknown; vocab: Record<string, unknown>; merges?: unknown[]; unk_token?: unknown }; added_tokens: unknown[]; [k: string]: unknown };
        for (const e of c.targeted) {
          const vocab = doc.model.vocab;
          const tokens = Object.keys(vocab);
          if (e.path === 'vocab') vocab[tokens[e.index % tokens.length]] = e.value;
          else if (e.path === 'vocabId') vocab[tokens[e.index % tokens.length]] = e.value;
          else if (e.path === 'added') {
            if (doc.added_tokens.length && e.index % 2) (doc.added_tokens[e.index % doc.added_tokens.length] as Record<string, unknown>)[['id', 'content', 'special'][e.index % 3]] = e.value;
            else doc.added_tokens.push({ id: typeof e.value === 'number' ? e.value : 280, content: typeof e.value === 'string' ? e.value : '<x>', special: true });
          } else if (e.path === 'pre_tokenizer') doc.pre_tokenizer = structuredClone(PRE_TOKENIZERS[e.index]);
          else if (e.path === 'normalizer') doc.normalizer = structuredClone(NORMALIZERS[e.index]);
          else if (e.path === 'merges') (doc.model.merges ??= []).push(e.value, ['a', 'b'], 'Ġ t');
          else if (e.path === 'modelType') doc.model.type = e.value;
          else doc.model.unk_token = e.value;
        }
        const text = applyByteEdits(utf8(writePyJson(applyJsonEdits(doc, c.jsonEdits), c.dupKey)), c.textEdits);
        const files: Files = { ...model, 'tokenizer.json': text };
        if (c.tokConfig) files['tokenizer_config.json'] = utf8(writePyJson(c.tokConfig));
        return { files };
      });
    },
    run: (c) => loadAndStep(c.files, async (m) => {
      const ids = m.tokenizer.encode(SAMPLE_TEXT);
      if (ids.length) await m.forward([ids.slice(0, 4)]);
      m.tokenizer.decode(ids);
    }),
    size: filesSize,
  };
}

// ---- saved session states -----------------------------------------------------------


export interface StateCase { model: number; blob: Uint8Array }

interface Blob { header: Record<string, unknown>; payload: Uint8Array }

function splitState(blob: Uint8Array): Blob {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const h = view.getUint32(12, true);
  const start = (16 + h + 3) & ~3;
  return { header: JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + h))), payload: blob.slice(start, blob.length - 4) };
}

/** The state blob layout of src/api/state-blob.ts, with every field open to tampering. */
function writeState(o: { header: Uint8Array; payload: Uint8Array; version: number; headerLength: number; crc: 'right' | 'wrong' }): Uint8Array {
  const start = (16 + o.header.length + 3) & ~3;
  const out = new Uint8Array(start + o.payload.length + 4);
  const view = new DataView(out.buffer);
  out.set([0x4d, 0x41, 0x4d, 0x42, 0x41, 0x53, 0x54, 0x00]);
  view.setUint32(8, o.version, true);
  view.setUint32(12, o.headerLength, true);
  out.set(o.header, 16);
  out.set(o.payload, start);
  const crc = crc32(out.subarray(0, out.length - 4));
  view.setUint32(out.length - 4, o.crc === 'right' ? crc : crc ^ 1, true);
  return out;
}

const STATE_FIELDS = ['fingerprint', 'architecture', 'position', 'pendingToken', 'rng', 'decoderPending', 'tensors', 'hasLogits', 'kv', 'kvHeads', 'headDim', 'length'];

export function stateTarget(): FuzzTarget<StateCase> {
  const models: Model[] = [];
  let blobs: (Blob & { model: number })[] = [];
  return {
    name: 'state',
    async setup() {
      // A Mamba-1 model, and a Bamba-style hybrid whose state carries KV caches.
      const seeds = seedModels();
      for (const files of [seeds[0], seeds[8]]) models.push(await loadModel(files, { backend: 'reference' }));
      blobs = [];
      for (const [i, model] of models.entries()) {
        const fresh = model.createSession();
        const a = await fresh.saveState();
        await fresh.prefill([1, 2, 3]);
        const b = await fresh.saveState(); // ends on prefill: carries logits
        await fresh.generate([195 % model.config.vocabSize], { maxTokens: 2, seed: 1 }).finished; // a pending token, maybe an unfinished UTF-8 sequence
        const c = await fresh.saveState();
        await fresh.dispose();
        blobs.push(...[a, b, c].map((x) => ({ ...splitState(x), model: i })));
      }
    },
    async teardown() { for (const m of models) await m.dispose(); },
    arbitrary() {
      const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 0xffffffff, 0x7fffffff, 1 << 20, (1 << 20) + 1), fc.nat());
      return fc.record({
        seed: fc.nat(blobs.length - 1),
        fields: fc.array(fc.record({ field: fc.constantFrom(...STATE_FIELDS), value: hostileValue() }), { maxLength: 2 }),
        jsonEdits: fc.array(jsonEdit(STATE_FIELDS), { maxLength: 2 }),
        floats: fc.array(fc.record({ at: fc.nat(), value: fc.constantFrom(NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e-45, 0, 1e6) }), { maxLength: 3 }),
        version: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: u32 }),
        headerLength: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: u32 }),
        crc: fc.oneof({ weight: 9, arbitrary: fc.constant('right' as const) }, { weight: 1, arbitrary: fc.constant('wrong' as const) }),
        dupKey: rarely,
        payloadEdits: fc.oneof({ weight: 3, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 2 }) }),
        blobEdits: fc.oneof({ weight: 9, arbitrary: fc.constant([] as ByteEdit[]) }, { weight: 1, arbitrary: fc.array(byteEdit(), { maxLength: 2 }) }),
      }).map((c) => {
        const { header, payload, model } = blobs[c.seed];
        const h = structuredClone(header);
        for (const f of c.fields) h[f.field] = f.value;
        const json = utf8(writePyJson(applyJsonEdits(h, c.jsonEdits), c.dupKey));
        let p = applyByteEdits(payload, c.payloadEdits);
        if (c.floats.length && p.length >= 4) {
          p = p.slice();
          const v = new DataView(p.buffer);
          for (const f of c.floats) v.setFloat32(4 * (f.at % Math.floor(p.length / 4)), f.value, true);
        }
        const blob = writeState({ header: json, payload: p, version: c.version, headerLength: c.headerLength ?? json.length, crc: c.crc });
        return { model, blob: applyByteEdits(blob, c.blobEdits) };
      });
    },
    async run({ model, blob }) {
      const s = models[model].createSession({ state: blob });
      try {
        await s.generate([5], { maxTokens: 2, seed: 3 }).finished;
      } finally {
        await s.dispose();
      }
    },
    size: (c) => c.blob.byteLength,
  };
}

export const TARGETS: Record<string, () => FuzzTarget<any>> = {
  safetensors: safetensorsTarget,
  index: indexTarget,
  gguf: ggufTarget,
  handler: handlerTarget,
  config: configTarget,
  tokenizer: tokenizerTarget,
  state: stateTarget,
};

export { HOSTILE_STRINGS };
