/** `mamba-edge info` on a hybrid: per-layer kinds and state bytes at a given context length. */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HYBRID_DIR } from './fixtures.js';

const root = resolve(import.meta.dirname, '../..');
const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

describe('mamba-edge info on hybrids', () => {
  it('lists every layer with its kind and its state at --context tokens (text and JSON)', () => {
    const dir = join(HYBRID_DIR, 'nemotron-h');
    const text = cli(['info', '-m', dir, '--backend', 'reference', '--context', '1000']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/per token of context \(KV caches\)/);
    expect(text.stdout).toMatch(/layer\s+kind\s+state at 1000 tokens/);
    expect(text.stdout).toMatch(/3\s+attention\s+141 KiB \(KV cache, 144 B\/token\)/); // 1000 × (K, V) × 2 kv heads × 9 × 4 bytes
    const json = cli(['info', '-m', dir, '--backend', 'reference', '--context', '1000', '--json']);
    const r = JSON.parse(json.stdout);
    expect(r.layers.map((l: { kind: string }) => l.kind)).toEqual(['mamba2', 'mlp', 'mamba2', 'attention', 'mlp', 'mamba2']);
    expect(r.layers[3].bytes).toBe(144_000);
    expect(r.kvBytesPerToken).toBe(144);
  });
});
