// Single-thread GFLOP/s of the C matmul kernels (wasm/dist/kernels-c.wasm).
//   node wasm/c/bench.mjs            (after wasm/c/build.sh)
// GEMV = decode (rows 1): also prints the weight bytes streamed per second,
// since decode is memory bound. GEMM = prefill (rows 256).
// A FLOP is one multiply or one add: 2·rows·K·M per call.
import { readFileSync } from 'node:fs';

const bytes = readFileSync(new URL('../dist/kernels-c.wasm', import.meta.url));
const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
const { exports: k } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
k.__stack_pointer.value = 128 * 1024 + 64 * 1024; // thread 0's stack (ABI.md)

let top = 2304 * 1024; // arena
function alloc(n) {
  const off = top;
  top = (top + n + 15) & ~15;
  if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
  return off;
}
function fillRandom(off, nFloats, scale) {
  const a = new Float32Array(memory.buffer, off, nFloats);
  let s = 12345;
  for (let i = 0; i < nFloats; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; a[i] = ((s >>> 8) / 2 ** 24 - 0.5) * 2 * scale; }
}

function weights(dtype, M, K) {
  const f32 = alloc(M * K * 4);
  fillRandom(f32, M * K, 0.05); // typical weight magnitudes (f16 subnormals included)
  if (dtype === 'f32') return { off: f32, bytes: M * K * 4 };
  if (dtype === 'f16') {
    const off = alloc(M * K * 2);
    k.f32_to_f16(f32, off, M * K, 0, M * K);
    return { off, bytes: M * K * 2 };
  }
  const off = alloc((M * K / 32) * 34);
  k.quantize_q8_0(f32, off, (M * K) / 32, 0, (M * K) / 32);
  return { off, bytes: (M * K / 32) * 34 };
}

function bench(dtype, rows, K, M) {
  const start = top;
  const w = weights(dtype, M, K);
  const x = alloc(rows * K * 4), y = alloc(rows * M * 4);
  fillRandom(x, rows * K, 1);
  const fn = k[`matmul_${dtype}`];
  const call = () => fn(x, w.off, 0, y, rows, K, M, 0, M);
  for (let i = 0; i < 3; i++) call(); // tier up to the optimizing compiler
  const times = [];
  const until = performance.now() + 1500;
  while (performance.now() < until || times.length < 5) {
    const t0 = performance.now();
    call();
    times.push(performance.now() - t0);
  }
  // Best of the runs: on a shared 2-core machine the median mostly measures the neighbours.
  const ms = Math.min(...times);
  top = start;
  const gflops = (2 * rows * K * M) / ms / 1e6;
  return { dtype, shape: `${rows}×${K}·(${M}×${K})ᵀ`, ms: +ms.toFixed(3), gflops: +gflops.toFixed(1),
    weightGBs: +(w.bytes / ms / 1e6).toFixed(1), medianMs: +times.sort((a, b) => a - b)[times.length >> 1].toFixed(3) };
}

const cases = [
  [1, 768, 1536], [1, 1536, 768], [1, 768, 50280], // GEMV: in_proj-, out_proj-, lm_head-like
  [256, 768, 1536], [256, 1536, 768],                // GEMM: prefill of 256 tokens
];
const rows = [];
for (const dtype of ['f32', 'f16', 'q8_0'])
  for (const [r, K, M] of cases) rows.push(bench(dtype, r, K, M));
console.table(rows);
