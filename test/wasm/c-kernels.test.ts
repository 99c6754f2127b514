/**
 * The C kernels (wasm/dist/kernels-c.wasm, wasm/ABI.md) against the reference backend.
 *
 * Tolerances, and why:
 * - f32 / f16 matmul: the kernels accumulate in f32 across SIMD lanes and
 *   accumulators (a different order from the reference's sequential f64 sum), so
 *   each output may differ by a rounding error proportional to the magnitudes
 *   summed. We allow 1e-5 × (Σ_k |x_k·w_k| + |bias|), the output's scale: f32 has
 *   u = 2^-24 ≈ 6e-8 per add and the longest add chain here is ~K/4.
 * - q8_0 matmul: both w (stored) and x (quantized inside the kernel) are rounded to
 *   int8 per 32-block: |x − x̂| ≤ amax_x/254 (x's scale stays f32) and
 *   |w − ŵ| ≤ amax_w·(1/254 + 2^-11) (w's scale is stored as f16). So per product
 *   |x·w − x̂·ŵ| ≤ |x|·e_w + |w|·e_x + e_x·e_w — relative to amax_x·amax_w about
 *   2·(1/254) + 2^-11 ≈ 0.0084 — and the bound per output is that summed over k
 *   (computed from the data in q8Bound) plus 2e-5 × the output scale for the f32
 *   accumulation of the per-block terms.
 *   A second, tight check emulates the kernel's integer arithmetic in JS.
 * - Everything else is exact (gathers, f16 widening, f32→f16 rounding, quantization).
 * - Splitting the work range never changes a result: each output is computed by the
 *   same arithmetic whichever tile it falls in, so split = whole bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { f16ToF32, f32ToF16 } from '../../src/formats/half.js';
import { ARENA_START, CHarness, KERNELS_C_PATH } from './c-harness.js';
import { rand, rng } from '../helpers/sequences.js';

const ref = new ReferenceBackend();
const h = new CHarness();

/** Uneven splits of [0, n) into `parts` ranges (some may be empty when n is small). */
function splits(n: number, parts: number): Array<[number, number]> {
  const cuts = [0];
  for (let p = 1; p < parts; p++) cuts.push(Math.min(n, Math.floor((n * p * p) / (parts * parts)) + (p === 1 ? 1 : 0)));
  cuts.push(n);
  return cuts.slice(1).map((c, i) => [cuts[i], Math.max(cuts[i], c)]);
}

type MatmulKernel = 'matmul_f32' | 'matmul_f16' | 'matmul_q8_0';

/**
 * Run a matmul kernel over [0, M) and over 2 and 3 uneven parts; the parts must equal
 * the whole exactly and must write only inside their range (y starts as NaN).
 */
function runMatmul(kernel: MatmulKernel, x: Float32Array, wOff: number, bias: Float32Array | null,
                   rows: number, K: number, M: number): Float32Array {
  const xOff = h.putF32(x);
  const bOff = bias ? h.putF32(bias) : 0;
  const run = (ranges: Array<[number, number]>) => {
    const yOff = h.putF32(new Float32Array(rows * M).fill(NaN));
    for (const [m0, m1] of ranges) h.k[kernel](xOff, wOff, bOff, yOff, rows, K, M, m0, m1);
    return h.readF32(yOff, rows * M);
  };
  const whole = run([[0, M]]);
  for (const parts of [2, 3]) {
    const split = run(splits(M, parts));
    expect(Array.from(split), `${kernel} split in ${parts}`).toEqual(Array.from(whole));
  }
  // A range writes its own columns only.
  if (M >= 3) {
    const part = run([[1, M - 1]]);
    for (let r = 0; r < rows; r++) {
      expect(part[r * M], 'column 0 untouched').toBeNaN();
      expect(part[r * M + M - 1], 'last column untouched').toBeNaN();
      for (let m = 1; m < M - 1; m++) expect(part[r * M + m]).toBe(whole[r * M + m]);
    }
  }
  return whole;
}

/** Σ_k |x[r,k]·w[m,k]| + |bias[m]|, the scale each output's rounding error is relative to. */
function outputScale(x: Float32Array, w: Float32Array, bias: Float32Array | null, rows: number, K: number, M: number): Float64Array {
  const s = new Float64Array(rows * M);
  for (let r = 0; r < rows; r++)
    for (let m = 0; m < M; m++) {
      let a = bias ? Math.abs(bias[m]) : 0;
      for (let k = 0; k < K; k++) a += Math.abs(x[r * K + k] * w[m * K + k]);
      s[r * M + m] = a;
    }
  return s;
}

function expectWithin(got: Float32Array, want: Float32Array, bound: (i: number) => number, what: string): void {
  expect(got.length).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const ratio = Math.abs(got[i] - want[i]) / bound(i);
    if (!(ratio <= worst)) { worst = ratio; at = i; }
  }
  expect(worst, `${what}: worst error/bound at ${at}: ${got[at]} vs ${want[at]} (bound ${bound(at)})`).toBeLessThanOrEqual(1);
}

const f16Bits = (w: Float32Array) => Uint16Array.from(w, (v) => f32ToF16(v));

// ---- module shape -------------------------------------------------------------

/** Flags of every data segment (section 11): 0 = active, 1 = passive, 2 = active with memory index. */
function dataSegmentFlags(bytes: Uint8Array): number[] {
  let p = 8;
  const leb = () => { let v = 0, s = 0, b; do { b = bytes[p++]; v |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return v >>> 0; };
  while (p < bytes.length) {
    const id = bytes[p++], size = leb(), end = p + size;
    if (id === 11) {
      const n = leb(), flags: number[] = [];
      for (let i = 0; i < n; i++) {
        const f = leb();
        flags.push(f);
        if (f !== 1) throw new Error('active data segment: re-instantiating on a shared memory would overwrite it');
      }
      return flags;
    }
    p = end;
  }
  return [];
}

describe('kernels-c.wasm module', () => {
  it('imports only env.memory and exports the ABI kernels and __stack_pointer', () => {
    const imports = WebAssembly.Module.imports(h.module);
    expect(imports).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    const exports = WebAssembly.Module.exports(h.module).map((e) => `${e.name}:${e.kind}`).sort();
    expect(exports).toEqual([
      '__stack_pointer:global', 'embed_f16:function', 'embed_f32:function', 'embed_q8_0:function', 'f16_find_special:function', 'f32_to_f16:function',
      'matmul_f16:function', 'matmul_f16_finite:function', 'matmul_f32:function', 'matmul_q8_0:function', 'quantize_q8_0:function', 'widen_f16:function',
    ]);
  });

  it('keeps static data passive and inside the C static region (ABI.md layout)', () => {
    // No static data today; should any appear it must be passive, initialized once by
    // __wasm_init_memory, so instantiating in another thread never overwrites it.
    expect(() => dataSegmentFlags(new Uint8Array(readFileSync(KERNELS_C_PATH)))).not.toThrow();
    // wasm-ld's default stack pointer is end of static data (from --global-base=64 KiB)
    // + the 64 KiB stack: at most 192 KiB means the data ends by 128 KiB.
    const fresh = new WebAssembly.Instance(h.module, { env: { memory: h.memory } });
    const sp = (fresh.exports.__stack_pointer as WebAssembly.Global).value as number;
    expect(sp).toBeGreaterThanOrEqual(128 * 1024);
    expect(sp).toBeLessThanOrEqual(192 * 1024);
  });

  it('a second instance on the same memory leaves data intact and computes the same', () => {
    const r = rng(7);
    const K = 40, M = 9, rows = 3;
    const x = rand(rows * K, r), w = rand(M * K, r);
    const xOff = h.putF32(x), wOff = h.putU16(f16Bits(w)), y1 = h.alloc(rows * M * 4), y2 = h.alloc(rows * M * 4);
    h.k.matmul_f16(xOff, wOff, 0, y1, rows, K, M, 0, M);
    const other = new CHarness({ memory: h.memory, module: h.module, thread: 5 });
    expect(h.readF32(xOff, rows * K)).toEqual(x);
    other.k.matmul_f16(xOff, wOff, 0, y2, rows, K, M, 0, M);
    expect(h.readF32(y2, rows * M)).toEqual(h.readF32(y1, rows * M));
  });

  it('two threads with their own stacks split one matmul concurrently', async () => {
    const r = rng(8);
    const rows = 33, K = 3000, M = 64; // K > 2048: the f16 path's stack buffer is in use
    const x = rand(rows * K, r), w = rand(M * K, r);
    const xOff = h.putF32(x), wOff = h.putU16(f16Bits(w));
    const yOne = h.alloc(rows * M * 4), yTwo = h.putF32(new Float32Array(rows * M).fill(NaN));
    h.k.matmul_f16(xOff, wOff, 0, yOne, rows, K, M, 0, M);
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const { module, memory, thread, args } = workerData;
      const inst = new WebAssembly.Instance(module, { env: { memory } });
      inst.exports.__stack_pointer.value = 128 * 1024 + (thread + 1) * 64 * 1024;
      for (let i = 0; i < 3; i++) inst.exports.matmul_f16(...args);
      parentPort.postMessage('done');`;
    const half = 29; // uneven
    const job = (thread: number, m0: number, m1: number) => new Promise<void>((resolve, reject) => {
      const wk = new Worker(code, { eval: true, workerData: { module: h.module, memory: h.memory, thread, args: [xOff, wOff, 0, yTwo, rows, K, M, m0, m1] } });
      wk.once('message', () => { void wk.terminate(); resolve(); });
      wk.once('error', reject);
    });
    await Promise.all([job(1, 0, half), job(2, half, M)]);
    expect(h.readF32(yTwo, rows * M)).toEqual(h.readF32(yOne, rows * M));
  });
});

// ---- f32 / f16 matmul vs reference ----------------------------------------------

const ROWS = [1, 2, 3, 7, 127];
const KS = [1, 3, 17, 33, 768];
const MS = [1, 5, 31, 50];

describe.each(['f32', 'f16'] as const)('matmul_%s vs reference', (dtype) => {
  const kernel: MatmulKernel = dtype === 'f32' ? 'matmul_f32' : 'matmul_f16';

  async function check(rows: number, K: number, M: number, withBias: boolean, seed: number): Promise<void> {
    h.reset();
    const r = rng(seed);
    const x = rand(rows * K, r), w = rand(M * K, r, 0.5), bias = withBias ? rand(M, r) : null;
    const wt = ref.upload(w, [M, K], dtype);
    const want = await ref.read(ref.matmul(ref.upload(x, [rows, K]), wt, bias ? ref.upload(bias, [M]) : null));
    const wOff = dtype === 'f32' ? h.putF32(w) : h.putU16(f16Bits(w));
    const got = runMatmul(kernel, x, wOff, bias, rows, K, M);
    // The reference computes with the f16-rounded weights too: compare against the weights it used.
    const wUsed = dtype === 'f32' ? w : Float32Array.from(f16Bits(w), f16ToF32);
    const scale = outputScale(x, wUsed, bias, rows, K, M);
    expectWithin(got, want, (i) => 1e-5 * scale[i] + 1e-30, `${kernel} rows=${rows} K=${K} M=${M} bias=${withBias}`);
  }

  for (const rows of ROWS)
    for (const K of KS)
      it(`rows=${rows} K=${K}, M in {${MS}}, with and without bias`, async () => {
        for (const [i, M] of MS.entries()) {
          await check(rows, K, M, false, rows * 1000 + K * 10 + i);
          await check(rows, K, M, true, rows * 1000 + K * 10 + i + 5);
        }
      });

  it('cache blocks and k-chunks: rows=9 K=768 M=200, rows=5 K=2100 M=13, rows=1 K=2100 M=7', async () => {
    await check(9, 768, 200, true, 11);
    await check(5, 2100, 13, true, 12);
    await check(1, 2100, 7, false, 13);
  });

  if (dtype === 'f32') {
    // A decode slice of ≥ 8 MiB goes 16 rows per tile (matmul.c gemv_f32); its 2- and 3-part splits
    // fall under that size and go 8 rows per tile: runMatmul requires the two to agree bit for bit.
    it('decode GEMV streamed 16 rows per tile: rows=1 K=1031 M=2045 (8.4 MB), equal to its 8-row splits', async () => {
      await check(1, 1031, 2045, true, 14);
    });
  }
});

describe('matmul_f16 special weights', () => {
  // The decode path widens halves with a fast multiply and only checks per tile for
  // Inf/NaN (then redoes the tile exactly); subnormal halves go through the multiply.
  it.each([1, 6])('subnormal, ±0, ±Inf and NaN weights give the reference result (rows=%i)', async (rows) => {
    h.reset();
    const r = rng(51 + rows);
    const K = 40, M = 13;
    const x = rand(rows * K, r);
    const bits = Uint16Array.from({ length: M * K }, () => (Math.floor((r() + 1) * 512) & 0x3ff) | (r() < 0 ? 0x8000 : 0)); // subnormals
    bits[3] = 0x0000; bits[4] = 0x8000; bits[5] = 0x0001; bits[6] = 0x83ff; // ±0, smallest / largest subnormals
    bits[2 * K + 7] = 0x7c00; // +Inf in row 2
    bits[5 * K + 39] = 0xfc00; // −Inf in row 5, in the scalar tail (K = 40 = 5·8)
    bits[9 * K + 1] = 0x7e01; // NaN in row 9
    bits[10 * K + 8] = 0x3c00; // an ordinary 1.0
    const w = Float32Array.from(bits, f16ToF32);
    const want = await ref.read(ref.matmul(ref.upload(x, [rows, K]), ref.upload(w, [M, K]), null));
    const got = runMatmul('matmul_f16', x, h.putU16(bits), null, rows, K, M);
    const scale = outputScale(x, w, null, rows, K, M);
    for (let i = 0; i < got.length; i++) {
      if (!Number.isFinite(want[i])) expect(got[i], `output ${i}`).toBe(want[i]); // same Inf, or NaN
      else expect(Math.abs(got[i] - want[i]), `output ${i}`).toBeLessThanOrEqual(1e-5 * scale[i] + 1e-30);
    }
  });
});

describe('matmul_f16_finite and f16_find_special', () => {
  it('matmul_f16_finite equals matmul_f16 bit for bit on finite weights (decode and prefill, odd sizes)', () => {
    for (const [rows, K, M] of [[1, 768, 50], [1, 2100, 13], [1, 17, 9], [3, 33, 17], [1, 8, 1]]) {
      h.reset();
      const r = rng(rows * 7 + K + M);
      const x = rand(rows * K, r), bits = f16Bits(rand(M * K, r, 0.5)), bias = rand(M, r);
      const [xOff, wOff, bOff] = [h.putF32(x), h.putU16(bits), h.putF32(bias)];
      const y1 = h.alloc(rows * M * 4), y2 = h.alloc(rows * M * 4);
      h.k.matmul_f16(xOff, wOff, bOff, y1, rows, K, M, 0, M);
      h.k.matmul_f16_finite(xOff, wOff, bOff, y2, rows, K, M, 0, M);
      expect(h.readF32(y2, rows * M), `rows=${rows} K=${K} M=${M}`).toEqual(h.readF32(y1, rows * M));
    }
  });

  it('f16_find_special flags exactly the tensors holding an Inf or NaN half (vector part and tail)', () => {
    for (const [n, at, bits, want] of [
      [100, -1, 0, 0], [100, 5, 0x7c00, 1], [100, 99, 0xfc00, 1], [100, 50, 0x7e01, 1], [100, 50, 0x7bff, 0], [100, 97, 0xfbff, 0], [3, 2, 0x7c01, 1],
    ] as const) {
      h.reset();
      const src = new Uint16Array(n).fill(0x3c00);
      if (at >= 0) src[at] = bits;
      const out = h.putF32(new Float32Array([NaN]));
      h.k.f16_find_special(h.putU16(src), out, n, 0, 1);
      expect(new Int32Array(h.memory.buffer, out, 1)[0], `n=${n} [${at}]=0x${bits.toString(16)}`).toBe(want);
    }
  });
});

describe('matmul_f16 decode: x scaled by a power of two inside the kernel', () => {
  // The decode path multiplies x by 2^e (from max|x|) and the sums by 2^(112-e), so the weights'
  // bit patterns need no per-weight multiply. Powers of two are exact: within the usual bound
  // at any magnitude of x, and Inf/NaN/all-zero x (no scale) take the exact path.
  it.each([
    ['huge x', 1e30], ['tiny x', 1e-30], ['x near the top of f32 (sums stay finite)', 1e35], ['x of subnormal size', 1e-41],
  ])('%s (×%d)', async (_name, mag) => {
    h.reset();
    const r = rng(77);
    const K = 2100, M = 21; // K > 2048: two chunks of the split x; K mod 8 = 4: the scalar tail
    const x = rand(K, r, mag), w = rand(M * K, r, 0.5);
    const bits = f16Bits(w), wUsed = Float32Array.from(bits, f16ToF32);
    const want = await ref.read(ref.matmul(ref.upload(x, [1, K]), ref.upload(wUsed, [M, K]), null));
    const got = runMatmul('matmul_f16', x, h.putU16(bits), null, 1, K, M);
    const scale = outputScale(x, wUsed, null, 1, K, M);
    // Below the normal range x itself has lost bits (f32 subnormals): a looser bound there.
    const tol = mag < 1e-38 ? 1e-3 : 1e-5;
    for (let i = 0; i < M; i++) {
      if (!Number.isFinite(want[i])) expect(got[i], `output ${i}`).toBe(want[i]);
      else expect(Math.abs(got[i] - want[i]), `output ${i}`).toBeLessThanOrEqual(tol * scale[i] + 1e-44);
    }
  });

  it('x all zero, or holding Inf / NaN, gives the reference result', async () => {
    for (const fill of [0, Infinity, NaN]) {
      h.reset();
      const r = rng(78);
      const K = 40, M = 13;
      const x = fill === 0 ? new Float32Array(K) : rand(K, r);
      if (fill !== 0) x[9] = fill;
      const bits = f16Bits(rand(M * K, r, 0.5)), wUsed = Float32Array.from(bits, f16ToF32);
      const want = await ref.read(ref.matmul(ref.upload(x, [1, K]), ref.upload(wUsed, [M, K]), null));
      const got = runMatmul('matmul_f16', x, h.putU16(bits), null, 1, K, M);
      for (let i = 0; i < M; i++) {
        if (!Number.isFinite(want[i])) expect(got[i], `fill ${fill} output ${i}`).toBe(want[i]);
        else expect(Math.abs(got[i] - want[i]), `fill ${fill} output ${i}`).toBeLessThanOrEqual(1e-5 * outputScale(x, wUsed, null, 1, K, M)[i] + 1e-30);
      }
    }
  });
});

// ---- q8_0 -----------------------------------------------------------------------

/** ggml-quants.c quantize_row_q8_0_ref in f32 arithmetic (Math.fround at every step). */
function quantizeRef(x: Float32Array): Uint8Array {
  const f = Math.fround, nb = x.length / 32, out = new Uint8Array(nb * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = f(amax / 127), id = d ? f(1 / d) : 0;
    dv.setUint16(b * 34, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) {
      const v = f(x[b * 32 + j] * id);
      dv.setInt8(b * 34 + 2 + j, Math.sign(v) * Math.floor(Math.abs(v) + 0.5)); // roundf: halves away from zero
    }
  }
  return out;
}

function dequantize(q: Uint8Array, n: number): Float32Array {
  const dv = new DataView(q.buffer, q.byteOffset), out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / 32);
    out[i] = f16ToF32(dv.getUint16(b * 34, true)) * dv.getInt8(b * 34 + 2 + (i % 32));
  }
  return out;
}

function quantizeWasm(x: Float32Array): Uint8Array {
  const src = h.putF32(x), nb = x.length / 32, dst = h.alloc(nb * 34);
  h.k.quantize_q8_0(src, dst, nb, 0, nb);
  return h.readBytes(dst, nb * 34);
}

describe('quantize_q8_0', () => {
  it('matches GGUF on hand-checked blocks (d = amax/127 as f16, q = roundf(x/d))', () => {
    h.reset();
    // Block 1: amax 127 → d = 1 (f16 0x3c00), so q = roundf(x): halves go away from zero.
    const a = new Float32Array(32);
    [2.5, -2.5, 0.5, -0.5, 1.5, 126.5, -127, 0.49999997, 3.4, -3.6].forEach((v, j) => { a[j] = v; });
    // Block 2: x_j = j − 16, amax 16 → d = 16/127 ≈ 0.12598 → f16 0x3008 (0.1259766);
    // q = roundf(x · 127/16): −16 → −127, 15 → 119.0625 → 119, −2 → −15.875 → −16, 1 → 7.9375 → 8.
    const b = Float32Array.from({ length: 32 }, (_, j) => j - 16);
    // Block 3: all zero → d = 0, q = 0.
    const q = quantizeWasm(new Float32Array([...a, ...b, ...new Float32Array(32)]));
    const dv = new DataView(q.buffer);
    expect(dv.getUint16(0, true)).toBe(0x3c00);
    expect(Array.from(new Int8Array(q.buffer, 2, 10))).toEqual([3, -3, 1, -1, 2, 127, -127, 0, 3, -4]);
    expect(dv.getUint16(34, true)).toBe(0x3008);
    const qb = new Int8Array(q.buffer, 36, 32);
    expect([qb[0], qb[31], qb[14], qb[17]]).toEqual([-127, 119, -16, 8]);
    expect(dv.getUint16(68, true)).toBe(0);
    expect(Array.from(new Int8Array(q.buffer, 70, 32)).every((v) => v === 0)).toBe(true);
  });

  it('is bit-identical to quantize_row_q8_0_ref on random data, split ranges included', () => {
    h.reset();
    const r = rng(21);
    const nb = 97;
    const x = Float32Array.from({ length: nb * 32 }, (_, i) => r() * 2 ** ((i >> 5) % 9 - 4));
    const want = quantizeRef(x);
    expect(quantizeWasm(x)).toEqual(want);
    const src = h.putF32(x), dst = h.putBytes(new Uint8Array(nb * 34).fill(0xaa));
    for (const [b0, b1] of splits(nb, 3)) h.k.quantize_q8_0(src, dst, nb, b0, b1);
    expect(h.readBytes(dst, nb * 34)).toEqual(want);
  });

  it('round trip error ≤ amax·(1/254 + 2^-11 + 2^-20) per block', () => {
    h.reset();
    const r = rng(22);
    const x = rand(64 * 32, r, 3);
    const back = dequantize(quantizeWasm(x), x.length);
    for (let b = 0; b < 64; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      const bound = amax * (1 / 254 + 2 ** -11 + 2 ** -20);
      for (let j = 0; j < 32; j++) expect(Math.abs(back[b * 32 + j] - x[b * 32 + j])).toBeLessThanOrEqual(bound);
    }
  });
});

describe('matmul_q8_0', () => {
  /**
   * The kernel's arithmetic in JS: x quantized per block like GGUF but with an f32 scale,
   * integer block sums, Σ d_w·d_x·isum in f64. Returns that and Σ |d_w·d_x·isum| (its scale).
   */
  function emulate(x: Float32Array, wq: Uint8Array, bias: Float32Array | null, rows: number, K: number, M: number) {
    const f = Math.fround, nb = K / 32, dv = new DataView(wq.buffer, wq.byteOffset);
    const out = new Float64Array(rows * M), scale = new Float64Array(rows * M);
    for (let r = 0; r < rows; r++) {
      const xq = new Int32Array(K), xd = new Float32Array(nb);
      for (let b = 0; b < nb; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[r * K + b * 32 + j]));
        const d = f(amax / 127), id = d ? f(1 / d) : 0;
        xd[b] = d;
        for (let j = 0; j < 32; j++) {
          const v = f(x[r * K + b * 32 + j] * id);
          xq[b * 32 + j] = Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
        }
      }
      for (let m = 0; m < M; m++) {
        let acc = bias ? bias[m] : 0, sc = bias ? Math.abs(bias[m]) : 0;
        for (let b = 0; b < nb; b++) {
          const base = (m * nb + b) * 34;
          let isum = 0;
          for (let j = 0; j < 32; j++) isum += dv.getInt8(base + 2 + j) * xq[b * 32 + j];
          const t = f16ToF32(dv.getUint16(base, true)) * xd[b] * isum;
          acc += t;
          sc += Math.abs(t);
        }
        out[r * M + m] = acc;
        scale[r * M + m] = sc;
      }
    }
    return { out: Float32Array.from(out), scale };
  }

  /** Per-output bound of |q8 result − exact f32 result| (see the header). */
  function q8Bound(x: Float32Array, w: Float32Array, bias: Float32Array | null, rows: number, K: number, M: number): Float64Array {
    const nb = K / 32, amax = (a: Float32Array, o: number) => { let m = 0; for (let j = 0; j < 32; j++) m = Math.max(m, Math.abs(a[o + j])); return m; };
    const ex = new Float64Array(rows * nb), ew = new Float64Array(M * nb);
    for (let i = 0; i < rows * nb; i++) ex[i] = amax(x, i * 32) * (1 / 254 + 2 ** -22);
    for (let i = 0; i < M * nb; i++) ew[i] = amax(w, i * 32) * (1 / 254 + 2 ** -11 + 2 ** -22);
    const s = outputScale(x, w, bias, rows, K, M), out = new Float64Array(rows * M);
    for (let r = 0; r < rows; r++)
      for (let m = 0; m < M; m++) {
        let e = 0;
        for (let k = 0; k < K; k++) {
          const a = ex[r * nb + (k >> 5)], b = ew[m * nb + (k >> 5)];
          e += Math.abs(x[r * K + k]) * b + Math.abs(w[m * K + k]) * a + a * b;
        }
        out[r * M + m] = e + 2e-5 * s[r * M + m];
      }
    return out;
  }

  async function check(rows: number, K: number, M: number, withBias: boolean, seed: number): Promise<void> {
    h.reset();
    const r = rng(seed);
    const x = rand(rows * K, r), w = rand(M * K, r, 0.5), bias = withBias ? rand(M, r) : null;
    const wq = quantizeRef(w);
    const got = runMatmul('matmul_q8_0', x, h.putBytes(wq), bias, rows, K, M);
    const what = `matmul_q8_0 rows=${rows} K=${K} M=${M} bias=${withBias}`;
    const emu = emulate(x, wq, bias, rows, K, M);
    expectWithin(got, emu.out, (i) => 1e-5 * emu.scale[i] + 1e-30, `${what} vs integer emulation`);
    const want = await ref.read(ref.matmul(ref.upload(x, [rows, K]), ref.upload(w, [M, K]), bias ? ref.upload(bias, [M]) : null));
    const bound = q8Bound(x, w, bias, rows, K, M);
    expectWithin(got, want, (i) => bound[i], `${what} vs reference f32`);
  }

  for (const rows of ROWS)
    it(`rows=${rows}, K in {32, 96, 768}, M in {${MS}}, with and without bias`, async () => {
      for (const K of [32, 96, 768])
        for (const [i, M] of MS.entries()) {
          await check(rows, K, M, false, rows * 100 + K + i);
          await check(rows, K, M, true, rows * 100 + K + i + 7);
        }
    });

  it('cache blocks and k-chunks: rows=5 K=768 M=400, rows=3 K=4160 M=6, rows=1 K=4160 M=9', async () => {
    await check(5, 768, 400, true, 31);
    await check(3, 4160, 6, true, 32);
    await check(1, 4160, 9, false, 33);
  });
});

// ---- embeddings and conversions ---------------------------------------------------------

describe('embeddings', () => {
  function gather(kernel: 'embed_f32' | 'embed_f16' | 'embed_q8_0', table: number, ids: Int32Array, D: number): Float32Array {
    const n = ids.length, idsOff = h.putI32(ids);
    const run = (ranges: Array<[number, number]>) => {
      const y = h.putF32(new Float32Array(n * D).fill(NaN));
      for (const [i0, i1] of ranges) h.k[kernel](table, idsOff, y, n, D, i0, i1);
      return h.readF32(y, n * D);
    };
    const whole = run([[0, n]]);
    for (const parts of [2, 3]) expect(run(splits(n, parts))).toEqual(whole);
    return whole;
  }

  it.each([1, 3, 17, 33, 768])('embed_f32 and embed_f16 equal the reference exactly (D=%i)', async (D) => {
    h.reset();
    const r = rng(D), vocab = 37;
    const table = rand(vocab * D, r, 4);
    const ids = Int32Array.from({ length: 11 }, (_, i) => (i * 7 + 3) % vocab);
    ids[0] = 0; ids[1] = vocab - 1;
    for (const dtype of ['f32', 'f16'] as const) {
      const want = await ref.read(ref.embedding(ref.upload(table, [vocab, D], dtype), ids));
      const off = dtype === 'f32' ? h.putF32(table) : h.putU16(f16Bits(table));
      expect(gather(dtype === 'f32' ? 'embed_f32' : 'embed_f16', off, ids, D)).toEqual(want);
    }
  });

  it.each([32, 96, 768])('embed_q8_0 dequantizes exactly (D=%i)', (D) => {
    h.reset();
    const r = rng(D + 1), vocab = 23;
    const q = quantizeRef(rand(vocab * D, r, 2));
    const table = dequantize(q, vocab * D);
    const ids = Int32Array.from({ length: 9 }, (_, i) => (i * 5 + 2) % vocab);
    const want = new Float32Array(ids.length * D);
    ids.forEach((id, i) => want.set(table.subarray(id * D, (id + 1) * D), i * D));
    expect(gather('embed_q8_0', h.putBytes(q), ids, D)).toEqual(want);
  });

  it('f16 widening is exact for all 65536 bit patterns (subnormals, ±0, ±Inf, NaN)', () => {
    h.reset();
    const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const got = gather('embed_f16', h.putU16(bits), new Int32Array([0]), 65536);
    for (let i = 0; i < 65536; i++) {
      const want = f16ToF32(i);
      if (Number.isNaN(want)) expect(got[i]).toBeNaN();
      else if (!Object.is(got[i], want)) expect(got[i], `f16 0x${i.toString(16)}`).toBe(want);
    }
  });

  it('widen_f16 (the loader\'s F16 → f32) is exact for all 65536 bit patterns, split or whole', () => {
    h.reset();
    const bits = Uint16Array.from({ length: 65536 + 5 }, (_, i) => i & 0xffff); // odd length: the scalar tail
    const src = h.putU16(bits), whole = h.alloc(bits.length * 4), parts = h.alloc(bits.length * 4);
    h.k.widen_f16(src, whole, bits.length, 0, bits.length);
    for (const [i0, i1] of splits(bits.length, 3)) h.k.widen_f16(src, parts, bits.length, i0, i1);
    const got = h.readF32(whole, bits.length);
    expect(h.readF32(parts, bits.length)).toEqual(got);
    for (let i = 0; i < bits.length; i++) {
      const want = f16ToF32(bits[i]);
      if (Number.isNaN(want)) expect(got[i]).toBeNaN();
      else if (!Object.is(got[i], want)) expect(got[i], `f16 0x${bits[i].toString(16)}`).toBe(want);
    }
  });
});

describe('f32_to_f16', () => {
  it('rounds like f32ToF16 (nearest even) on edge cases and 300k random bit patterns', () => {
    h.reset();
    const edge = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e10, Infinity, -Infinity, NaN, -NaN,
      2 ** -14, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0000001, 3 * 2 ** -26, 2 ** -26, 1e-30, 1 + 2 ** -11, 1 + 3 * 2 ** -11,
      1 + 2 ** -11 + 2 ** -20, 0.1, -0.3333333, 6.1e-5, 6.09e-5, 2047.5, 2048.5, 4095, 4097];
    const u = new Uint32Array(300_000), r = rng(41);
    for (let i = 0; i < u.length; i++) u[i] = ((r() + 1) * 2 ** 31) >>> 0;
    // bias most random patterns into the f16 range (exponents 100..150) so rounding is exercised
    for (let i = 0; i < u.length; i += 2) u[i] = (u[i] & 0x807fffff) | ((100 + (i % 51)) << 23);
    const x = new Float32Array(edge.length + u.length);
    x.set(edge);
    x.set(new Float32Array(u.buffer), edge.length);
    const src = h.putF32(x), n = x.length;
    const want = Uint16Array.from(x, (v) => f32ToF16(v));
    const run = (ranges: Array<[number, number]>) => {
      const dst = h.putU16(new Uint16Array(n).fill(0xdead));
      for (const [i0, i1] of ranges) h.k.f32_to_f16(src, dst, n, i0, i1);
      return h.readU16(dst, n);
    };
    expect(run([[0, n]])).toEqual(want);
    expect(run([[0, 5], [5, 1001], [1001, n]])).toEqual(want); // unaligned starts
  });
});

it('harness arena starts at 2304 KiB', () => {
  h.reset();
  expect(h.alloc(1)).toBe(ARENA_START);
});
