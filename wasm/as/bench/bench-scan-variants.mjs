// selectiveScan vectorized across N (the shipped kernel) vs across 4 channels
// (scan-variants.ts, benchmark only). Build the variant first:
//   npx asc wasm/as/bench/scan-variants.ts --config asconfig.json --target release -o /tmp/scan4ch.wasm
// then: node wasm/as/bench/bench-scan-variants.mjs [/tmp/scan4ch.wasm]
import { readFileSync } from 'node:fs';

const memory = new WebAssembly.Memory({ initial: 2048, maximum: 65536, shared: true });
const env = { memory, abort() { throw new Error('abort'); } };
const k = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(process.argv[2] ?? '/tmp/scan4ch.wasm')), { env }).exports;
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
for (const [I, N, T] of [[1536, 16, 1], [1536, 16, 512], [1536, 17, 512], [1536, 15, 512], [1536, 3, 512], [1536, 17, 1]]) {
  let top = 2304 * 1024;
  const put = (a) => { const o = top; new Float32Array(memory.buffer, o, a.length).set(a); top += Math.ceil(a.length / 4) * 16; return o; };
  const rnd = (n, lo, hi) => Float32Array.from({ length: n }, () => lo + (hi - lo) * Math.random());
  const x = put(rnd(T * I, -1, 1)), dt = put(rnd(T * I, -3, 1)), bias = put(rnd(I, -3, 0)), A = put(rnd(I * N, -16, -1));
  const B = put(rnd(T * N, -1, 1)), C = put(rnd(T * N, -1, 1)), D = put(rnd(I, -1, 1)), z = put(rnd(T * I, -2, 2));
  const s0 = rnd(I * N, -1, 1), st = put(s0), y1 = put(new Float32Array(T * I)), y2 = put(new Float32Array(T * I));
  const row = { shape: `I=${I} N=${N} T=${T}` };
  const variants = [['across N', k.selectiveScan, y1], ['across 4 channels', k.selectiveScan4ch, y2]];
  for (const [, fn, y] of variants) { // one call each from the same state: the results agree
    new Float32Array(memory.buffer, st, I * N).set(s0);
    fn(x, dt, bias, A, B, C, D, z, st, y, 1, T, I, N, 0, I);
  }
  const a = new Float32Array(memory.buffer, y1, T * I), b = new Float32Array(memory.buffer, y2, T * I);
  let scale = 0, err = 0;
  for (let i = 0; i < a.length; i++) { scale = Math.max(scale, Math.abs(a[i])); err = Math.max(err, Math.abs(a[i] - b[i])); }
  for (const [name, fn, y] of variants) {
    const s = time(() => fn(x, dt, bias, A, B, C, D, z, st, y, 1, T, I, N, 0, I));
    row[`${name} ns/token`] = Math.round(s / T * 1e9);
  }
  row['max |diff| / scale'] = +(err / scale).toExponential(1);
  rows.push(row);
}
console.table(rows);
