/**
 * The vectorized cos/sin of the Mamba-3 kernels' rotary angles (wasm/as/mamba3.ts `sinCos4`, through its
 * test hook `vsincos`) against Math.cos / Math.sin, over θ ∈ [0, 2π] as the kernels call it (θ is
 * wrapped before). Bound 1.2e-7 absolute: below the f32 rounding of θ itself (up to 2.4e-7 near 2π),
 * which the reference (θ in f64 within a call) already differs by.
 */
import { describe, expect, it } from 'vitest';
import { AsHarness } from '../wasm/as-harness.js';

describe('AS kernels: sinCos4', () => {
  it('is within 1.2e-7 of Math.cos / Math.sin on [0, 2π]', () => {
    const h = AsHarness.create();
    const xs: number[] = [0, Math.PI / 4, Math.PI / 2, Math.PI, 1.5 * Math.PI, 2 * Math.PI, Math.fround(2 * Math.PI), 1e-30, 0.7853982];
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 200_000; i++) xs.push(2 * Math.PI * rand());
    for (let q = 0; q <= 4; q++) for (let d = -40; d <= 40; d++) xs.push(Math.max(0, (q * Math.PI) / 2 + d * 1e-7)); // quadrant edges
    for (let q = 0; q < 8; q++) for (let d = -40; d <= 40; d++) xs.push(Math.max(0, ((2 * q + 1) * Math.PI) / 4 + d * 1e-7)); // where n rounds
    const x = Float32Array.from(xs);
    const px = h.put(x), pc = h.alloc(x.length), ps = h.alloc(x.length);
    (h.k as unknown as { vsincos(x: number, c: number, s: number, i0: number, i1: number): void }).vsincos(px, pc, ps, 0, x.length);
    h.checkGuards();
    const c = h.get(pc, x.length), s = h.get(ps, x.length);
    let worst = 0, at = 0;
    for (let i = 0; i < x.length; i++) {
      const e = Math.max(Math.abs(c[i] - Math.cos(x[i])), Math.abs(s[i] - Math.sin(x[i])));
      if (e > worst) { worst = e; at = i; }
    }
    expect(worst, `worst ${worst} at θ = ${x[at]}: cos ${c[at]} vs ${Math.cos(x[at])}, sin ${s[at]} vs ${Math.sin(x[at])}`).toBeLessThanOrEqual(1.2e-7);
  });
});
