/**
 * The page side of mamba-edge's in-browser benchmark (bundled by bench/peers/chromium.ts with
 * esbuild and the browser runtime plugin, as examples/browser is): fetch the Hugging Face
 * folder's files, loadModel (the model runs in the coordinator worker, threads over Web
 * Workers when the page is cross-origin isolated), then the same measurement as Node's
 * bench (src/cli/measure.ts).
 */
import { loadModel } from '../../src/index.js';
import { measureSpeed } from '../../src/cli/measure.js';
import type { LoadDType } from '../../src/api/types.js';

interface Args { base: string; threads: number; dtype: LoadDType; promptTokens: number; genTokens: number }

async function run(a: Args) {
  const files: Record<string, Uint8Array> = {};
  for (const name of ['config.json', 'model.safetensors']) {
    const r = await fetch(a.base + name);
    if (!r.ok) throw new Error(`${a.base}${name}: HTTP ${r.status}`);
    files[name] = new Uint8Array(await r.arrayBuffer());
  }
  const t0 = performance.now();
  const model = await loadModel(files, { backend: 'wasm', threads: a.threads, dtype: a.dtype });
  const loadMs = performance.now() - t0;
  try {
    const speed = await measureSpeed(model, { promptTokens: a.promptTokens, genTokens: a.genTokens, seed: 1 });
    return {
      engine: 'mamba-edge wasm', threads: model.backendInfo.threads, dtype: model.info.dtype, weightBytes: model.info.weightBytes,
      loadMs, ...speed, ttftMs: speed.prefillMs, note: model.backendInfo.note, isolated: crossOriginIsolated,
    };
  } finally {
    await model.dispose();
  }
}

Object.assign(globalThis, { mambaEdgeBench: run });
