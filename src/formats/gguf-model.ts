/**
 * A llama.cpp GGUF file of architecture `mamba` or `mamba2`, seen as a checkpoint for our
 * graphs (src/models/mamba.ts, mamba2.ts): metadata → the graph's config, GGUF tensor names
 * and shapes → the Hugging Face ones the graphs ask for, tokenizer.ggml.* → a tokenizer.json.
 *
 * The naming and shape conventions are llama.cpp's (convert_hf_to_gguf.py MambaModel /
 * Mamba2Model, src/llama-model.cpp, gguf-py constants), the inverse of what the converter does:
 *
 *   HF (backbone.layers.N.mixer.*)      GGUF (blk.N.*)            stored as
 *   backbone.embeddings.weight          token_embd.weight         [V, D]
 *   layers.N.norm.weight                blk.N.attn_norm.weight    [D]
 *   in_proj.weight / .bias              ssm_in.weight / .bias     [P, D]
 *   conv1d.weight [C, 1, K] / .bias     ssm_conv1d.weight / .bias [C, K] (squeezed)
 *   x_proj.weight (Mamba-1)             ssm_x.weight              [R + 2N, I]
 *   dt_proj.weight (Mamba-1)            ssm_dt.weight             [I, R] (f16 when R % 32 ≠ 0 in q8_0 files)
 *   dt_proj.bias / dt_bias (Mamba-2)    ssm_dt.bias               [I] / [H]
 *   A_log                               ssm_a                     A = −exp(A_log): [I, N] / [H, 1]
 *   D                                   ssm_d                     [I] / [H, 1]
 *   norm.weight (Mamba-2)               ssm_norm.weight           [G, I / G]
 *   out_proj.weight / .bias             ssm_out.weight / .bias    [D, I]
 *   backbone.norm_f.weight              output_norm.weight        [D]
 *   lm_head.weight                      output.weight             absent when tied
 *
 * Metadata: {arch}.embedding_length (D), block_count (L), ssm.inner_size (I), ssm.state_size (N),
 * ssm.conv_kernel (K), ssm.time_step_rank (R; Mamba-2: the head count H), ssm.group_count (G,
 * Mamba-2), attention.layer_norm_rms_epsilon; the vocabulary size is token_embd's row count.
 */
import type { LoadDType } from '../api/types.js';
import { storedDType, type Backend, type Tensor, type WeightDType } from '../backends/backend.js';
import { PieceBuffers, uploadInPieces, type FingerprintFeed } from './upload-pieces.js';
import { fail } from '../errors.js';
import type { ModelGraph, TensorGetter, TensorSpec } from '../models/graph.js';
import { architectureFor } from '../models/registry.js';
import { dequantize, GgufMeta, parseGguf, tensorTypeCounts, type GgufFile, type GgufTensorInfo } from './gguf.js';
import { readVocab, tokenizerSpec, type TokenizerSpec } from './gguf-tokenizer.js';
import { ConfigReader } from './hf-config.js';

export interface GgufCheckpoint {
  file: string;
  gguf: GgufFile;
  graph: ModelGraph;
  cfg: ReturnType<ModelGraph['parseConfig']>;
  specs: TensorSpec[];
  warnings: string[];
  /** How many tensors of each ggml type the file holds, e.g. `{ F32: 50, Q8_0: 24 }`. */
  tensorTypes: Record<string, number>;
  /** The storage dtype closest to the file's matrices (q8_0 and q4_0 files → 'q8_0', f16 → 'f16'). */
  preferredDType: LoadDType;
  /** Tensor values by HF name, decoded to f32 (read-only: F32 tensors may be views of the file's bytes). */
  get: TensorGetter;
  /** The stored bytes behind an HF name (for the fingerprint). */
  bytesOf(name: string): Uint8Array;
  /**
   * A getter that also hands each tensor's stored bytes to `saw` (the fingerprint), so that a
   * file read by tensor (parseGgufFromRanges) has each tensor read once.
   */
  getVia(hash: FingerprintFeed): TensorGetter;
  /** tokenizer.json + tokenizer_config.json objects built from tokenizer.ggml.*; undefined when the file has no vocabulary. */
  tokenizer?: TokenizerSpec;
  /**
   * `backend` as `graph.prepare` should see it: uploads of Q8_0 matrices in q8_0 go through
   * `uploadEncoded` (the file's blocks copied as they are) instead of dequantize → requantize.
   */
  uploadView(backend: Backend): { backend: Backend; passedThrough: () => number };
}

const SUPPORTED_ARCHS = ['mamba', 'mamba2'];
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const MAX_DIM = 1 << 24;
/** Largest tensor read into the load's reused buffer (PieceBuffers): the size of an f32 upload piece. */
const REUSED_READ_BYTES = 4 * 1024 * 1024;

/**
 * The shortest decimal that rounds to the same f32: GGUF stores floats as f32, so the converter
 * turned config.json's 1e-5 into 9.99999975e-6; this gives 1e-5 back. (Backends that compute
 * in f32 see the same value either way; the f64 reference backend then equals the folder load.)
 */
function shortestF32Decimal(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const d = Number(x.toPrecision(p));
    if (Math.fround(d) === x) return d;
  }
  return x;
}

/** HF checkpoint name → GGUF tensor name and the shape it has there (PyTorch order). */
function ggufNameOf(hf: string, hfShape: number[], arch: string, nGroups: number): { name: string; shape: number[] } {
  const same = (name: string) => ({ name, shape: hfShape });
  if (hf === 'backbone.embeddings.weight') return same('token_embd.weight');
  if (hf === 'backbone.norm_f.weight') return same('output_norm.weight');
  if (hf === 'lm_head.weight') return same('output.weight');
  const m = /^backbone\.layers\.(\d+)\.(.*)$/.exec(hf);
  if (!m) throw new Error(`no GGUF name for ${hf}`); // a graph spec this table does not know: a bug, not bad input
  const b = `blk.${m[1]}.`;
  const local = m[2];
  const mamba2 = arch === 'mamba2';
  switch (local) {
    case 'norm.weight': return same(`${b}attn_norm.weight`);
    case 'mixer.in_proj.weight': return same(`${b}ssm_in.weight`);
    case 'mixer.in_proj.bias': return same(`${b}ssm_in.bias`);
    case 'mixer.conv1d.weight': return { name: `${b}ssm_conv1d.weight`, shape: [hfShape[0], hfShape[2]] };
    case 'mixer.conv1d.bias': return same(`${b}ssm_conv1d.bias`);
    case 'mixer.x_proj.weight': return same(`${b}ssm_x.weight`);
    case 'mixer.dt_proj.weight': return same(`${b}ssm_dt.weight`);
    case 'mixer.dt_proj.bias': case 'mixer.dt_bias': return same(`${b}ssm_dt.bias`);
    case 'mixer.A_log': return { name: `${b}ssm_a`, shape: mamba2 ? [hfShape[0], 1] : hfShape };
    case 'mixer.D': return { name: `${b}ssm_d`, shape: mamba2 ? [hfShape[0], 1] : hfShape };
    case 'mixer.norm.weight': return { name: `${b}ssm_norm.weight`, shape: [nGroups, hfShape[0] / nGroups] };
    case 'mixer.out_proj.weight': return same(`${b}ssm_out.weight`);
    case 'mixer.out_proj.bias': return same(`${b}ssm_out.bias`);
  }
  throw new Error(`no GGUF name for ${hf}`);
}

/**
 * Maps a GGUF file (its bytes, or parsed already — e.g. by parseGgufFromRanges, read by tensor);
 * throws a MambaEdgeError for anything it cannot run exactly.
 */
export function ggufCheckpoint(source: Uint8Array | GgufFile, file: string): GgufCheckpoint {
  const g = source instanceof Uint8Array ? parseGguf(source, file) : source;
  const meta = new GgufMeta(g);
  const arch = meta.str('general.architecture');
  if (!SUPPORTED_ARCHS.includes(arch)) {
    throw fail('E_ARCH', `${file}: GGUF architecture ${JSON.stringify(arch.slice(0, 80))} is not supported (supported: ${SUPPORTED_ARCHS.join(', ')})`, { file, field: 'general.architecture' });
  }
  const k = (key: string) => `${arch}.${key}`;
  const D = meta.int(k('embedding_length'), 1, MAX_DIM);
  const L = meta.int(k('block_count'), 1, 4096);
  const I = meta.int(k('ssm.inner_size'), 1, MAX_DIM);
  const N = meta.int(k('ssm.state_size'), 1, MAX_DIM);
  const K = meta.int(k('ssm.conv_kernel'), 1, 1024);
  const R = meta.int(k('ssm.time_step_rank'), 1, MAX_DIM);
  const eps = shortestF32Decimal(meta.float(k('attention.layer_norm_rms_epsilon'), 0, 1));
  const G = arch === 'mamba2' ? meta.int(k('ssm.group_count'), 1, MAX_DIM) : 1;
  if (arch === 'mamba' && meta.bool(k('ssm.dt_b_c_rms'), false)) {
    throw fail('E_ARCH', `${file}: metadata "${k('ssm.dt_b_c_rms')}" is true (FalconMamba's RMS norms on Δ, B and C), which mamba-edge does not implement`, { file, field: k('ssm.dt_b_c_rms') });
  }
  for (const name of g.tensors.keys()) {
    if (/^blk\.\d+\.ssm_(dt|b|c)_norm\./.test(name)) {
      throw fail('E_ARCH', `${file}: tensor "${name}" is a FalconMamba/Jamba norm on Δ, B or C, which mamba-edge does not implement`, { file, field: name });
    }
  }

  const embd = g.tensors.get('token_embd.weight');
  if (!embd) throw fail('E_FORMAT', `${file}: tensor "token_embd.weight" is missing (every ${arch} GGUF has it)`, { file, field: 'token_embd.weight' });
  if (embd.shape.length !== 2 || embd.shape[1] !== D) {
    throw fail('E_SHAPE', `${file}: tensor "token_embd.weight" has shape [${embd.shape}], expected [vocab, ${D}] (${k('embedding_length')} = ${D})`, { file, field: 'token_embd.weight' });
  }
  const V = embd.shape[0];

  // The Hugging Face config these numbers stand for, so the graphs parse and check it as they would config.json.
  const raw: Record<string, unknown> = {
    model_type: arch,
    vocab_size: V,
    hidden_size: D,
    num_hidden_layers: L,
    state_size: N,
    conv_kernel: K,
    expand: I / D,
    intermediate_size: I,
    layer_norm_epsilon: eps,
    tie_word_embeddings: !g.tensors.has('output.weight'),
    use_bias: g.tensors.has('blk.0.ssm_in.bias'),
    use_conv_bias: g.tensors.has('blk.0.ssm_conv1d.bias'),
  };
  if (arch === 'mamba') raw.time_step_rank = R;
  else {
    if (I % R !== 0) {
      throw fail('E_CONFIG', `${file}: ${k('ssm.inner_size')} (${I}) must be a multiple of ${k('ssm.time_step_rank')} (${R}, the head count)`, { file, field: k('ssm.time_step_rank') });
    }
    if (R % G !== 0) {
      throw fail('E_CONFIG', `${file}: ${k('ssm.group_count')} (${G}) must divide the head count ${k('ssm.time_step_rank')} (${R})`, { file, field: k('ssm.group_count') });
    }
    Object.assign(raw, { num_heads: R, head_dim: I / R, n_groups: G });
  }
  const vocab = readVocab(meta, file, V);
  if (vocab?.eos !== undefined) raw.eos_token_id = vocab.eos;
  if (vocab?.bos !== undefined) raw.bos_token_id = vocab.bos;

  const graph = architectureFor(arch, file);
  const cfg = graph.parseConfig(new ConfigReader(raw, `${file} (metadata)`));
  if (cfg.intermediateSize !== I) {
    throw fail('E_CONFIG', `${file}: ${k('ssm.inner_size')} = ${I} is not a whole multiple of ${k('embedding_length')} = ${D} that transformers' int(expand × hidden_size) reproduces`, { file, field: k('ssm.inner_size') });
  }
  // llama.cpp (like mamba_ssm) normalises each group alone before out_proj.
  if (arch === 'mamba2') (cfg as { normGroupSize?: number }).normGroupSize = I / G;
  const specs = graph.tensors(cfg);

  // Every tensor the config implies, present with llama.cpp's shape.
  const byHf = new Map<string, GgufTensorInfo>();
  for (const spec of specs) {
    const want = ggufNameOf(spec.name, spec.shape, arch, G);
    const t = g.tensors.get(want.name);
    if (!t) throw fail('E_FORMAT', `${file}: tensor "${want.name}" is missing (the metadata implies it, with shape [${want.shape}])`, { file, field: want.name });
    if (t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i])) {
      throw fail('E_SHAPE', `${file}: tensor "${t.name}" has shape [${t.shape}] (ggml ne [${[...t.shape].reverse()}]), but the metadata implies [${want.shape}]`, { file, field: t.name });
    }
    byHf.set(spec.name, t);
  }
  // A tensor we would not use may be one that changes the computation (a bias in some layers
  // only, a norm of a variant): refused, as llama.cpp refuses a file with unexpected tensors.
  const used = new Set([...byHf.values()].map((t) => t.name));
  const extra = [...g.tensors.keys()].filter((n) => !used.has(n));
  if (extra.length > 0) {
    const shown = extra.slice(0, 4).map((n) => `"${n}"`).join(', ') + (extra.length > 4 ? `, and ${extra.length - 4} more` : '');
    throw fail('E_FORMAT', `${file}: ${extra.length} tensor(s) that a ${arch} model with this metadata does not have: ${shown}`, { file, field: extra[0] });
  }
  const warnings: string[] = [];

  const matrixTypes = new Set(specs.filter((s) => s.matrix).map((s) => byHf.get(s.name)!.type));
  const preferredDType: LoadDType = matrixTypes.has('Q8_0') || matrixTypes.has('Q4_0') ? 'q8_0'
    : [...matrixTypes].every((t) => t === 'F16') ? 'f16' : 'f32';

  // Dequantized arrays of Q8_0 tensors, by their buffer, so an upload of (a row block of) one can find
  // its blocks: the bytes read with them (a file read by tensor reads `data` afresh at every access).
  const q8Source = new WeakMap<ArrayBufferLike, Uint8Array>();
  const tensorOf = (name: string): GgufTensorInfo => {
    const t = byHf.get(name);
    if (!t) throw fail('E_FORMAT', `${file}: the graph asked for "${name}", which is not among the tensors it declared`, { file, field: name });
    return t;
  };
  const isA = (name: string) => name.endsWith('.A_log');
  /** F32 data as it is where aligned (a fresh read, or the caller's file bytes: read-only either way), else decoded. */
  const decode = (type: GgufTensorInfo['type'], data: Uint8Array): Float32Array =>
    (type === 'F32' && data.byteOffset % 4 === 0 && LITTLE_ENDIAN ? new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4) : dequantize({ type, data }));
  const getWith = (hash?: FingerprintFeed): TensorGetter => {
    const buffers = new PieceBuffers();
    const read = (name: string): [GgufTensorInfo, Uint8Array] => {
      const t = tensorOf(name);
      const data = t.data; // read from the file here when the file is read by tensor
      hash?.saw(name, data);
      return [t, data];
    };
    /**
     * The bytes of a tensor that decodes into a fresh array and is not kept (F16: dt_proj in q8_0
     * files), read into the load's reused buffer and hashed as they pass, where the file is read by
     * tensor and the fingerprint takes this tensor now; else as `read` does. A fresh buffer per
     * tensor lingers as garbage until V8's next external-memory GC. (Q8_0 bytes are kept for the
     * pass-through upload below; F32 values are views of the bytes.)
     */
    const readToDecode = (name: string): [GgufTensorInfo, Uint8Array] => {
      const t = tensorOf(name);
      const stream = hash && t.type !== 'F32' && t.type !== 'Q8_0' && t.readRange && t.size <= REUSED_READ_BYTES ? hash.streamNext(name) : null;
      if (!stream) return read(name);
      const bytes = t.readRange!(0, t.size, buffers.bytesFor(t.size));
      stream.push(bytes);
      stream.end();
      return [t, bytes];
    };
    const get: TensorGetter = (name) => {
      const [t, data] = readToDecode(name);
      const values = decode(t.type, data);
      if (isA(name)) return values.map((a) => Math.log(-a)); // ssm_a holds A = −exp(A_log)
      if (t.type === 'Q8_0') q8Source.set(values.buffer, data);
      return values;
    };
    get.negExpOf = (name) => {
      if (!isA(name)) return undefined;
      const [t, data] = read(name);
      return decode(t.type, data);
    };
    if (hash) {
      // The largest tensors (embeddings) without an f32 copy in JavaScript: q8_0 blocks as they are,
      // F32 from the file a few MiB at a time.
      get.uploadWhole = (name, backend, shape, dtype) => {
        const t = tensorOf(name);
        if (isA(name)) return null;
        if (t.type === 'Q8_0' && dtype === 'q8_0' && backend.uploadEncoded && storedDType(shape, dtype) === 'q8_0') {
          // A matrix no larger than an f32 piece (in_proj, out_proj: 1–3 MB each, 48 per 130M model)
          // is read into the load's reused piece buffer and hashed as it passes, not into a fresh
          // buffer per tensor: those lingered as garbage until V8's external-memory GC, ~10 MiB of
          // RSS at the end of a q8_0 load. (Declined by the backend: the graph reads it again
          // through `get`, whose hashing then skips it.)
          const stream = t.readRange && t.size <= REUSED_READ_BYTES ? hash.streamNext(name) : null;
          if (stream) {
            const bytes = t.readRange!(0, t.size, buffers.bytesFor(t.size));
            stream.push(bytes);
            stream.end();
            return backend.uploadEncoded(bytes, shape, 'q8_0');
          }
          const data = t.data;
          const out = backend.uploadEncoded(data, shape, 'q8_0');
          if (out) hash.saw(name, data);
          return out;
        }
        if (t.type !== 'F32' || !LITTLE_ENDIAN) return null;
        return uploadInPieces(hash, buffers, name, backend, shape, dtype, 4, t.readRange, (bytes) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
      };
    }
    return get;
  };
  const get = getWith();

  return {
    file, gguf: g, graph, cfg, specs, warnings, preferredDType, get,
    tensorTypes: tensorTypeCounts(g),
    bytesOf: (name) => tensorOf(name).data,
    getVia: (hash) => getWith(hash),
    tokenizer: vocab && tokenizerSpec(vocab, meta, file),
    uploadView(backend) {
      let count = 0;
      const upload = (data: Float32Array, shape: readonly number[], dtype: WeightDType = 'f32'): Tensor => {
        const src = dtype === 'q8_0' && backend.uploadEncoded ? q8Source.get(data.buffer) : undefined;
        const cols = shape[shape.length - 1];
        const first = data.byteOffset / 4;
        if (src && cols % 32 === 0 && first % 32 === 0 && data.length % 32 === 0) {
          // A row block [first, first + n) of a row-major matrix whose rows are whole q8_0 blocks.
          const t = backend.uploadEncoded!(src.subarray((first / 32) * 34, ((first + data.length) / 32) * 34), shape, 'q8_0');
          if (t) { count++; return t; }
        }
        return backend.upload(data, shape, dtype);
      };
      const view = new Proxy(backend, {
        get(target, prop) {
          if (prop === 'upload') return upload;
          const v = Reflect.get(target, prop, target);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      return { backend: view, passedThrough: () => count };
    },
  };
}
