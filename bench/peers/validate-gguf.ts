/**
 * Checks that tools/gguf-writer.ts writes the same model llama.cpp and mamba-edge run:
 *   1. @huggingface/gguf parses each GGUF: architecture, hyperparameters, tensor names,
 *      shapes (ggml order) and types as llama.cpp's converter would write them;
 *   2. node-llama-cpp loads the f32 GGUF and greedy-decodes after a seeded random prompt;
 *      mamba-edge (wasm backend) does the same on the Hugging Face folder: the tokens must agree.
 *
 *   node --import tsx bench/peers/validate-gguf.ts [--models mamba-130m,mamba2-130m]
 * Exits 1 on a mismatch.
 */
import { gguf } from '@huggingface/gguf';
import { BENCH_MODEL_NAMES, BENCH_MODELS, benchModel, type BenchModelName } from '../../tools/bench-models.js';
import { promptIds, runLlama } from './llama.js';
import { loadModel } from '../../src/node.js';
import { argmax } from '../../src/cli/measure.js';

const PROMPT = 32;
const GEN = 12;
let failed = false;
const check = (ok: boolean, what: string) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`); if (!ok) failed = true; };

async function ours(hf: string, ids: number[], n: number): Promise<number[]> {
  const model = await loadModel(hf, { backend: 'wasm', threads: 1 });
  try {
    const s = model.createSession();
    let logits = await s.prefill(ids);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = argmax(logits);
      out.push(t);
      if (i + 1 < n) logits = await s.step(t);
    }
    await s.dispose();
    return out;
  } finally {
    await model.dispose();
  }
}

const i = process.argv.indexOf('--models');
const names = (i > 0 ? process.argv[i + 1].split(',') : BENCH_MODEL_NAMES) as BenchModelName[];
for (const name of names) {
  const shape = BENCH_MODELS[name];
  const files = benchModel(name);
  const arch = shape.modelType;
  for (const dtype of ['f32', 'q8_0'] as const) {
    const { metadata, tensorInfos } = await gguf(files.gguf[dtype], { allowLocalFile: true });
    const md = metadata as Record<string, unknown>;
    const infos = new Map(tensorInfos.map((t) => [t.name, t]));
    const dims = (n: string) => infos.get(n)?.shape.map(Number).join(',');
    const type = (n: string) => infos.get(n)?.dtype;
    const I = shape.hiddenSize * 2;
    const N = shape.stateSize;
    check(md['general.architecture'] === arch && Number(md['version']) === 3, `${name} ${dtype}: GGUF v3, architecture ${arch}`);
    check(Number(md[`${arch}.block_count`]) === shape.numLayers && Number(md[`${arch}.embedding_length`]) === shape.hiddenSize
      && Number(md[`${arch}.ssm.inner_size`]) === I && Number(md[`${arch}.ssm.state_size`]) === N && Number(md[`${arch}.ssm.conv_kernel`]) === 4,
    `${name} ${dtype}: hyperparameters`);
    const perLayer = arch === 'mamba' ? 10 : 9;
    check(tensorInfos.length === 2 + perLayer * shape.numLayers, `${name} ${dtype}: ${tensorInfos.length} tensors (tied output omitted)`);
    check(dims('token_embd.weight') === `${shape.hiddenSize},${shape.vocabSize}`, `${name} ${dtype}: token_embd [${dims('token_embd.weight')}] (ggml order)`);
    check(dims('blk.0.ssm_conv1d.weight') === `4,${arch === 'mamba' ? I : I + 2 * N}`, `${name} ${dtype}: ssm_conv1d [${dims('blk.0.ssm_conv1d.weight')}]`);
    if (arch === 'mamba') {
      check(dims('blk.0.ssm_a') === `${N},${I}` && type('blk.0.ssm_a') === 0, `${name} ${dtype}: ssm_a [${dims('blk.0.ssm_a')}] f32`);
      // q8_0 blocks are 32 wide: dt_proj's rows (dt_rank 48) stay f16, as llama.cpp's converter does.
      check(type('blk.0.ssm_dt.weight') === (dtype === 'f32' ? 0 : 1), `${name} ${dtype}: ssm_dt.weight type ${type('blk.0.ssm_dt.weight')}`);
    } else {
      const H = I / 64;
      check(dims('blk.0.ssm_a') === `1,${H}` && dims('blk.0.ssm_norm.weight') === `${I},1`, `${name} ${dtype}: ssm_a [${dims('blk.0.ssm_a')}], ssm_norm [${dims('blk.0.ssm_norm.weight')}]`);
    }
    check(type('blk.0.ssm_in.weight') === (dtype === 'f32' ? 0 : 8), `${name} ${dtype}: ssm_in type ${type('blk.0.ssm_in.weight')}`);
  }
  const ids = promptIds(PROMPT, shape.vocabSize);
  const peer = await runLlama({ gguf: files.gguf.f32, threads: 1, promptTokens: PROMPT, genTokens: GEN - 1, vocabSize: shape.vocabSize, warmup: false });
  const mine = await ours(files.hf, ids, GEN);
  const agree = mine.filter((t, k) => t === peer.tokens[k]).length;
  check(agree === GEN, `${name}: greedy tokens after a ${PROMPT}-token prompt, llama.cpp (f32 GGUF) vs mamba-edge (HF folder): ${agree}/${GEN} agree\n       llama.cpp  ${peer.tokens.join(' ')}\n       mamba-edge ${mine.join(' ')}`);
}
process.exit(failed ? 1 : 0);
