/**
 * Hugging Face transformers goldens (made by tools/make_goldens.py on a machine with
 * PyTorch): shared by every backend's golden suite so each backend is held to the same oracle.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors, toFloat32 } from '../../src/formats/safetensors.js';

export const GOLDEN_DIR = new URL('../fixtures/goldens/', import.meta.url).pathname;

export interface GoldenCase {
  name: string;
  dir: string;
  inputIds: number[][];
  greedyPrompt: number[];
  greedyTokens: number[];
  logits: Float32Array; // [B, T, V]
  hidden: Float32Array; // [B, T, D]
  greedyLogits: Float32Array | null; // [20, V]
  meta: Record<string, unknown>;
}

/** Mamba-3 goldens (tools/make_mamba3_goldens.py): the same files, from state-spaces/mamba's reference recurrences. */
export const MAMBA3_GOLDEN_DIR = new URL('../fixtures/mamba3/', import.meta.url).pathname;

export function goldenCases(root: string = GOLDEN_DIR): GoldenCase[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'golden.json')))
    .map((d) => {
      const dir = join(root, d.name);
      const meta = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8'));
      const st = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'logits.safetensors'))), 'logits.safetensors');
      const get = (n: string) => (st.tensors.has(n) ? toFloat32(st.tensors.get(n)!).slice() : null);
      return {
        name: d.name, dir, meta,
        inputIds: meta.input_ids, greedyPrompt: meta.greedy.prompt,
        // Where transformers' cached step ignores time_step_limit (it clamps only in the full forward),
        // the goldens also hold the clamp-everywhere answer, which is what a consistent port computes.
        greedyTokens: meta.greedy.hf_step_path_ignores_time_step_limit ? meta.greedy.tokens_no_cache_fp64 : meta.greedy.tokens,
        logits: get('logits')!, hidden: get('hidden')!,
        greedyLogits: meta.greedy.hf_step_path_ignores_time_step_limit ? get('greedy_logits_no_cache') : get('greedy_logits'),
      };
    });
}

/** max |a − b| and the largest |b|, for tolerance checks relative to the output's scale. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}
