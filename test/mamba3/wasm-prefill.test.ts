/**
 * How the wasm backend picks Mamba-3's prefill kernel (src/backends/wasm/index.ts): the chunked
 * kernel's block length from the thread's scratch, the recurrence where not even one token fits,
 * and the `mamba3Prefill` switch the A/B bench uses. The op suite (ops.test.ts) covers the kernels'
 * numerics; tolerance as there (2e-5).
 */
import { describe, expect, it } from 'vitest';
import '../../src/node.js';
import { createWasmBackend } from '../../src/backends/wasm/factory.js';
import { mamba3Block, mamba3ChunkScratch, type WasmBackend } from '../../src/backends/wasm/index.js';
import { SCRATCH_SIZE } from '../../src/backends/wasm/arena.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { expectRunsClose, makeData, runPieces, type Geometry } from '../backends/mamba3-op-suite.js';

describe('wasm Mamba-3 prefill kernel choice', () => {
  it('block length: the chunk where it fits, else equal blocks that fit, else 0', () => {
    expect(mamba3Block(64, 1, 128, 64, 32)).toBe(32); // mamba3-130m: 64 does not fit, two blocks of 32
    expect(mamba3Block(16, 4, 128, 64, 32)).toBe(8); // its MIMO rank-4 variant
    expect(mamba3Block(8, 1, 12, 8, 3)).toBe(8); // small heads: the chunk itself
    expect(mamba3Block(256, 1, 16, 8, 4)).toBe(64); // at most 64, as the SSD kernel
    expect(mamba3Block(64, 1, 4096, 4, 2)).toBe(0);
    for (const [L, R, N, P, S] of [[32, 1, 128, 64, 32], [8, 4, 128, 64, 32], [16, 4, 36, 20, 9]]) {
      expect(mamba3ChunkScratch(L, R, N, P, S)).toBeLessThanOrEqual(SCRATCH_SIZE);
    }
    expect(mamba3ChunkScratch(33, 1, 128, 64, 32)).toBeLessThanOrEqual(SCRATCH_SIZE);
    expect(mamba3ChunkScratch(36, 1, 128, 64, 32)).toBeGreaterThan(SCRATCH_SIZE);
  });

  const huge: Geometry = { name: 'N 4096', H: 2, P: 4, N: 4096, G: 1, R: 1, S: 2, pairing: 'adjacent', mimo: false, norm: false, chunk: 64 };
  const small: Geometry = { name: 'MIMO', H: 3, P: 6, N: 20, G: 1, R: 2, S: 4, pairing: 'halves', mimo: true, norm: true, chunk: 8 };

  it('a state too wide for a chunked block falls back to the recurrence (= reference)', async () => {
    const b = (await createWasmBackend({ threads: 1 })) as WasmBackend;
    const d = makeData(huge, 5, 11);
    const got = await runPieces(b, huge, d, 5, [5], false);
    expectRunsClose(got, await runPieces(new ReferenceBackend(), huge, d, 5, [5], false), 2e-5, 'fallback vs reference');
    await b.dispose();
  });

  it("mamba3Prefill 'recurrent' and 'chunked' compute the same op", async () => {
    const b = (await createWasmBackend({ threads: 2 })) as WasmBackend;
    const d = makeData(small, 70, 12);
    expect(b.mamba3Prefill).toBe('chunked');
    const chunked = await runPieces(b, small, d, 70, [70], false);
    b.mamba3Prefill = 'recurrent';
    const recurrent = await runPieces(b, small, d, 70, [70], false);
    expectRunsClose(chunked, recurrent, 2e-5, 'chunked vs recurrent');
    await b.dispose();
  });
});
