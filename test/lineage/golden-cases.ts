/**
 * The PyTorch goldens of the lineage (made by tools/make_lineage_goldens.py on the GPU machine):
 * test/fixtures/lineage/<case>/{config.json, model.safetensors, golden.json, golden.safetensors}.
 * golden.safetensors holds F64 tensors, which the runtime's loader (F32/F16/BF16 weights) does not
 * take, so they are read here. LINEAGE_GOLDEN_DIR points the suite at a freshly generated set.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const LINEAGE_GOLDEN_DIR = process.env.LINEAGE_GOLDEN_DIR ?? new URL('../fixtures/lineage/', import.meta.url).pathname;

export interface LineageGolden {
  name: string;
  /** The folder holding config.json + model.safetensors (long cases share their base case's). */
  modelDir: string;
  meta: {
    covers: string; model_type: string; T: number; batch: number;
    input_ids: number[][]; positions: number[] | null;
    greedy: { prompt: number[]; tokens: number[]; top1_minus_top2: number[] };
    stats: Record<string, number>;
    config: Record<string, unknown>;
  };
  /** [B, T, V] (or [B, P, V] at meta.positions for long cases). */
  logits: Float64Array;
  /** [B, T, D]; null for long cases. */
  hidden: Float64Array | null;
  /** [NEW, V]: the logits each greedy token was chosen from. */
  greedyLogits: Float64Array;
}

function readF64Safetensors(bytes: Uint8Array): Map<string, Float64Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const out = new Map<string, Float64Array>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (t.dtype !== 'F64') throw new Error(`${name}: expected F64, got ${t.dtype}`);
    const [a, b] = t.data_offsets;
    const values = new Float64Array((b - a) / 8);
    for (let i = 0; i < values.length; i++) values[i] = view.getFloat64(8 + n + a + 8 * i, true);
    out.set(name, values);
  }
  return out;
}

export function lineageGoldens(dir = LINEAGE_GOLDEN_DIR): LineageGolden[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'golden.json')))
    .map((d) => {
      const caseDir = join(dir, d.name);
      const meta = JSON.parse(readFileSync(join(caseDir, 'golden.json'), 'utf8'));
      const t = readF64Safetensors(new Uint8Array(readFileSync(join(caseDir, 'golden.safetensors'))));
      return {
        name: d.name,
        modelDir: resolve(caseDir, meta.model_dir ?? '.'),
        meta,
        logits: t.get('logits') ?? t.get('logits_at')!,
        hidden: t.get('hidden') ?? null,
        greedyLogits: t.get('greedy_logits')!,
      };
    });
}

