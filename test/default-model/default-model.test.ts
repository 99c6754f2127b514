/**
 * The embedded default model (models/default) as the package ships it: `loadModel()` with no
 * source and the CLI without --model load it, and our runtime reproduces what its model card
 * (models/default/README.md) states. Every expected number here is read from the card, so
 * the card and the test cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir, loadModel, type BackendName, type Model } from '../../src/node.js';
import { runCommand } from '../helpers/child.js';

const root = resolve(import.meta.dirname, '../..');
const dir = join(root, 'models', 'default');
const card = readFileSync(join(dir, 'README.md'), 'utf8');

/** The first capture of `re` in the card; fails loudly when the card no longer says it. */
function fromCard(re: RegExp, what: string): string {
  const m = card.match(re);
  if (!m) throw new Error(`models/default/README.md no longer states ${what} (looked for ${re})`);
  return m[1];
}

const expected = {
  fingerprint: fromCard(/^\| fingerprint \(`model\.fingerprint`\) \| `(mamba2-[0-9a-f]{16})` \|$/m, 'our runtime\'s fingerprint'),
  parameters: Number(fromCard(/^\| parameters \| (\d+) /m, 'the parameter count')),
  layers: Number(fromCard(/^\| layers \| (\d+) Mamba-2 blocks/m, 'the number of layers')),
  hiddenSize: Number(fromCard(/^\| d_model \(hidden_size\) \| (\d+) \|/m, 'd_model')),
  intermediateSize: Number(fromCard(/^\| d_inner \(expand 2\) \| (\d+) = /m, 'd_inner')),
  numHeads: Number(fromCard(/^\| d_inner \(expand 2\) \| \d+ = (\d+) heads/m, 'the number of heads')),
  headDim: Number(fromCard(/heads x head_dim (\d+) \|/m, 'head_dim')),
  stateSize: Number(fromCard(/^\| d_state \(state_size\) \| (\d+), n_groups/m, 'd_state')),
  nGroups: Number(fromCard(/^\| d_state \(state_size\) \| \d+, n_groups (\d+) \|/m, 'n_groups')),
  convKernel: Number(fromCard(/^\| conv kernel \| (\d+) /m, 'the conv kernel')),
  vocabSize: Number(fromCard(/^\| vocab \| (\d+) /m, 'the vocabulary size')),
  stateKiB: Number(fromCard(/^\| recurrent state \| .* = (\d+) KB f32/m, 'the recurrent state size')),
  /** transformers' greedy continuation of PROMPT (up to 300 bytes, from the card's samples). */
  greedySample: fromCard(/\*\*greedy\*\* `Once upon a time`\n\n```text\n([\s\S]*?)\n```/, 'the greedy sample for "Once upon a time"'),
  /** transformers' bits per byte on heldout-sample.txt, bytes 2..N from an empty state: what `evaluate` computes. */
  heldoutBpb: Number(fromCard(/^\| `heldout-sample\.txt`, bytes 2\.\.N, computed by transformers `Mamba2ForCausalLM` \| \d+ \| \**([\d.]+)\** \|$/m, 'the transformers bits per byte of heldout-sample.txt')),
};

const PROMPT = 'Once upon a time';
const ALL_BACKENDS: BackendName[] = ['reference', 'wasm', 'webgpu', 'cuda'];

/** Backends that load the default model in this build and on this machine (reference always does). */
const loaded = new Map<BackendName, Model>();

beforeAll(async () => {
  for (const backend of ALL_BACKENDS) {
    try {
      loaded.set(backend, await loadModel(undefined, { backend }));
    } catch (e) {
      if (backend === 'reference') throw e;
      console.log(`default model: backend ${backend} not covered here: ${(e as Error).message}`);
    }
  }
}, 120_000);

afterAll(async () => {
  for (const m of loaded.values()) await m.dispose();
});

/** Greedy text from `model`, `tokens` tokens after PROMPT. */
async function greedy(model: Model, tokens: number): Promise<string> {
  return (await model.createSession().generate(PROMPT, { maxTokens: tokens, temperature: 0, ignoreEos: true }).finished).text;
}

/** The first `n` bytes of a UTF-8 text, cut back to a character boundary. */
function firstBytes(text: string, n: number): string {
  const bytes = Buffer.from(text, 'utf8');
  let end = Math.min(n, bytes.length);
  while (end > 0 && end < bytes.length && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

describe('the embedded default model', { timeout: 120_000 }, () => {
  it('loadModel() with no source loads models/default, with the fingerprint, architecture and sizes its card states', async () => {
    expect(defaultModelDir()).toBe(dir);
    const model = await loadModel(); // backend 'auto', whatever it picks here
    try {
      expect(model.fingerprint).toBe(expected.fingerprint);
      expect(model.info.fingerprint).toBe(expected.fingerprint);
      expect(model.info.parameters).toBe(expected.parameters);
      expect(model.config).toMatchObject({
        architecture: 'mamba2',
        numLayers: expected.layers,
        hiddenSize: expected.hiddenSize,
        intermediateSize: expected.intermediateSize,
        numHeads: expected.numHeads,
        headDim: expected.headDim,
        stateSize: expected.stateSize,
        nGroups: expected.nGroups,
        convKernel: expected.convKernel,
        vocabSize: expected.vocabSize,
        eosTokenId: 0,
      });
      expect(model.info.stateBytes).toBe(expected.stateKiB * 1024);
      expect(model.tokenizer.kind).toBe('tokenizer.json');
      expect(model.tokenizer.encode('héllo')).toEqual([...Buffer.from('héllo', 'utf8')]); // byte level: id = byte
    } finally {
      await model.dispose();
    }
    // The fingerprint depends on the weights, not on how they are held.
    const f16 = await loadModel(undefined, { backend: 'reference', dtype: 'f16' });
    expect(f16.fingerprint).toBe(expected.fingerprint);
    await f16.dispose();
  });

  it('generation with a fixed seed is reproducible and reads as English-like text', async () => {
    const model = loaded.get('reference')!;
    const run = async () => (await model.createSession().generate(PROMPT, { maxTokens: 64, seed: 1234 }).finished).text;
    const a = await run();
    const b = await run();
    expect(b).toBe(a);
    expect(a.trim().length).toBeGreaterThan(20);
    const printable = [...a].filter((c) => /[\x20-\x7e\n\t]/.test(c)).length;
    expect(printable / [...a].length).toBeGreaterThan(0.95); // mostly printable ASCII
    expect(a).toMatch(/[a-z]{2,} [a-z]{2,}/i); // words separated by spaces
    const other = (await model.createSession().generate(PROMPT, { maxTokens: 64, seed: 1235 }).finished).text;
    expect(other).not.toBe(a);
  });

  it('greedy continuation is identical on every backend that loads here (at least reference)', async () => {
    expect(loaded.has('reference')).toBe(true);
    const texts = new Map<BackendName, string>();
    for (const [backend, model] of loaded) texts.set(backend, await greedy(model, 48));
    const reference = texts.get('reference')!;
    expect(reference.length).toBeGreaterThan(20);
    // and it is what transformers wrote into the card for the same prompt
    expect(expected.greedySample.startsWith(PROMPT + reference), `card: ${JSON.stringify(expected.greedySample.slice(0, 80))}`).toBe(true);
    for (const [backend, text] of texts) expect(text, `greedy text on ${backend}`).toBe(reference);
  });

  // Evaluating the whole 19 KB slice takes about 11 minutes on the reference backend (a
  // 2-core machine), so the full-slice check runs on the wasm backend, which does it in
  // seconds. A build without wasm checks the first 3,000 bytes on reference against the
  // issue's target of 2 bits per byte instead.
  it(`bits per byte of evaluate(heldout-sample.txt) is within 0.05 of the card's ${expected.heldoutBpb}`, async () => {
    const text = readFileSync(join(dir, 'heldout-sample.txt'), 'utf8');
    const wasm = loaded.get('wasm');
    if (wasm) {
      const r = await wasm.evaluate(text);
      console.log(`default model, heldout-sample.txt on wasm: ${r.bitsPerByte.toFixed(5)} bits per byte over ${r.predictedBytes} bytes (card, transformers: ${expected.heldoutBpb})`);
      expect(r.predictedBytes).toBe(Buffer.byteLength(text, 'utf8') - 1);
      expect(r.bitsPerByte).toBeLessThan(expected.heldoutBpb + 0.05);
    } else {
      const r = await loaded.get('reference')!.evaluate(firstBytes(text, 3000));
      console.log(`default model, first 3000 bytes of heldout-sample.txt on reference: ${r.bitsPerByte.toFixed(5)} bits per byte (the full slice runs on wasm)`);
      expect(r.predictedBytes).toBeGreaterThan(2900);
      expect(r.bitsPerByte).toBeLessThan(2.0);
    }
  }, 300_000);

  it('the CLI with no --model generates from the default model what the library generates', async () => {
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'generate', PROMPT, '--max-tokens', '40', '--seed', '1', '--backend', 'reference'];
    const r = await runCommand(process.execPath, args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = (await loaded.get('reference')!.createSession().generate(PROMPT, { maxTokens: 40, seed: 1 }).finished).text;
    expect(r.stdout).toBe(text.endsWith('\n') ? text : `${text}\n`);
  });
});
