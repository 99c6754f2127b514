/**
 * Sessions of attention and hybrid models carry mixed state (SSM conv/state tensors + growing KV
 * caches): save/resume mid-generation equals an uninterrupted run, on the same and on another
 * backend; memory caps bound the KV caches before anything is allocated; layer patterns that
 * contradict the checkpoint and hostile blobs are typed errors; info reports per-layer state.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, MambaEdgeError, type LoadOptions } from '../../src/node.js';
import { HYBRID_DIR } from './fixtures.js';
import { maxAbsDiff } from '../helpers/goldens.js';

const CASES = ['llama-gqa', 'bamba', 'nemotron-h', 'jamba'];
const files = (name: string, patch?: (cfg: Record<string, unknown>) => void): Record<string, Uint8Array> => {
  const dir = join(HYBRID_DIR, name);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  patch?.(cfg);
  return {
    'config.json': new TextEncoder().encode(JSON.stringify(cfg)),
    'model.safetensors': new Uint8Array(readFileSync(join(dir, 'model.safetensors'))),
    'tokenizer.json': new Uint8Array(readFileSync(join(dir, 'tokenizer.json'))),
  };
};
const prompt = (name: string): number[] => JSON.parse(readFileSync(join(HYBRID_DIR, name, 'golden.json'), 'utf8')).greedy.prompt;
const greedy = { temperature: 0, ignoreEos: true } as const;

async function ids(gen: AsyncIterable<{ id: number }>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of gen) out.push(t.id);
  return out;
}

const backends: [string, LoadOptions][] = [['reference', { backend: 'reference' }], ['wasm (2 threads)', { backend: 'wasm', threads: 2 }]];

describe('hybrid sessions', () => {
  for (const name of CASES) {
    for (const [label, load] of backends) {
      it(`${name} on ${label}: saveState mid-generation and resume = an uninterrupted run (SSM state + KV caches)`, async () => {
        const model = await loadModel(files(name), load);
        const p = prompt(name);
        const whole = await ids(model.createSession().generate(p, { ...greedy, maxTokens: 14 }));
        const first = model.createSession();
        const head = await ids(first.generate(p, { ...greedy, maxTokens: 6 }));
        const blob = await first.saveState();
        const resumed = model.createSession({ state: blob });
        expect(resumed.position).toBe(first.position);
        const tail = await ids(resumed.generate([], { ...greedy, maxTokens: 8 }));
        expect([...head, ...tail]).toEqual(whole);
        // the original session continues exactly like the resumed one
        expect(await ids(first.generate([], { ...greedy, maxTokens: 8 }))).toEqual(tail);
        // step logits after a resume are bit-identical on the same backend
        const a = model.createSession({ state: blob }), b = model.createSession({ state: blob });
        expect(await a.step(3)).toEqual(await b.step(3));
        await model.dispose();
      });
    }
  }

  it('a hybrid blob holds the KV caches: it grows with the context, and resumes on another backend', async () => {
    const ref = await loadModel(files('bamba'), { backend: 'reference' });
    const wasm = await loadModel(files('bamba'), { backend: 'wasm', threads: 1 });
    const s = ref.createSession();
    await s.prefill(prompt('bamba'));
    const small = await s.saveState();
    await s.prefill(Array.from({ length: 40 }, (_, i) => (i * 7) % 127));
    const big = await s.saveState();
    // 2 attention layers × K and V × 2 kv heads × head_dim 10 × 4 bytes = 320 bytes per token
    const grown = big.length - small.length; // 40 tokens of K and V, plus a few header digits
    expect(grown).toBeGreaterThanOrEqual(40 * ref.info.kvBytesPerToken);
    expect(grown).toBeLessThanOrEqual(40 * ref.info.kvBytesPerToken + 16);
    expect(ref.info.kvBytesPerToken).toBe(2 * 2 * 2 * 10 * 4);
    const onWasm = wasm.createSession({ state: big });
    const onRef = ref.createSession({ state: big });
    const { diff, scale } = maxAbsDiff(await onWasm.step(5), await onRef.step(5));
    expect(diff).toBeLessThanOrEqual(2e-5 * Math.max(1, scale));
    // a blob whose KV payload was tampered with fails the checksum
    const bad = big.slice();
    bad[bad.length - 100] ^= 1;
    expect(() => ref.createSession({ state: bad })).toThrow(expect.objectContaining({ code: 'E_STATE' }));
    await ref.dispose();
    await wasm.dispose();
  });

  it('info: per-layer kinds, fixed state and KV bytes at a context length', async () => {
    const model = await loadModel(files('nemotron-h'), { backend: 'reference' });
    expect(model.info.layers.map((l) => l.kind)).toEqual(['mamba2', 'mlp', 'mamba2', 'attention', 'mlp', 'mamba2']);
    const at = model.stateAt(1000);
    const attn = at.layers[3];
    expect(attn.bytes).toBe(1000 * 2 * 4 * 2 * 9); // K and V, 2 kv heads × head_dim 9, f32
    expect(at.layers[0].bytes).toBe(at.layers[0].stateBytes); // Mamba state does not grow
    expect(at.layers[0].stateBytes).toBeGreaterThan(0);
    expect(at.totalBytes).toBe(model.info.stateBytes + 1000 * model.info.kvBytesPerToken);
    const jamba = await loadModel(files('jamba'), { backend: 'reference' });
    expect(jamba.info.layers.map((l) => l.kind)).toEqual(['mamba+moe', 'attention+mlp', 'mamba+mlp', 'attention+moe', 'mamba+mlp']);
    await model.dispose();
    await jamba.dispose();
  });

  it('maxMemoryBytes caps the KV caches: a call past the cap fails before allocating, naming the context that fits', async () => {
    for (const [, load] of backends) {
      const probe = await loadModel(files('llama-gqa'), load);
      const perToken = probe.info.kvBytesPerToken;
      const base = (probe as unknown as { maxContextTokens(l: number): number }).maxContextTokens(1e12);
      await probe.dispose();
      expect(base).toBeGreaterThan(1000);
      // A cap that leaves room for exactly 50 tokens of KV cache
      const fixed = 1e12 - base * perToken;
      const cap = Math.ceil(fixed + 50 * perToken);
      const model = await loadModel(files('llama-gqa'), { ...load, maxMemoryBytes: cap });
      const s = model.createSession();
      await s.prefill(Array.from({ length: 45 }, (_, i) => i + 1));
      const err = await s.prefill(Array.from({ length: 10 }, (_, i) => i + 1)).catch((e) => e);
      expect(err).toBeInstanceOf(MambaEdgeError);
      expect(err.code).toBe('E_MEMORY');
      expect(err.message).toMatch(/fit at most 50 tokens/);
      expect(s.position).toBe(45); // nothing was consumed
      await s.prefill([1, 2, 3, 4, 5]); // exactly up to the cap still works
      await expect(s.step(1)).rejects.toMatchObject({ code: 'E_MEMORY' });
      // a session cap below the load cap applies; a resumed blob longer than it is refused up front
      const blob = await s.saveState();
      const tight = model.createSession({ maxMemoryBytes: cap - 20 * perToken });
      const e2 = await tight.prefill(Array.from({ length: 31 }, () => 1)).catch((e) => e);
      expect(e2.message).toMatch(/fit at most 30 tokens/);
      expect(() => model.createSession({ state: blob, maxMemoryBytes: cap - 20 * perToken })).toThrow(expect.objectContaining({ code: 'E_MEMORY' }));
      await model.dispose();
    }
  });

  it('an aborted prefill rolls the KV caches back with the SSM state: the session continues as if it never ran', async () => {
    const model = await loadModel(files('bamba'), { backend: 'wasm', threads: 1 });
    const p = prompt('bamba');
    const s = model.createSession();
    await s.prefill(p);
    const ac = new AbortController();
    const long = Array.from({ length: 600 }, (_, i) => (i * 5) % 127); // 3 prefill chunks of 256 (Bamba chunk 8 → 256)
    const err = await s.prefill(long, { signal: ac.signal, onProgress: () => ac.abort() }).catch((e) => e);
    expect(err.code).toBe('E_ABORTED');
    expect(s.position).toBe(p.length);
    const blob = await s.saveState();
    const fresh = model.createSession();
    await fresh.prefill(p);
    expect(await s.step(7)).toEqual(await fresh.step(7));
    expect(blob.length).toBe((await model.createSession({ state: blob }).saveState()).length);
    await model.dispose();
  });

  it('stateless forward still works for long inputs without a cap (KV caches are per call)', async () => {
    const model = await loadModel(files('jamba'), { backend: 'wasm', threads: 1 });
    const row = Array.from({ length: 300 }, (_, i) => (i * 13) % 119);
    const { logits } = await model.forward([row]);
    const s = model.createSession();
    const viaSession = await s.forward(row);
    expect(maxAbsDiff(viaSession, logits).diff).toBeLessThanOrEqual(1e-5);
    await model.dispose();
  });
});

describe('hybrid configs as the Hub writes them', () => {
  it('a Bamba config without partial_rotary_factor rotates half the head, as transformers hard-codes', async () => {
    const plain = await loadModel(files('bamba'), { backend: 'reference' });
    const hub = await loadModel(files('bamba', (c) => { delete c.partial_rotary_factor; delete c.rope_parameters; c.rope_theta = 10000; }), { backend: 'reference' });
    const row = prompt('bamba');
    expect((await hub.forward([row])).logits).toEqual((await plain.forward([row])).logits);
    const full = await loadModel(files('bamba', (c) => { c.rope_parameters = { rope_type: 'default', rope_theta: 10000, partial_rotary_factor: 1 }; }), { backend: 'reference' });
    expect(maxAbsDiff((await full.forward([row])).logits, (await plain.forward([row])).logits).diff).toBeGreaterThan(1e-3);
  });
});

describe('hybrid bad input', () => {
  it('a layer pattern that contradicts the tensors is E_CONFIG naming the layer and the field', async () => {
    const cases: [string, (c: Record<string, unknown>) => void, string][] = [
      ['nemotron-h', (c) => { c.layers_block_type = ['linear_attention', 'mlp', 'full_attention', 'linear_attention', 'mlp', 'linear_attention']; }, 'layers_block_type'],
      ['nemotron-h', (c) => { delete c.layers_block_type; c.hybrid_override_pattern = 'M-M*-'; c.num_hidden_layers = 5; }, 'hybrid_override_pattern'],
      ['bamba', (c) => { c.attn_layer_indices = [0, 3]; }, 'attn_layer_indices'],
      ['jamba', (c) => { c.attn_layer_offset = 0; }, 'attn_layer_period'],
    ];
    for (const [name, patch, field] of cases) {
      const err = await loadModel(files(name, patch), { backend: 'reference' }).catch((e) => e);
      expect(err, name).toBeInstanceOf(MambaEdgeError);
      expect(err.code, `${name}: ${err.message}`).toBe('E_CONFIG');
      expect(err.field).toBe(field);
      expect(err.message).toMatch(/layer \d/);
    }
  });

  it('unsupported or malformed hybrid configs are E_CONFIG', async () => {
    const bad: [string, (c: Record<string, unknown>) => void, string][] = [
      ['nemotron-h', (c) => { c.layers_block_type = ['linear_attention', 'moe']; }, 'layers_block_type'],
      ['nemotron-h', (c) => { delete c.layers_block_type; c.hybrid_override_pattern = 'M?M'; }, 'hybrid_override_pattern'],
      ['llama-gqa', (c) => { c.num_key_value_heads = 4; }, 'num_key_value_heads'],
      ['llama-gqa', (c) => { c.rope_parameters = { rope_type: 'yarn', rope_theta: 10000 }; }, 'rope_parameters'],
      ['bamba', (c) => { c.attn_layer_indices = [9]; }, 'attn_layer_indices'],
      ['jamba', (c) => { c.attn_layer_offset = 5; }, 'attn_layer_offset'],
    ];
    for (const [name, patch, field] of bad) {
      const err = await loadModel(files(name, patch), { backend: 'reference' }).catch((e) => e);
      expect(err.code, `${name}: ${err.message}`).toBe('E_CONFIG');
      expect(err.field).toBe(field);
    }
  });
});
