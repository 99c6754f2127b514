// A/B of the decode GEMV's weight layout, in ONE process on one shared memory, rounds alternating:
// A = matmul_f32 (wasm/dist/kernels-c.wasm, row-major weights), B = gemv_tiled_f32 (this folder,
// tile-major copies of the same weights). Workload: mamba-130m's decode GEMVs in token order
// (24 × in_proj 768→3072 (fused), x_proj 1536→80, dt_proj 48→1536, out_proj 1536→768, then the
// tied lm_head 768→50280: 513 MB of f32 per "token", far beyond any cache), or with --shape K,M
// one L2-sized matrix 32 times. Checks both give the same outputs bit for bit first.
//   CLANG=clang-14; $CLANG --target=wasm32 -O3 -msimd128 -matomics -mbulk-memory -mmutable-globals -nostdlib -ffreestanding \
//     -fno-builtin -Wall -Wextra -Werror -Wl,--import-memory,--shared-memory,--max-memory=4294967296,--global-base=65536,--no-entry,--export-dynamic \
//     -Wl,-z,stack-size=65536,--export=__stack_pointer -fuse-ld=/usr/bin/wasm-ld-14 -o /tmp/gemv-tiled.wasm wasm/c/experiments/gemv-tiled.c
//   node --no-liftoff wasm/c/experiments/ab-layout.mjs /tmp/gemv-tiled.wasm [--rounds 21] [--shape 768,384]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const rounds = +opt('--rounds', 21);
const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
const inst = (p, thread) => {
  const { exports: k } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(p)), { env: { memory } });
  k.__stack_pointer.value = 128 * 1024 + (thread + 1) * 64 * 1024;
  return k;
};
const A = inst(new URL('../../dist/kernels-c.wasm', import.meta.url), 0), B = inst(args[0], 1);
let top = 2304 * 1024;
function alloc(n) {
  const off = top;
  top = (top + n + 15) & ~15;
  if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
  return off;
}
let seed = 12345;
function fillRandom(off, n, scale) {
  const a = new Float32Array(memory.buffer, off, n);
  for (let i = 0; i < n; i++) { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; a[i] = ((seed >>> 8) / 2 ** 24 - 0.5) * 2 * scale; }
}
function weights(M, K) {
  const row = alloc(M * K * 4), tiled = alloc(M * K * 4);
  fillRandom(row, M * K, 0.05);
  B.tile_rows_f32(row, tiled, K, M);
  return { row, tiled, bytes: M * K * 4 };
}
const calls = [];
const shape = opt('--shape', '');
if (shape) { const [K, M] = shape.split(',').map(Number); const w = weights(M, K); for (let i = 0; i < 32; i++) calls.push([K, M, w]); }
else {
  for (let l = 0; l < 24; l++) calls.push([768, 3072, weights(3072, 768)], [1536, 80, weights(80, 1536)], [48, 1536, weights(1536, 48)], [1536, 768, weights(768, 1536)]);
  calls.push([768, 50280, weights(50280, 768)]);
}
const bytes = calls.reduce((n, c) => n + c[2].bytes, 0);
const x = alloc(4 * 3072), yA = alloc(4 * 50280), yB = alloc(4 * 50280);
fillRandom(x, 3072, 1);
const tokenA = () => { const t0 = performance.now(); for (const [K, M, w] of calls) A.matmul_f32(x, w.row, 0, yA, 1, K, M, 0, M); return performance.now() - t0; };
const tokenB = () => { const t0 = performance.now(); for (const [K, M, w] of calls) B.gemv_tiled_f32(x, w.tiled, yB, K, M, 0, M); return performance.now() - t0; };
for (const [K, M, w] of calls) {
  A.matmul_f32(x, w.row, 0, yA, 1, K, M, 0, M);
  B.gemv_tiled_f32(x, w.tiled, yB, K, M, 0, M);
  const a = new Uint32Array(memory.buffer, yA, M), b = new Uint32Array(memory.buffer, yB, M);
  for (let i = 0; i < M; i++) if (a[i] !== b[i]) { console.error(`MISMATCH ${K}→${M} at ${i}`); process.exit(1); }
}
for (let i = 0; i < 3; i++) { tokenA(); tokenB(); }
const ta = [], tb = [];
const load0 = loadavg()[0];
for (let r = 0; r < rounds; r++) {
  if (r % 2) { tb.push(tokenB()); ta.push(tokenA()); } else { ta.push(tokenA()); tb.push(tokenB()); }
}
const med = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
const ma = med(ta), mb = med(tb);
console.log(`f32 decode GEMVs, ${(bytes / 1e6).toFixed(0)} MB per pass, ${rounds} rounds interleaved, load average ${load0.toFixed(2)} → ${loadavg()[0].toFixed(2)}`);
console.log(`A row-major (matmul_f32):     median ${ma.toFixed(2)} ms (${(bytes / ma / 1e6).toFixed(2)} GB/s), min ${Math.min(...ta).toFixed(2)}`);
console.log(`B tile-major (gemv_tiled_f32): median ${mb.toFixed(2)} ms (${(bytes / mb / 1e6).toFixed(2)} GB/s), min ${Math.min(...tb).toFixed(2)}`);
console.log(`B/A speed: ${(ma / mb).toFixed(3)}× (median of per-round ratios ${med(ta.map((a, i) => a / tb[i])).toFixed(3)}×)`);
