/**
 * The CPU backend against the reference, op by op, on one thread and on the pool.
 * Tolerance 2e-5 relative: kernels accumulate in f32 with SIMD lanes (reordered sums)
 * where the reference accumulates in f64; over K ≤ 768 products that is ≲ 1e-6, and the
 * scans' vectorized exp adds ≤ 2 ulp per step.
 */
import { describe, expect, it } from 'vitest';
import '../../src/node.js';
import { createWasmBackend } from '../../src/backends/wasm/factory.js';
import type { Backend } from '../../src/backends/backend.js';
import { runOpSuite } from './op-suite.js';

const make = (threads: number) => async () => (await createWasmBackend({ threads })) as Backend;
runOpSuite('wasm (1 thread)', make(1), { tolerance: 2e-5 });
runOpSuite('wasm (2 threads)', make(2), { tolerance: 2e-5 });

describe('wasm upload of large f16 / q8_0 tensors (converted in 1M-value pieces)', () => {
  it.each(['f16', 'q8_0'] as const)('%s: rows across piece boundaries equal the same rows uploaded alone', async (dtype) => {
    const b = (await createWasmBackend({ threads: 2 })) as Backend;
    const D = 96, V = Math.ceil((1 << 21) / D) + 3; // > 2 pieces; 96 = 3 q8_0 blocks per row
    const table = new Float32Array(V * D);
    let s = 1;
    for (let i = 0; i < table.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; table[i] = (s / 2 ** 32 - 0.5) * 4; }
    const big = b.upload(table, [V, D], dtype);
    const rows = [0, Math.floor((1 << 20) / D), Math.floor((1 << 20) / D) + 1, V - 1]; // first, around the first boundary, last
    const got = await b.read(b.embedding(big, Int32Array.from(rows)));
    for (const [i, r] of rows.entries()) {
      const alone = b.upload(table.subarray(r * D, (r + 1) * D), [1, D], dtype);
      const want = await b.read(b.embedding(alone, Int32Array.from([0])));
      expect(got.subarray(i * D, (i + 1) * D), `row ${r}`).toEqual(want);
    }
    await b.dispose();
  });
});

describe('wasm f16 weights: Inf/NaN found at upload', () => {
  it('a matrix with a value beyond the f16 range (→ Inf) keeps the checked decode path and the reference result', async () => {
    const { ReferenceBackend } = await import('../../src/backends/reference/index.js');
    const ref = new ReferenceBackend();
    const b = (await createWasmBackend({ threads: 1 })) as Backend;
    const K = 40, M = 19;
    const w = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i) * 0.5);
    w[3 * K + 5] = 1e6; // f16 +Inf
    const x = Float32Array.from({ length: K }, (_, i) => Math.cos(i) + 0.01);
    const run = async (be: Backend) => be.read(be.matmul(be.upload(x, [1, K]), be.upload(w, [M, K], 'f16')));
    const [got, want] = [await run(b), await run(ref)];
    for (let i = 0; i < M; i++) {
      if (!Number.isFinite(want[i])) expect(got[i], `output ${i}`).toBe(want[i]);
      else expect(Math.abs(got[i] - want[i]), `output ${i}`).toBeLessThanOrEqual(1e-5 * 20);
    }
    expect(got[3]).toBe(Infinity);
    await b.dispose();
  });
});
