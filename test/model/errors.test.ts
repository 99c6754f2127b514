/** Bad input: every case gets the typed error, never a crash, a hang or an unbounded allocation. */
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, MambaEdgeError, type ErrorCode } from '../../src/node.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { rawSafetensors } from '../helpers/safetensors-writer.js';

const small = (over: Partial<Parameters<typeof randomModelFiles>[0]> = {}) =>
  randomModelFiles({ modelType: 'mamba', vocabSize: 259, hiddenSize: 16, numLayers: 2, stateSize: 4, ...over });

async function code(p: Promise<unknown> | (() => unknown)): Promise<ErrorCode | 'no error'> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'no error';
  } catch (e) {
    expect(e).toBeInstanceOf(MambaEdgeError);
    expect((e as Error).message.length).toBeGreaterThan(10);
    return (e as MambaEdgeError).code;
  }
}

function withConfig(files: Record<string, Uint8Array>, edit: (c: Record<string, unknown>) => void) {
  const text = new TextDecoder().decode(files['config.json']).replace(/Infinity/g, '1e999');
  const c = JSON.parse(text);
  edit(c);
  return { ...files, 'config.json': new TextEncoder().encode(JSON.stringify(c)) };
}

describe('loading bad files', () => {
  it('missing directory and missing files are E_FILE naming the file', async () => {
    expect(await code(loadModel('/nonexistent/model/dir', { backend: 'reference' }))).toBe('E_FILE');
    const { 'model.safetensors': _w, ...noWeights } = small();
    await expect(loadModel(noWeights, { backend: 'reference' })).rejects.toThrow(/model\.safetensors/);
    const { 'config.json': _c, ...noConfig } = small();
    await expect(loadModel(noConfig, { backend: 'reference' })).rejects.toThrow(/config\.json/);
  });

  it('unreadable directory entry is E_FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'me-'));
    writeFileSync(join(dir, 'config.json'), small()['config.json']);
    mkdirSync(join(dir, 'model.safetensors')); // a directory where a file should be
    expect(await code(loadModel(dir, { backend: 'reference' }))).toBe('E_FILE');
  });

  it('truncated safetensors, header past the end, header not JSON are E_FORMAT', async () => {
    const files = small();
    const w = files['model.safetensors'];
    expect(await code(loadModel({ ...files, 'model.safetensors': w.subarray(0, w.length - 100) }, { backend: 'reference' }))).toBe('E_FORMAT');
    expect(await code(loadModel({ ...files, 'model.safetensors': w.subarray(0, 5) }, { backend: 'reference' }))).toBe('E_FORMAT');
    const huge = w.slice();
    new DataView(huge.buffer).setBigUint64(0, 1n << 62n, true);
    expect(await code(loadModel({ ...files, 'model.safetensors': huge }, { backend: 'reference' }))).toBe('E_FORMAT');
    expect(await code(loadModel({ ...files, 'model.safetensors': rawSafetensors(null, new Uint8Array(0), '{not json') }, { backend: 'reference' }))).toBe('E_FORMAT');
  });

  it('unsupported dtype is E_DTYPE', async () => {
    const st = rawSafetensors({ 'backbone.embeddings.weight': { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    expect(await code(loadModel({ ...small(), 'model.safetensors': st }, { backend: 'reference' }))).toBe('E_DTYPE');
  });

  it('a shape that contradicts config.json is E_SHAPE; a missing tensor is E_FORMAT', async () => {
    const files = small();
    const wrongHidden = withConfig(files, (c) => { c.state_size = 5; });
    const err = await loadModel(wrongHidden, { backend: 'reference' }).catch((e) => e);
    expect(err.code).toBe('E_SHAPE');
    expect(err.message).toMatch(/tensor "backbone\.layers\.0\.mixer\.\w+.*config\.json implies/);
    const moreLayers = withConfig(files, (c) => { c.num_hidden_layers = 3; });
    const missing = await loadModel(moreLayers, { backend: 'reference' }).catch((e) => e);
    expect(missing.code).toBe('E_FORMAT');
    expect(missing.message).toMatch(/backbone\.layers\.2\..* is missing/);
  });

  it('unknown model_type is E_ARCH; bad config fields are E_CONFIG', async () => {
    expect(await code(loadModel(withConfig(small(), (c) => { c.model_type = 'gpt2'; }), { backend: 'reference' }))).toBe('E_ARCH');
    expect(await code(loadModel(withConfig(small(), (c) => { c.hidden_size = -3; }), { backend: 'reference' }))).toBe('E_CONFIG');
    expect(await code(loadModel(withConfig(small(), (c) => { c.hidden_act = 'gelu'; }), { backend: 'reference' }))).toBe('E_CONFIG');
    expect(await code(loadModel({ ...small(), 'config.json': new TextEncoder().encode('[1,2]') }, { backend: 'reference' }))).toBe('E_CONFIG');
    expect(await code(loadModel({ ...small(), 'config.json': new TextEncoder().encode('{"model_type": ') }, { backend: 'reference' }))).toBe('E_FORMAT');
  });

  it("accepts Python's Infinity literal and transformers' {\"__float__\": \"Infinity\"} form", async () => {
    const base = randomModelFiles({ modelType: 'mamba2', vocabSize: 256, hiddenSize: 16, numLayers: 1, stateSize: 4, headDim: 8 });
    expect(new TextDecoder().decode(base['config.json'])).toMatch(/Infinity/);
    const m1 = await loadModel(base, { backend: 'reference' });
    const text = new TextDecoder().decode(base['config.json']).replace(/\bInfinity\b/, '{"__float__": "Infinity"}');
    const m2 = await loadModel({ ...base, 'config.json': new TextEncoder().encode(text) }, { backend: 'reference' });
    expect(m2.config.raw.time_step_limit).toEqual([0, Infinity]);
    expect(m2.fingerprint).toBe(m1.fingerprint);
  });

  it('unexpected extra tensors load with a warning', async () => {
    const files = randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 16, numLayers: 1, stateSize: 4, tieWordEmbeddings: false });
    const asTied = withConfig(files, (c) => { c.tie_word_embeddings = true; c.num_hidden_layers = 1; });
    const m = await loadModel(asTied, { backend: 'reference' });
    expect(m.info.warnings).toEqual([]); // a stored lm_head on a tied model is what transformers ignores too
    // an extra layer's tensors with num_hidden_layers reduced
    const twoLayers = randomModelFiles({ modelType: 'mamba', vocabSize: 256, hiddenSize: 16, numLayers: 2, stateSize: 4 });
    const m2 = await loadModel(withConfig(twoLayers, (c) => { c.num_hidden_layers = 1; }), { backend: 'reference' });
    expect(m2.info.warnings.length).toBeGreaterThan(0);
    expect(m2.info.warnings[0]).toMatch(/backbone\.layers\.1/);
  });

  it('maxMemoryBytes too small is E_MEMORY before loading weights', async () => {
    const err = await loadModel(small(), { backend: 'reference', maxMemoryBytes: 1000 }).catch((e) => e);
    expect(err.code).toBe('E_MEMORY');
    expect(err.message).toMatch(/maxMemoryBytes/);
    const m = await loadModel(small(), { backend: 'reference', maxMemoryBytes: 64 << 20 });
    expect(await code(m.forward([new Array(4000).fill(1)]))).toBe('no error');
    const tight = await loadModel(small(), { backend: 'reference', maxMemoryBytes: m.info.weightBytes + 700_000 });
    expect(await code(tight.forward([new Array(2000).fill(1), new Array(2000).fill(2)]))).toBe('E_MEMORY');
  });

  it('bad options are E_ARGUMENT; unbuilt backends are E_BACKEND', async () => {
    expect(await code(loadModel(small(), { dtype: 'q7' as never }))).toBe('E_ARGUMENT');
    expect(await code(loadModel(small(), { backend: 'tpu' as never }))).toBe('E_ARGUMENT');
    expect(await code(loadModel(small(), { threads: 0 }))).toBe('E_ARGUMENT');
    expect(await code(loadModel(small(), { backend: 'cuda' }))).toBe('E_BACKEND');
  });

  it('an already-aborted signal is E_ABORTED', async () => {
    const ctrl = new AbortController();
    ctrl.abort();
    const err = await loadModel(small(), { signal: ctrl.signal }).catch((e) => e);
    expect(err.code).toBe('E_ABORTED');
    expect(err.name).toBe('AbortError');
  });
});

describe('bad calls on a loaded model', () => {
  it('token ids outside the vocabulary are E_TOKEN; ragged batches are E_SHAPE', async () => {
    const m = await loadModel(small(), { backend: 'reference' });
    expect(await code(m.forward([[1, 259]]))).toBe('E_TOKEN');
    expect(await code(m.forward([[1, -1]]))).toBe('E_TOKEN');
    expect(await code(m.forward([[1, 2.5]]))).toBe('E_TOKEN');
    expect(await code(m.forward([[1, 2], [3]]))).toBe('E_SHAPE');
    expect(await code(m.forward([]))).toBe('E_ARGUMENT');
    const s = m.createSession();
    expect(await code(s.step(100000))).toBe('E_TOKEN');
    expect(await code(s.prefill([5, 300]))).toBe('E_TOKEN');
    expect(await code(() => s.generate([1, 999]))).toBe('E_TOKEN');
  });

  it('empty prompt on a fresh session and maxTokens ≤ 0 are E_ARGUMENT', async () => {
    const m = await loadModel(small(), { backend: 'reference' });
    const s = m.createSession();
    expect(await code(s.generate('', { maxTokens: 3 }).finished)).toBe('E_ARGUMENT');
    expect(await code(() => s.generate('hi', { maxTokens: 0 }))).toBe('E_ARGUMENT');
    expect(await code(() => s.generate('hi', { maxTokens: -2 }))).toBe('E_ARGUMENT');
    expect(await code(() => s.generate('hi', { temperature: -1 }))).toBe('E_ARGUMENT');
    // the session is still usable afterwards
    const r = await s.generate('hi', { maxTokens: 2, seed: 1 }).finished;
    expect(r.completionTokens).toBe(2);
  });
});
