import { createWasmBackend } from '/work/wt/m3chunk/src/backends/wasm/factory.js';
import type { WasmBackend } from '/work/wt/m3chunk/src/backends/wasm/index.js';
import { seededRandom } from '/work/wt/m3chunk/src/cli/measure.js';
const T = Number(process.argv[2] ?? 512);
const b = (await createWasmBackend({ threads: 1 })) as WasmBackend;
const rand = seededRandom(7);
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
function mk(S: number, R = 1, chunk = 64) {
  const H = 24, P = 64, N = 128;
  const up = (n: number, shape: number[], f: () => number = gauss) => b.upload(Float32Array.from({ length: n }, f), shape);
  return {
    x: up(T * H * P, [1, T, H * P]), z: up(T * H * P, [1, T, H * P]), B: up(T * R * N, [1, T, R * N]), C: up(T * R * N, [1, T, R * N]),
    ddDt: up(T * H, [1, T, H], () => gauss() - 4), ddA: up(T * H, [1, T, H]), trap: up(T * H, [1, T, H]), angles: up(T * S, [1, T, S]),
    dtBias: up(H, [H], () => 0), aFloor: 1e-4, BBias: up(H * R * N, [H, R, N], () => 1), CBias: up(H * R * N, [H, R, N], () => 1), D: up(H, [H], () => 1),
    mimo: R > 1 ? { x: up(H * R * P, [H, R, P]), z: up(H * R * P, [H, R, P]), o: up(H * R * P, [H, R, P]) } : null,
    normWeight: null, normEps: 1e-5, numHeads: H, headDim: P, nGroups: 1, stateSize: N, rank: R, pairing: R > 1 ? 'halves' : 'adjacent', chunkSize: chunk,
    angleState: b.zeros([1, H, S]), ssmState: b.zeros([1, H, P, N]), kState: b.zeros([1, R, H, N]), vState: b.zeros([1, H, P]),
  } as any;
}
const cases: [string, any][] = [['S32', mk(32)], ['S0', mk(0)], ['R4 S32', mk(32, 4, 16)], ['R4 S0', mk(0, 4, 16)]];
const res: Record<string, number[]> = {};
for (let k = 0; k < 7; k++) for (const [name, a] of cases) {
  const t0 = performance.now(); b.free(b.mamba3Scan(a)); (res[name] ??= []).push(performance.now() - t0);
}
for (const [n, v] of Object.entries(res)) console.log(n, v.sort((x, y) => x - y)[3].toFixed(1));
await b.dispose(); process.exit(0);
