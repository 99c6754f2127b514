// A/B of two builds of the C kernels on a decode-shaped GEMV workload, interleaved in one
// process (the machine is shared: alternating A and B and taking medians cancels most of the
// neighbours' noise).
//   node --no-liftoff wasm/c/ab.mjs OLD.wasm NEW.wasm [--dtype f32|f16|q8_0] [--rounds 15] [--shape K,M] [--finite]
// Both modules are instantiated on ONE shared memory over the same weights (so both read the
// same pages). The workload is mamba-130m's decode GEMVs in the order a token runs them:
// 24 × (in_proj 768→3072 as two 768→1536 calls, x_proj 1536→80, dt_proj 48→1536, out_proj
// 1536→768), then the tied lm_head 768→50280: 493 MB of f32 weights, more than any cache.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const [pathA, pathB] = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const dtype = opt('--dtype', 'f32');
const rounds = +opt('--rounds', 15);
const layers = +opt('--layers', 24);

const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
const inst = (p, thread) => {
  const { exports: k } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(p)), { env: { memory } });
  k.__stack_pointer.value = 128 * 1024 + (thread + 1) * 64 * 1024; // distinct stacks (ABI.md)
  return k;
};
const A = inst(pathA, 0), B = inst(pathB, 1);

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
const stage = alloc(768 * 50280 * 4);
function weights(M, K) {
  fillRandom(stage, M * K, 0.05);
  if (dtype === 'f32') { const off = alloc(M * K * 4); new Uint8Array(memory.buffer).copyWithin(off, stage, stage + M * K * 4); return { off, bytes: M * K * 4 }; }
  if (dtype === 'f16') { const off = alloc(M * K * 2); A.f32_to_f16(stage, off, M * K, 0, M * K); return { off, bytes: M * K * 2 }; }
  const off = alloc((M * K / 32) * 34); A.quantize_q8_0(stage, off, M * K / 32, 0, M * K / 32); return { off, bytes: (M * K / 32) * 34 };
}
const calls = [];
const q8 = dtype === 'q8_0';
const shape = opt('--shape', ''); // K,M: one matrix called 32 times instead (in-cache speed)
if (shape) { const [K, M] = shape.split(',').map(Number); const w = weights(M, K); for (let i = 0; i < 32; i++) calls.push([K, M, w]); }
else for (let l = 0; l < layers; l++) {
  calls.push([768, 1536, weights(1536, 768)], [768, 1536, weights(1536, 768)]);
  calls.push([1536, 80, weights(80, 1536)]);
  if (!q8) calls.push([48, 1536, weights(1536, 48)]); // 48 is no multiple of 32
  calls.push([1536, 768, weights(768, 1536)]);
}
if (!shape) calls.push([768, 50280, weights(50280, 768)]);
const bytes = calls.reduce((n, c) => n + c[2].bytes, 0);
const x = alloc(4 * 50280), yA = alloc(4 * 50280), yB = alloc(4 * 50280);
fillRandom(x, 3072, 1);

// --finite: call matmul_f16_finite where a build has it (what the backend uses for weights free of Inf/NaN).
const kernelOf = (k) => (args.includes('--finite') && k[`matmul_${dtype}_finite`]) || k[`matmul_${dtype}`];
function token(k, y) {
  const fn = kernelOf(k);
  const t0 = performance.now();
  for (const [K, M, w] of calls) fn(x, w.off, 0, y, 1, K, M, 0, M);
  return performance.now() - t0;
}
// Same results? (each output checked against the other build, relative to the row's scale)
for (const [K, M, w] of calls) {
  kernelOf(A)(x, w.off, 0, yA, 1, K, M, 0, M);
  kernelOf(B)(x, w.off, 0, yB, 1, K, M, 0, M);
  const a = new Float32Array(memory.buffer, yA, M), b = new Float32Array(memory.buffer, yB, M);
  let worst = 0;
  for (let i = 0; i < M; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.sqrt(K) * 0.05 * 0.6 + 1e-30));
  if (!(worst < 1e-5)) { console.error(`MISMATCH ${K}→${M}: ${worst}`); process.exit(1); }
}
for (let i = 0; i < 3; i++) { token(A, yA); token(B, yB); }
const ta = [], tb = [];
const load0 = loadavg()[0];
for (let r = 0; r < rounds; r++) {
  if (r % 2) { tb.push(token(B, yB)); ta.push(token(A, yA)); } else { ta.push(token(A, yA)); tb.push(token(B, yB)); }
}
const med = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
const ma = med(ta), mb = med(tb);
console.log(`${dtype} decode GEMVs, ${(bytes / 1e6).toFixed(0)} MB/token, ${rounds} rounds interleaved, load average ${load0.toFixed(2)} → ${loadavg()[0].toFixed(2)}`);
console.log(`A ${pathA}: median ${ma.toFixed(2)} ms/token (${(bytes / ma / 1e6).toFixed(2)} GB/s), min ${Math.min(...ta).toFixed(2)}`);
console.log(`B ${pathB}: median ${mb.toFixed(2)} ms/token (${(bytes / mb / 1e6).toFixed(2)} GB/s), min ${Math.min(...tb).toFixed(2)}`);
console.log(`B/A speed: ${(ma / mb).toFixed(3)}× (median of per-round ratios ${med(ta.map((a, i) => a / tb[i])).toFixed(3)}×)`);
