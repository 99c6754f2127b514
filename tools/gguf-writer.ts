/**
 * A small GGUF v3 writer (llama.cpp's model file format), for benchmarks and tests: the
 * same random weights our loader reads from safetensors, written so llama.cpp (native
 * through node-llama-cpp, WebAssembly through wllama) runs exactly that model.
 *
 * File layout (GGUF v3, little-endian):
 *   "GGUF" u32 version=3, u64 tensor count, u64 key-value count
 *   key-values: string key, u32 value type, value (arrays: u32 element type, u64 count, elements)
 *   tensor infos: string name, u32 n_dims, u64 dims[n_dims] (ggml order: innermost first,
 *                 i.e. PyTorch's shape reversed), u32 ggml type, u64 offset into the data
 *   padding to `general.alignment` (32), then the tensor data, each tensor aligned to 32
 * Strings are u64 length + UTF-8 bytes.
 *
 * `hfMambaToGguf` maps a Hugging Face Mamba / Mamba-2 checkpoint the way llama.cpp's
 * convert_hf_to_gguf.py does: same tensor names, A stored as −exp(A_log), conv1d squeezed
 * to [C, K], Mamba-2's A and D as [H, 1] and its norm as [G, I/G], tied embeddings without
 * an `output` tensor, and for f16 / q8_0 the converter's type rules (1-D tensors, norms, conv1d
 * and tensors not named *.weight stay f32; for q8_0, rows not a multiple of 32, like
 * mamba-130m's dt_proj with dt_rank 48, fall back to f16). q4_0 (what llama-quantize makes)
 * follows the q8_0 rules with q4_0 blocks.
 */
import { f32ToBf16, f32ToF16 } from '../src/formats/half.js';

// ---- values ----------------------------------------------------------------

const T = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;
type Scalar = Exclude<keyof typeof T, 'array'>;

export type GgufValue =
  | { type: Scalar; value: number | bigint | boolean | string }
  | { type: 'array'; of: Scalar; values: readonly (number | bigint | boolean | string)[] };

export const u32 = (value: number): GgufValue => ({ type: 'u32', value });
export const i32 = (value: number): GgufValue => ({ type: 'i32', value });
export const f32 = (value: number): GgufValue => ({ type: 'f32', value });
export const bool = (value: boolean): GgufValue => ({ type: 'bool', value });
export const str = (value: string): GgufValue => ({ type: 'string', value });
export const arr = (of: Scalar, values: readonly (number | bigint | boolean | string)[]): GgufValue => ({ type: 'array', of, values });

/** ggml tensor types this writer produces (ggml.h's enum values). */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;
export type GgmlType = keyof typeof GGML_TYPE;

export interface GgufTensor {
  name: string;
  /** PyTorch order (outermost first); written reversed, as ggml wants. */
  shape: readonly number[];
  type: GgmlType;
  data: Float32Array;
}

const ALIGNMENT = 32;
const QK8_0 = 32;
const Q8_0_BYTES = 34;
const Q4_0_BYTES = 18;
const enc = new TextEncoder();
const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

export function tensorBytes(shape: readonly number[], type: GgmlType): number {
  const n = shape.reduce((a, b) => a * b, 1);
  if (type === 'F32') return n * 4;
  if (type === 'F16' || type === 'BF16') return n * 2;
  if (shape[shape.length - 1] % QK8_0 !== 0) throw new Error(`${type} needs rows that are a multiple of ${QK8_0}, got shape [${shape}]`);
  return (n / QK8_0) * (type === 'Q4_0' ? Q4_0_BYTES : Q8_0_BYTES);
}

/** Growable little-endian byte writer for the header (the tensor data is written in place). */
class Out {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  private need(n: number) {
    if (this.pos + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    b.set(this.buf);
    this.buf = b;
    this.view = new DataView(b.buffer);
  }
  u8(x: number) { this.need(1); this.view.setUint8(this.pos, x); this.pos += 1; }
  i8(x: number) { this.need(1); this.view.setInt8(this.pos, x); this.pos += 1; }
  u16(x: number) { this.need(2); this.view.setUint16(this.pos, x, true); this.pos += 2; }
  i16(x: number) { this.need(2); this.view.setInt16(this.pos, x, true); this.pos += 2; }
  u32(x: number) { this.need(4); this.view.setUint32(this.pos, x, true); this.pos += 4; }
  i32(x: number) { this.need(4); this.view.setInt32(this.pos, x, true); this.pos += 4; }
  f32(x: number) { this.need(4); this.view.setFloat32(this.pos, x, true); this.pos += 4; }
  f64(x: number) { this.need(8); this.view.setFloat64(this.pos, x, true); this.pos += 8; }
  u64(x: number | bigint) { this.need(8); this.view.setBigUint64(this.pos, BigInt(x), true); this.pos += 8; }
  i64(x: number | bigint) { this.need(8); this.view.setBigInt64(this.pos, BigInt(x), true); this.pos += 8; }
  str(s: string) { const b = enc.encode(s); this.u64(b.length); this.need(b.length); this.buf.set(b, this.pos); this.pos += b.length; }
  scalar(type: Scalar, v: number | bigint | boolean | string) {
    switch (type) {
      case 'string': return this.str(String(v));
      case 'bool': return this.u8(v ? 1 : 0);
      case 'u64': return this.u64(v as number | bigint);
      case 'i64': return this.i64(v as number | bigint);
      default: return this[type](Number(v));
    }
  }
}

/** f32 → GGUF q8_0 blocks, as ggml-quants.c quantize_row_q8_0_ref (q from the f32 scale, scale stored as f16). */
export function quantizeQ8_0(x: Float32Array, out: Uint8Array, offset = 0): void {
  const view = new DataView(out.buffer, out.byteOffset);
  for (let b = 0; b < x.length / QK8_0; b++) {
    let amax = 0;
    for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[b * QK8_0 + j]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const at = offset + b * Q8_0_BYTES;
    view.setUint16(at, f32ToF16(d), true);
    for (let j = 0; j < QK8_0; j++) {
      const v = Math.fround(x[b * QK8_0 + j] * id);
      // C's roundf: halves away from zero.
      view.setInt8(at + 2 + j, Math.sign(v) * Math.floor(Math.abs(v) + 0.5));
    }
  }
}

/**
 * f32 → GGUF q4_0 blocks, as ggml-quants.c quantize_row_q4_0_ref: d = max / −8 where max is the
 * value of largest magnitude (sign kept), q = min(15, trunc(x/d + 8.5)); byte j holds element j
 * in its low nibble and element j + 16 in its high nibble.
 */
export function quantizeQ4_0(x: Float32Array, out: Uint8Array, offset = 0): void {
  const view = new DataView(out.buffer, out.byteOffset);
  for (let b = 0; b < x.length / QK8_0; b++) {
    let amax = 0, max = 0;
    for (let j = 0; j < QK8_0; j++) {
      const v = x[b * QK8_0 + j];
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    const at = offset + b * Q4_0_BYTES;
    view.setUint16(at, f32ToF16(d), true);
    // (int8_t)(x*id + 8.5f) truncates toward zero; the sum is ≥ 0.5 here, so trunc = floor.
    const q = (v: number) => Math.min(15, Math.trunc(Math.fround(Math.fround(v * id) + 8.5)));
    for (let j = 0; j < QK8_0 / 2; j++) {
      view.setUint8(at + 2 + j, q(x[b * QK8_0 + j]) | (q(x[b * QK8_0 + j + QK8_0 / 2]) << 4));
    }
  }
}

/**
 * Changes to what the header says, for tests of malformed files: the tensor data is still laid
 * out as usual, only the recorded numbers differ.
 */
export interface GgufTamper {
  tensorCount?: bigint;
  kvCount?: bigint;
  version?: number;
  /** The recorded ggml type id of tensor i. */
  typeId?: (i: number, id: number) => number;
  /** The recorded data offset of tensor i (relative to the data section). */
  offset?: (i: number, offset: number) => bigint | number;
  /** The recorded dims of tensor i (ggml order). */
  dims?: (i: number, dims: number[]) => (bigint | number)[];
}

/** Serializes a whole GGUF v3 file. */
export function writeGguf(kv: ReadonlyArray<readonly [string, GgufValue]>, tensors: readonly GgufTensor[], tamper: GgufTamper = {}): Uint8Array {
  // general.alignment when the key-values set it (GGUF's default is 32).
  const alignKv = kv.find(([k]) => k === 'general.alignment')?.[1];
  const align = alignKv && alignKv.type === 'u32' ? Number(alignKv.value) : ALIGNMENT;
  const head = new Out(1 << 20);
  head.u32(0x46554747); // "GGUF"
  head.u32(tamper.version ?? 3);
  head.u64(tamper.tensorCount ?? tensors.length);
  head.u64(tamper.kvCount ?? kv.length);
  for (const [key, v] of kv) {
    head.str(key);
    head.u32(T[v.type]);
    if (v.type === 'array') {
      head.u32(T[v.of]);
      head.u64(v.values.length);
      for (const x of v.values) head.scalar(v.of, x);
    } else head.scalar(v.type, v.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  tensors.forEach((t, i) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new Error(`${t.name}: ${t.data.length} values for shape [${t.shape}]`);
    head.str(t.name);
    const dims = tamper.dims ? tamper.dims(i, [...t.shape].reverse()) : [...t.shape].reverse();
    head.u32(dims.length);
    for (const d of dims) head.u64(d);
    head.u32(tamper.typeId ? tamper.typeId(i, GGML_TYPE[t.type]) : GGML_TYPE[t.type]);
    head.u64(tamper.offset ? tamper.offset(i, offset) : offset);
    offsets.push(offset);
    offset = alignUp(offset + tensorBytes(t.shape, t.type), align);
  });
  const dataStart = alignUp(head.pos, align);
  const file = new Uint8Array(dataStart + offset);
  file.set(head.buf.subarray(0, head.pos));
  const view = new DataView(file.buffer);
  tensors.forEach((t, i) => {
    const at = dataStart + offsets[i];
    if (t.type === 'F32') new Uint8Array(file.buffer, at, t.data.length * 4).set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4));
    else if (t.type === 'F16') for (let j = 0; j < t.data.length; j++) view.setUint16(at + 2 * j, f32ToF16(t.data[j]), true);
    else if (t.type === 'BF16') for (let j = 0; j < t.data.length; j++) view.setUint16(at + 2 * j, f32ToBf16(t.data[j]), true);
    else if (t.type === 'Q4_0') quantizeQ4_0(t.data, file, at);
    else quantizeQ8_0(t.data, file, at);
  });
  return file;
}

// ---- Hugging Face Mamba / Mamba-2 → GGUF ---------------------------------------

export interface HfTensor {
  shape: readonly number[];
  data: Float32Array;
}

/** The fields of a Hugging Face MambaConfig / Mamba2Config that the conversion reads. */
export interface HfMambaConfig {
  model_type: 'mamba' | 'mamba2';
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  state_size: number;
  expand?: number;
  intermediate_size?: number;
  conv_kernel?: number;
  time_step_rank?: number | 'auto';
  layer_norm_epsilon?: number;
  head_dim?: number;
  n_groups?: number;
  tie_word_embeddings?: boolean;
  eos_token_id?: number;
}

/** GGUF's `general.file_type` (llama_ftype): all f32, mostly f16, mostly q4_0, mostly q8_0, mostly bf16. */
const FILE_TYPE = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 } as const;
export type GgufDType = keyof typeof FILE_TYPE;

/** A tokenizer to store in the GGUF (llama.cpp's tokenizer.ggml.* keys); default: `byteLevelVocab`. */
export interface GgufVocab {
  tokens: string[];
  /** llama_token_type per token: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  types: number[];
  /** "a b" pairs, highest priority first. */
  merges?: string[];
  /** tokenizer.ggml.pre: which pre-tokenizer regex llama.cpp applies ('gpt-2', 'olmo', ...). */
  pre?: string;
  bos?: number;
  eos?: number;
  unk?: number;
  pad?: number;
  addBos?: boolean;
}

/**
 * A byte-level vocabulary llama.cpp loads as a GPT-2 BPE tokenizer: token 0 is
 * <|endoftext|> (control; bos = eos = 0), tokens 1..256 the 256 bytes in GPT-2's
 * byte-to-unicode spelling (so any text tokenizes, "\n" included, which llama.cpp checks
 * at load), the rest placeholders up to the model's vocabulary size. No merges.
 */
export function byteLevelVocab(vocabSize: number): { tokens: string[]; types: number[] } {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const byteChar: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) byteChar.push(String.fromCodePoint(printable(b) ? b : 256 + extra++));
  const tokens = ['<|endoftext|>', ...byteChar];
  const types = [3, ...byteChar.map(() => 1)]; // 3 = control, 1 = normal
  for (let i = tokens.length; i < vocabSize; i++) { tokens.push(`<|unused_${i}|>`); types.push(1); }
  return { tokens: tokens.slice(0, vocabSize), types: types.slice(0, vocabSize) };
}

export function hfMambaToGguf(
  config: HfMambaConfig,
  get: (name: string) => HfTensor | undefined,
  dtype: GgufDType,
  name = `random-${config.model_type}`,
  vocabIn?: GgufVocab,
): Uint8Array {
  const { kv, tensors } = hfMambaToGgufParts(config, get, dtype, name, vocabIn);
  return writeGguf(kv, tensors);
}

/** The key-values and tensors `hfMambaToGguf` writes (tests edit them to make malformed files). */
export function hfMambaToGgufParts(
  config: HfMambaConfig,
  get: (name: string) => HfTensor | undefined,
  dtype: GgufDType,
  name = `random-${config.model_type}`,
  vocabIn?: GgufVocab,
): { kv: [string, GgufValue][]; tensors: GgufTensor[] } {
  const arch = config.model_type;
  const D = config.hidden_size;
  const I = config.intermediate_size ?? Math.trunc((config.expand ?? 2) * D);
  const N = config.state_size;
  const K = config.conv_kernel ?? 4;
  const L = config.num_hidden_layers;
  const V = config.vocab_size;
  const G = config.n_groups ?? 1;
  const P = config.head_dim ?? 64;
  const rawRank = config.time_step_rank;
  const R = arch === 'mamba' ? (rawRank === undefined || rawRank === 'auto' ? Math.ceil(D / 16) : rawRank) : I / P;
  // (llama.cpp's converter pads the vocabulary to a multiple of 8 / 16; llama.cpp does not need it.)

  const need = (n: string): HfTensor => {
    const t = get(n);
    if (!t) throw new Error(`missing tensor ${n}`);
    return t;
  };
  const tensors: GgufTensor[] = [];
  const typeFor = (gname: string, shape: readonly number[]): GgmlType => {
    if (dtype === 'f32') return 'F32';
    // convert_hf_to_gguf.py: 1-D tensors, norms, conv1d and tensors without a .weight suffix stay f32.
    if (shape.length <= 1 || gname.endsWith('_norm.weight') || gname.includes('.ssm_conv1d.') || !gname.endsWith('.weight')) return 'F32';
    if (dtype === 'f16') return 'F16';
    if (dtype === 'bf16') return 'BF16';
    return shape[shape.length - 1] % QK8_0 === 0 ? (dtype === 'q4_0' ? 'Q4_0' : 'Q8_0') : 'F16';
  };
  const put = (gname: string, t: HfTensor, shape: readonly number[] = t.shape, data: Float32Array = t.data) => {
    tensors.push({ name: gname, shape, type: typeFor(gname, shape), data });
  };

  const embed = need('backbone.embeddings.weight');
  put('token_embd.weight', embed);
  for (let l = 0; l < L; l++) {
    const p = `backbone.layers.${l}.`;
    const m = `${p}mixer.`;
    const b = `blk.${l}.`;
    const opt = (hf: string, gname: string) => { const t = get(m + hf); if (t) put(b + gname, t); };
    put(`${b}attn_norm.weight`, need(`${p}norm.weight`));
    put(`${b}ssm_in.weight`, need(`${m}in_proj.weight`));
    opt('in_proj.bias', 'ssm_in.bias');
    const conv = need(`${m}conv1d.weight`);
    put(`${b}ssm_conv1d.weight`, conv, [conv.shape[0], conv.shape[2]]); // [C, 1, K] → [C, K]
    opt('conv1d.bias', 'ssm_conv1d.bias');
    const aLog = need(`${m}A_log`);
    const A = aLog.data.map((v) => -Math.exp(v));
    if (arch === 'mamba') {
      put(`${b}ssm_x.weight`, need(`${m}x_proj.weight`));
      put(`${b}ssm_dt.weight`, need(`${m}dt_proj.weight`));
      put(`${b}ssm_dt.bias`, need(`${m}dt_proj.bias`));
      put(`${b}ssm_a`, aLog, aLog.shape, A);
      put(`${b}ssm_d`, need(`${m}D`));
    } else {
      const H = aLog.shape[0];
      put(`${b}ssm_dt.bias`, need(`${m}dt_bias`));
      put(`${b}ssm_a`, aLog, [H, 1], A);
      put(`${b}ssm_d`, need(`${m}D`), [H, 1]);
      put(`${b}ssm_norm.weight`, need(`${m}norm.weight`), [G, I / G]);
    }
    put(`${b}ssm_out.weight`, need(`${m}out_proj.weight`));
    opt('out_proj.bias', 'ssm_out.bias');
  }
  put('output_norm.weight', need('backbone.norm_f.weight'));
  const head = get('lm_head.weight');
  if (head && !(config.tie_word_embeddings ?? true)) put('output.weight', head);

  const k = (s: string) => `${arch}.${s}`;
  const vocab: GgufVocab = vocabIn ?? { ...byteLevelVocab(V), eos: config.eos_token_id ?? 0, bos: config.eos_token_id ?? 0 };
  const special = (key: string, id: number | undefined): [string, GgufValue][] => (id === undefined ? [] : [[`tokenizer.ggml.${key}`, u32(id)]]);
  const kv: [string, GgufValue][] = [
    ['general.architecture', str(arch)],
    ['general.name', str(name)],
    ['general.file_type', u32(FILE_TYPE[dtype])],
    ['general.quantization_version', u32(2)],
    ['general.alignment', u32(ALIGNMENT)],
    [k('context_length'), u32(1 << 20)],
    [k('embedding_length'), u32(D)],
    [k('feed_forward_length'), u32(0)],
    [k('attention.head_count'), u32(0)],
    [k('block_count'), u32(L)],
    [k('ssm.conv_kernel'), u32(K)],
    [k('ssm.inner_size'), u32(I)],
    [k('ssm.state_size'), u32(N)],
    [k('ssm.time_step_rank'), u32(R)],
    ...(arch === 'mamba2' ? [[k('ssm.group_count'), u32(G)] as [string, GgufValue]] : []),
    [k('attention.layer_norm_rms_epsilon'), f32(config.layer_norm_epsilon ?? 1e-5)],
    ...(arch === 'mamba' ? [[k('ssm.dt_b_c_rms'), bool(false)] as [string, GgufValue]] : []),
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str(vocab.pre ?? 'default')],
    ['tokenizer.ggml.tokens', arr('string', vocab.tokens)],
    ['tokenizer.ggml.token_type', arr('i32', vocab.types)],
    ['tokenizer.ggml.merges', arr('string', vocab.merges ?? [])],
    ...special('bos_token_id', vocab.bos),
    ...special('eos_token_id', vocab.eos),
    ...special('unknown_token_id', vocab.unk),
    ...special('padding_token_id', vocab.pad),
    ['tokenizer.ggml.add_bos_token', bool(vocab.addBos ?? false)],
  ];
  return { kv, tensors };
}
