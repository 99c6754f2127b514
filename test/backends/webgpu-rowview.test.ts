/**
 * WebGpuBackend.rowView: rows of a tensor as a view of its memory where a storage binding can start
 * there (256-byte offsets; q8_0: at the rows' scales), else a copy (weights never change; an
 * activation's copy is freed with it). Either way a product through the rows must equal, bit for bit,
 * the same product through the same rows uploaded on their own — the same kernel over the same
 * stored values (f16 / q8_0 rows are packed per row: cols % 32 == 0 for q8_0).
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { createWebGpuBackend } from '../../src/backends/webgpu/factory.js';
import type { WebGpuBackend } from '../../src/backends/webgpu/index.js';
import type { Tensor } from '../../src/backends/backend.js';
import { rand, rng } from '../helpers/sequences.js';
import { adapterMissing } from '../helpers/webgpu.js';

const created = await createWebGpuBackend({ allowFallback: true });
const reason = adapterMissing('webgpu rowView tests', created);
const gpu = (reason ? null : created) as WebGpuBackend | null;
const small = gpu ? await createWebGpuBackend({ allowFallback: true, maxBindingBytes: 1024 }) as WebGpuBackend : null;
vi.setConfig({ testTimeout: 120_000 });
afterAll(async () => { await gpu?.dispose(); await small?.dispose(); });

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const isView = (t: Tensor) => (t as unknown as { store: { view: boolean } }).store.view;

describe.skipIf(gpu === null)('webgpu rowView', () => {
  // [rows, cols, dtype, start, count, view?]
  const cases: [number, number, 'f32' | 'f16' | 'q8_0', number, number, boolean][] = [
    [70, 64, 'f32', 0, 5, true], [70, 64, 'f32', 3, 7, true], [70, 36, 'f32', 3, 9, false], [70, 36, 'f32', 16, 54, true],
    [70, 64, 'f16', 2, 11, true], [70, 64, 'f16', 1, 6, false],
    [70, 64, 'q8_0', 32, 20, true], [70, 64, 'q8_0', 5, 9, false],
  ];
  for (const [rows, cols, dtype, start, count, view] of cases) {
    it(`${dtype} [${rows}, ${cols}] rows ${start}+${count}: ${view ? 'a view' : 'a copy'}, products equal the rows uploaded alone`, async () => {
      const g = gpu!;
      const r = rng(rows + cols + start);
      const w = rand(rows * cols, r);
      const whole = g.upload(w, [rows, cols], dtype);
      const part = g.rowView(whole, start, count);
      expect(isView(part)).toBe(view);
      const alone = g.upload(w.subarray(start * cols, (start + count) * cols), [count, cols], dtype);
      for (const n of [1, 3, 20]) { // matrix-vector (≤ 8 rows) and tiled
        const x = g.upload(rand(n * cols, r), [n, cols]);
        const [a, b] = [await g.read(g.matmul(x, part)), await g.read(g.matmul(x, alone))];
        expect(bits(a), `${n} rows`).toEqual(bits(b));
      }
    });
  }

  it('a weight split by binding size: rows within a part or whole parts are views, rows across parts a copy', async () => {
    const g = small!;
    const [rows, cols] = [40, 16]; // 64-byte rows, 1024-byte bindings: parts of 16 rows
    const w = rand(rows * cols, rng(7));
    const whole = g.upload(w, [rows, cols]);
    for (const [start, count, view] of [[10, 10, false], [16, 4, true], [20, 8, true], [0, 40, true], [16, 24, true], [0, 32, true]] as const) {
      const part = g.rowView(whole, start, count);
      expect(isView(part), `${start}+${count}`).toBe(view);
      const x = g.upload(rand(2 * cols, rng(start)), [2, cols]);
      const alone = g.upload(w.subarray(start * cols, (start + count) * cols), [count, cols]);
      expect(bits(await g.read(g.matmul(x, part)))).toEqual(bits(await g.read(g.matmul(x, alone))));
    }
  });

  it("an activation's rows read back as the rows; a copy is freed with the tensor it came from", async () => {
    const g = gpu!;
    const data = rand(4 * 36, rng(3));
    const t = g.upload(data, [4, 36]); // 144-byte rows: row 1 is not at a 256-byte offset
    const copy = g.rowView(t, 1, 2);
    expect(isView(copy)).toBe(false);
    expect(await g.read(copy)).toEqual(data.subarray(36, 108));
    const view = g.rowView(g.reshape(t, [2, 72]), 0, 1);
    expect(isView(view)).toBe(true);
    expect(await g.read(view)).toEqual(data.subarray(0, 72));
    g.free(view); // a view releases nothing
    expect(await g.read(t)).toEqual(data);
    g.free(t);
    expect((copy as unknown as { store: { freed: boolean } }).store.freed).toBe(true); // freed with t (its buffer back in the pool)
    expect(() => g.matmul(copy, g.upload(rand(36 * 2, rng(4)), [2, 36]))).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
  });

  it('refuses rows outside the tensor (E_SHAPE)', () => {
    const g = gpu!;
    const t = g.upload(rand(12, rng(1)), [3, 4]);
    for (const [s, c] of [[-1, 1], [2, 2], [0, 0], [1.5, 1]]) expect(() => g.rowView(t, s, c)).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
    g.free(t);
  });
});
