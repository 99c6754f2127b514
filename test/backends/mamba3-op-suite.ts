/**
 * The op suite for Mamba-3's `mamba3Scan` / `mamba3Step` (the pattern of op-suite.ts: one copy,
 * parameterised by backend). On SISO (adjacent rotary pairs, silu(z) gate) and MIMO (rank 3,
 * halves pairing, grouped B/C, output norm; rank 5; and wider heads, N 38 / 64, P 19 / 32, rank 1 and 4)
 * heads of odd sizes, batch 2, T = 1, 2, 127, 1000,
 * from a random carried state (θ, h, k̃, ṽ all non-zero):
 *   - the prefill form over T tokens = T step-form calls (outputs and all four states),
 *   - = the same op over an uneven split of T carrying the state (chunk boundaries inside),
 *   - = the reference backend's chunked form (for non-reference backends).
 */
import { describe, expect, it } from 'vitest';
import type { Backend, Mamba3ScanArgs, Tensor } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/index.js';
import { MambaEdgeError } from '../../src/errors.js';
import { concatRows, seeded, splitTime, timeRows } from '../helpers/sequences.js';
import { expectClose } from './op-suite.js';

export interface Geometry {
  name: string; H: number; P: number; N: number; G: number; R: number; S: number;
  pairing: 'adjacent' | 'halves'; mimo: boolean; norm: boolean; chunk: number;
}

export const MAMBA3_GEOMETRIES: Geometry[] = [
  { name: 'SISO', H: 3, P: 5, N: 6, G: 1, R: 1, S: 2, pairing: 'adjacent', mimo: false, norm: false, chunk: 16 },
  { name: 'MIMO', H: 4, P: 3, N: 10, G: 2, R: 3, S: 5, pairing: 'halves', mimo: true, norm: true, chunk: 7 },
  // rank 5: the wasm kernel keeps four ranks' outputs in registers and takes a second pass for the fifth
  { name: 'MIMO rank 5', H: 2, P: 4, N: 14, G: 1, R: 5, S: 3, pairing: 'halves', mimo: true, norm: false, chunk: 9 },
  // wider heads: the wasm chunked kernel's 16-wide tiles over N (state pass) and P (M·v), each with a tail
  { name: 'SISO wide', H: 2, P: 19, N: 38, G: 1, R: 1, S: 9, pairing: 'adjacent', mimo: false, norm: true, chunk: 64 },
  // rank 4: a chunk of 64 does not fit the wasm chunked kernel's scratch, so it runs in blocks of 16
  { name: 'MIMO rank 4 wide', H: 2, P: 20, N: 36, G: 2, R: 4, S: 9, pairing: 'halves', mimo: true, norm: true, chunk: 64 },
];

const Bsz = 2;

/** Random inputs, weights and a non-zero starting state for T tokens of geometry g. */
export function makeData(g: Geometry, T: number, seed: number) {
  const r = seeded(seed);
  const { H, P, N, G, R, S } = g;
  return {
    x: r.array(Bsz * T * H * P), z: r.array(Bsz * T * H * P, 2),
    B: r.array(Bsz * T * R * G * N), C: r.array(Bsz * T * R * G * N),
    ddDt: r.array(Bsz * T * H), ddA: r.array(Bsz * T * H, 2), trap: r.array(Bsz * T * H, 2), angles: r.array(Bsz * T * S, 2),
    dtBias: Float32Array.from({ length: H }, (_, i) => -2 + i * 0.7),
    BBias: r.array(H * R * N), CBias: r.array(H * R * N), D: r.array(H),
    mimoX: r.array(H * R * P), mimoZ: r.array(H * R * P), mimoO: r.array(H * R * P), normW: r.array(H * P),
    angleState: Float32Array.from(r.array(Bsz * H * S), (v) => (v + 1) * Math.PI), ssmState: r.array(Bsz * H * P * N),
    kState: r.array(Bsz * R * H * N), vState: r.array(Bsz * H * P),
  };
}
type Data = ReturnType<typeof makeData>;
const STATE_NAMES = ['angleState', 'ssmState', 'kState', 'vState'] as const;

function stateShapes(g: Geometry): Record<(typeof STATE_NAMES)[number], number[]> {
  return { angleState: [Bsz, g.H, g.S], ssmState: [Bsz, g.H, g.P, g.N], kState: [Bsz, g.R, g.H, g.N], vState: [Bsz, g.H, g.P] };
}

/** Upload the time slice [t0, t0+len) of the per-token inputs, with the given state tensors. */
function argsFor(b: Backend, g: Geometry, d: Data, T: number, t0: number, len: number, state: Tensor[]): Mamba3ScanArgs {
  const { H, P, N, G, R, S } = g;
  const seq = (a: Float32Array, C: number) => b.upload(timeRows(a, Bsz, T, C, t0, len), [Bsz, len, C]);
  return {
    x: seq(d.x, H * P), z: seq(d.z, H * P), B: seq(d.B, R * G * N), C: seq(d.C, R * G * N),
    ddDt: seq(d.ddDt, H), ddA: seq(d.ddA, H), trap: seq(d.trap, H), angles: seq(d.angles, S),
    dtBias: b.upload(d.dtBias, [H]), aFloor: 0.05, BBias: b.upload(d.BBias, [H, R, N]), CBias: b.upload(d.CBias, [H, R, N]),
    D: b.upload(d.D, [H]),
    mimo: g.mimo ? { x: b.upload(d.mimoX, [H, R, P]), z: b.upload(d.mimoZ, [H, R, P]), o: b.upload(d.mimoO, [H, R, P]) } : null,
    normWeight: g.norm ? b.upload(d.normW, [H * P]) : null, normEps: 1e-5,
    numHeads: H, headDim: P, nGroups: G, stateSize: N, rank: R, pairing: g.pairing, chunkSize: g.chunk,
    angleState: state[0], ssmState: state[1], kState: state[2], vState: state[3],
  };
}

function freshState(b: Backend, g: Geometry, d: Data): Tensor[] {
  const shapes = stateShapes(g);
  return STATE_NAMES.map((n) => b.upload(d[n], shapes[n]));
}

/** Run the op over pieces of the sequence (`lens`), or token by token with the step form (`step`). */
export async function runPieces(b: Backend, g: Geometry, d: Data, T: number, lens: number[], step: boolean) {
  const state = freshState(b, g, d);
  const ys: Float32Array[] = [];
  for (const [t0, len] of splitTime(lens)) {
    const y = (step ? b.mamba3Step : b.mamba3Scan).call(b, argsFor(b, g, d, T, t0, len, state));
    ys.push(await b.read(y));
    b.free(y);
  }
  return { y: concatRows(ys, Bsz, lens, g.H * g.P), state: await Promise.all(state.map((s) => b.read(s))) };
}

/** θ is kept modulo 2π: compare it on the circle. */
function expectAnglesClose(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Math.max(worst, Math.min(d, Math.abs(d - 2 * Math.PI)));
  }
  expect(worst, what).toBeLessThanOrEqual(tol);
}

export function expectRunsClose(
  got: { y: Float32Array; state: Float32Array[] }, want: { y: Float32Array; state: Float32Array[] }, tol: number, what: string,
): void {
  expectClose(got.y, want.y, tol, `${what}: y`);
  expectAnglesClose(got.state[0], want.state[0], tol * 2 * Math.PI, `${what}: angle state`);
  for (let i = 1; i < 4; i++) expectClose(got.state[i], want.state[i], tol, `${what}: ${STATE_NAMES[i]}`);
}

export interface Mamba3OpSuiteOptions {
  /** Relative tolerance: prefill vs steps vs splits on this backend, and against the reference. */
  tolerance: number;
}

export function runMamba3OpSuite(name: string, create: () => Promise<Backend> | Backend, opts: Mamba3OpSuiteOptions): void {
  const ref = new ReferenceBackend();
  describe(`${name}: mamba3Scan / mamba3Step`, () => {
    for (const g of MAMBA3_GEOMETRIES) {
      for (const T of [1, 2, 127, 1000]) {
        it(`${g.name} H=${g.H} P=${g.P} N=${g.N} G=${g.G} R=${g.R} S=${g.S}, T=${T}: prefill = steps = split${name === 'reference' ? '' : ' = reference'}`, async () => {
          const b = await create();
          const d = makeData(g, T, 1000 * T + g.N);
          const whole = await runPieces(b, g, d, T, [T], false);
          const steps = await runPieces(b, g, d, T, Array.from({ length: T }, () => 1), true);
          expectRunsClose(steps, whole, opts.tolerance, 'steps vs prefill');
          if (T > 2) {
            const a = Math.floor(T / 3) + 1; // uneven, and not on a chunk boundary
            const split = await runPieces(b, g, d, T, [a, T - a - 1, 1], false);
            expectRunsClose(split, whole, opts.tolerance, 'split vs whole');
          }
          if (b !== ref && !(b instanceof ReferenceBackend)) {
            const want = await runPieces(ref, g, d, T, [T], false);
            expectRunsClose(whole, want, opts.tolerance, 'vs reference');
          }
        }, 30_000); // the reference backend (f64, written to be read) takes seconds for T = 1000 on the wide heads
      }
    }

    it('mismatched shapes are E_SHAPE naming the operand; the step form refuses T > 1', async () => {
      const b = await create();
      const g = MAMBA3_GEOMETRIES[1];
      const d = makeData(g, 3, 5);
      const good = () => argsFor(b, g, d, 3, 0, 3, freshState(b, g, d));
      const bad: [string, (a: Mamba3ScanArgs) => Mamba3ScanArgs][] = [
        ['BBias', (a) => ({ ...a, BBias: b.zeros([g.H, g.R + 1, g.N]) })],
        ['kState', (a) => ({ ...a, kState: b.zeros([Bsz, 1, g.H, g.N]) })],
        ['mimo.o', (a) => ({ ...a, mimo: { ...a.mimo!, o: b.zeros([g.H, g.R, g.P + 1]) } })],
        ['B', (a) => ({ ...a, rank: 2 })],
        ['angles', (a) => ({ ...a, angles: b.zeros([Bsz, 3, g.N]), angleState: b.zeros([Bsz, g.H, g.N]) })],
      ];
      for (const [operand, mutate] of bad) {
        let err: unknown;
        try { b.mamba3Scan(mutate(good())); } catch (e) { err = e; }
        expect(err, operand).toBeInstanceOf(MambaEdgeError);
        expect((err as MambaEdgeError).code).toBe('E_SHAPE');
        expect((err as MambaEdgeError).message).toContain(operand.split('.')[0]);
      }
      expect(() => b.mamba3Step(good())).toThrow(/one token/);
    });
  });
}
