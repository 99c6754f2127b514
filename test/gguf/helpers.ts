/**
 * GGUF fixtures made on the fly: the golden Hugging Face checkpoints (test/fixtures/goldens)
 * written by tools/gguf-writer.ts the way llama.cpp's converter writes them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, toFloat32 } from '../../src/formats/safetensors.js';
import { parsePythonJson } from '../../src/formats/pyjson.js';
import { hfMambaToGguf, hfMambaToGgufParts, type GgufDType, type GgufValue, type GgufTensor, type GgufVocab, type HfMambaConfig, type HfTensor } from '../../tools/gguf-writer.js';
import type { LoadDType } from '../../src/api/types.js';
import { ModelImpl } from '../../src/api/model.js';
import { selectBackend } from '../../src/backends/registry.js';
import { ConfigReader } from '../../src/formats/hf-config.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/formats/half.js';
import { architectureFor } from '../../src/models/registry.js';
import { byteTokenizer } from '../../src/tokenizer/index.js';
import { quantizeQ4_0, quantizeQ8_0 } from '../../tools/gguf-writer.js';
import type { BackendName } from '../../src/api/types.js';

export interface HfFolder {
  config: HfMambaConfig & Record<string, unknown>;
  tensors: Map<string, HfTensor>;
}

export function readHfFolder(dir: string): HfFolder {
  const config = parsePythonJson(readFileSync(join(dir, 'config.json'), 'utf8'), 'config.json') as HfFolder['config'];
  const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), 'model.safetensors');
  const tensors = new Map<string, HfTensor>();
  for (const [name, t] of st.tensors) tensors.set(name, { shape: t.shape, data: toFloat32(t).slice() });
  return { config, tensors };
}

/** The key-values and tensors of a golden's GGUF, to edit before writing (tools/gguf-writer.ts writeGguf). */
export function goldenGgufParts(dir: string, dtype: GgufDType, vocab?: GgufVocab): { kv: [string, GgufValue][]; tensors: GgufTensor[] } {
  const { config, tensors } = readHfFolder(dir);
  return hfMambaToGgufParts(config, (n) => tensors.get(n), dtype, 'test', vocab);
}

export function goldenGguf(dir: string, dtype: GgufDType, vocab?: GgufVocab): Uint8Array {
  const { config, tensors } = readHfFolder(dir);
  return hfMambaToGguf(config, (n) => tensors.get(n), dtype, 'test', vocab);
}

// ---- an oracle: the HF checkpoint through the same graph, with llama.cpp's semantics --------------

/** ggml-quants.c dequantize_row_q8_0 / _q4_0, written out again here so the oracle does not share the loader's code. */
function dequantRef(blocks: Uint8Array, n: number, q4: boolean): Float32Array {
  const out = new Float32Array(n);
  const size = q4 ? 18 : 34;
  for (let b = 0; b < n / 32; b++) {
    const d = f16ToF32(blocks[b * size] | (blocks[b * size + 1] << 8));
    for (let j = 0; j < 32; j++) {
      if (!q4) { out[b * 32 + j] = d * new Int8Array(blocks.buffer, blocks.byteOffset + b * size + 2, 32)[j]; continue; }
      const byte = blocks[b * size + 2 + (j % 16)];
      out[b * 32 + j] = d * ((j < 16 ? byte & 15 : byte >> 4) - 8);
    }
  }
  return out;
}

/** What a matrix's values become in a GGUF of this type (the writer's rules: rows not a multiple of 32 fall back to f16). */
export function storedValues(data: Float32Array, cols: number, fileType: GgufDType): Float32Array {
  if (fileType === 'f32') return data;
  if (fileType === 'bf16') return data.map((v) => bf16ToF32(f32ToBf16(v)));
  if (fileType === 'f16' || cols % 32 !== 0) return data.map((v) => f16ToF32(f32ToF16(v)));
  const q4 = fileType === 'q4_0';
  const blocks = new Uint8Array((data.length / 32) * (q4 ? 18 : 34));
  (q4 ? quantizeQ4_0 : quantizeQ8_0)(data, blocks);
  return dequantRef(blocks, data.length, q4);
}

/**
 * The golden HF folder run through our graph directly (no GGUF code involved), with the
 * semantics a GGUF file carries: Mamba-2 normalises per group (I / G) and has no Δ clamp and
 * the default chunk size (GGUF stores neither), and matrices hold the values a `fileType` GGUF
 * stores. Loaded as `dtype` on `backend`.
 */
export async function oracleModel(dir: string, fileType: GgufDType, backendName: BackendName, dtype: LoadDType): Promise<ModelImpl> {
  const { config, tensors } = readHfFolder(dir);
  const graph = architectureFor(config.model_type, 'config.json');
  const cfg = graph.parseConfig(new ConfigReader(config, 'config.json')) as ReturnType<typeof graph.parseConfig> & Record<string, unknown>;
  if (cfg.architecture === 'mamba2') Object.assign(cfg, { normGroupSize: cfg.intermediateSize / (cfg.nGroups ?? 1), timeStepLimit: [0, Infinity], chunkSize: 256 });
  const specs = new Map(graph.tensors(cfg).map((s) => [s.name, s]));
  const backend = await selectBackend(backendName, { ops: graph.requiredOps, dtype }, { threads: 1 });
  const get = (name: string) => {
    const t = tensors.get(name)!;
    return specs.get(name)!.matrix ? storedValues(t.data, t.shape[t.shape.length - 1], fileType) : t.data;
  };
  const weights = graph.prepare(cfg, backend, get, dtype);
  return new ModelImpl({ graph, cfg, backend, weights, tokenizer: byteTokenizer(Math.max(256, cfg.vocabSize)), fingerprint: 'oracle', dtype, warnings: [], parameters: 0, weightBytes: 0 });
}

/**
 * A tokenizer.json as llama.cpp's converter stores it (convert_hf_to_gguf.py get_vocab_base):
 * tokens by id, added tokens CONTROL when special else USER_DEFINED, ids the tokenizer lacks
 * padded as "[PAD{id}]" UNUSED up to the model's vocabulary, merges as "a b".
 */
export function vocabFromTokenizerJson(json: string, vocabSize: number, pre: string, eos?: number): GgufVocab {
  const t = JSON.parse(json) as { model: { vocab: Record<string, number>; merges?: (string | [string, string])[] }; added_tokens?: { id: number; content: string; special?: boolean }[] };
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < vocabSize; i++) { tokens.push(`[PAD${i}]`); types.push(5); }
  for (const [tok, id] of Object.entries(t.model.vocab)) { tokens[id] = tok; types[id] = 1; }
  for (const a of t.added_tokens ?? []) { tokens[a.id] = a.content; types[a.id] = a.special ? 3 : 4; }
  const merges = (t.model.merges ?? []).map((m) => (typeof m === 'string' ? m : m.join(' ')));
  return { tokens, types, merges, pre, eos, bos: eos };
}
