// Single-thread throughput of the AssemblyScript kernels (wasm/dist/kernels-as.wasm, or the
// module given as argv[2]) on mamba-130m / mamba2-130m layer shapes. Run: node wasm/as/bench/bench-kernels.mjs
import { readFileSync } from 'node:fs';

const path = process.argv[2] ?? new URL('../../dist/kernels-as.wasm', import.meta.url);
const KIB = 1024, ARENA = 2304 * KIB, SCRATCH0 = 1280 * KIB;
const memory = new WebAssembly.Memory({ initial: 2048, maximum: 65536, shared: true }); // 128 MiB
const abort = () => { throw new Error('abort'); };
const k = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), { env: { memory, abort } }).exports;

let top = ARENA;
const rnd = (n, lo, hi) => Float32Array.from({ length: n }, () => lo + (hi - lo) * Math.random());
function put(a) { const o = top; new Float32Array(memory.buffer, o, a.length).set(a); top += Math.ceil(a.length / 4) * 16; return o; }

// Thread CPU time, not wall time: on a shared machine (other processes on the same cores) wall
// time counts the time this thread waited for a core. Best of `samples`, each ≥ minMs.
const cpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
function time(fn, minMs = 150, samples = 9) {
  fn();
  let reps = 1;
  for (;;) { const t0 = cpuSeconds(); for (let i = 0; i < reps; i++) fn(); if (cpuSeconds() - t0 > minMs / 4e3) break; reps *= 2; }
  const out = [];
  for (let s = 0; s < samples; s++) { const t0 = cpuSeconds(); for (let i = 0; i < reps; i++) fn(); out.push((cpuSeconds() - t0) / reps); }
  return Math.min(...out);
}

const rows = [];
function selective(I, N, T) {
  top = ARENA;
  const x = put(rnd(T * I, -1, 1)), dt = put(rnd(T * I, -3, 1)), bias = put(rnd(I, -3, 0)), A = put(rnd(I * N, -16, -1));
  const B = put(rnd(T * N, -1, 1)), C = put(rnd(T * N, -1, 1)), D = put(rnd(I, -1, 1)), z = put(rnd(T * I, -2, 2));
  const st = put(rnd(I * N, -1, 1)), y = put(new Float32Array(T * I));
  const s = time(() => k.selectiveScan(x, dt, bias, A, B, C, D, z, st, y, 1, T, I, N, 0, I));
  const stateBytes = I * N * 4;
  rows.push({ kernel: 'selectiveScan', shape: `I=${I} N=${N} T=${T}`, 'µs/call': +(s * 1e6).toFixed(1), 'ns/token': +(s / T * 1e9).toFixed(0),
    'state GB/s': +(stateBytes * T / s / 1e9).toFixed(2), 'ns/(token·channel)': +(s / T / I * 1e9).toFixed(2) });
}
function ssd(H, P, N, T, chunk, G = 1) {
  top = ARENA;
  const x = put(rnd(T * H * P, -1, 1)), dt = put(rnd(T * H, -3, 1)), bias = put(rnd(H, -3, 0)), A = put(rnd(H, -16, -1));
  const B = put(rnd(T * G * N, -1, 1)), C = put(rnd(T * G * N, -1, 1)), D = put(rnd(H, -1, 1));
  const st = put(rnd(H * P * N, -1, 1)), y = put(new Float32Array(T * H * P));
  const s = T === 1
    ? time(() => k.ssdStep(x, dt, bias, A, B, C, D, st, y, 1, H, P, G, N, 0, Infinity, 0, H))
    : time(() => k.ssdChunkScan(x, dt, bias, A, B, C, D, st, y, 1, T, H, P, G, N, chunk, 0, Infinity, SCRATCH0, 0, H));
  const stateBytes = H * P * N * 4;
  rows.push({ kernel: T === 1 ? 'ssdStep' : 'ssdChunkScan', shape: `H=${H} P=${P} N=${N} T=${T}${T > 1 ? ` chunk=${chunk}` : ''}`,
    'µs/call': +(s * 1e6).toFixed(1), 'ns/token': +(s / T * 1e9).toFixed(0), 'state GB/s': +(stateBytes * T / s / 1e9).toFixed(2) });
}

function elementwise(T) {
  top = ARENA;
  const D = 768, I = 1536;
  const x = put(rnd(T * D, -2, 2)), w = put(rnd(D, 0.5, 1.5)), y = put(new Float32Array(T * D));
  let s = time(() => k.rmsNorm(x, w, y, D, 1e-5, 0, T));
  rows.push({ kernel: 'rmsNorm', shape: `rows=${T} D=${D}`, 'µs/call': +(s * 1e6).toFixed(1), 'ns/token': +(s / T * 1e9).toFixed(0) });
  s = time(() => k.add(x, x, y, 0, T * D));
  rows.push({ kernel: 'add', shape: `n=${T}·${D}`, 'µs/call': +(s * 1e6).toFixed(1), 'ns/token': +(s / T * 1e9).toFixed(0) });
  const cx = put(rnd(T * I, -2, 2)), cw = put(rnd(I * 4, -1, 1)), cb = put(rnd(I, -1, 1)), cs = put(rnd(I * 3, -1, 1)), cy = put(new Float32Array(T * I));
  s = time(() => k.conv1dCausal(cx, cw, cb, cs, cy, 1, T, I, 4, 1, 0, I));
  rows.push({ kernel: 'conv1dCausal', shape: `T=${T} C=${I} K=4 silu`, 'µs/call': +(s * 1e6).toFixed(1), 'ns/token': +(s / T * 1e9).toFixed(0) });
  const gz = put(rnd(T * I, -4, 4)), gw = put(rnd(I, 0.5, 1.5));
  s = time(() => k.gatedRmsNorm(cx, gz, gw, cy, I, I, 1e-5, 0, T));
  rows.push({ kernel: 'gatedRmsNorm', shape: `rows=${T} D=${I} group=${I}`, 'µs/call': +(s * 1e6).toFixed(1), 'ns/token': +(s / T * 1e9).toFixed(0) });
}

elementwise(1);
elementwise(512);
selective(1536, 16, 1);
selective(1536, 16, 512);
selective(1536, 17, 512);
selective(1536, 15, 512);
ssd(24, 64, 128, 512, 256);
ssd(24, 64, 128, 512, 64);
ssd(24, 64, 128, 1, 0);
console.table(rows);
console.log(JSON.stringify(rows));
