/**
 * Recorded decode steps on the wasm backend (WasmBackend.recordStep) and the fused input projections
 * (Backend.rowView) on the goldens' models: a session whose one-token steps replay the recorded
 * kernel calls must give the very same logits, bit for bit, as one that runs the graph op by op
 * (the same kernels with the same arguments on the same data), and the fused in_proj GEMV the same
 * as its parts (every output row is the same dot product whichever call computes it, matmul.c).
 * Exact equality, no tolerance: any difference is a bug.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadModel } from '../../src/node.js';
import { WasmBackend } from '../../src/backends/wasm/index.js';
import type { Model, Session } from '../../src/api/types.js';
import type { RecordedStep } from '../../src/backends/backend.js';
import { GOLDEN_DIR, MAMBA3_GOLDEN_DIR } from '../helpers/goldens.js';
import { randomModelFiles } from '../../tools/random-model.js';

const HYBRID_DIR = new URL('../fixtures/hybrid/', import.meta.url).pathname;
const LINEAGE_DIR = new URL('../fixtures/lineage/', import.meta.url).pathname;
const backendOf = (m: Model) => (m as unknown as { parts: { backend: WasmBackend } }).parts.backend;
/** The session's recorded step: a RecordedStep, null (the backend declined), undefined (never asked). */
const recordedOf = (m: Model, s: Session) =>
  (m as unknown as { recorded: WeakMap<object, RecordedStep | null> }).recorded.get((s as unknown as { state: object }).state);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);

/** Prefill, then `steps` greedy one-token steps: every step's logits. */
async function decode(m: Model, prompt: number[], steps: number): Promise<{ logits: Float32Array[]; session: Session; model: Model }> {
  const session = m.createSession();
  const logits = [await session.prefill(prompt)];
  for (let i = 0; i < steps; i++) logits.push(await session.step(argmax(logits[logits.length - 1])));
  return { logits, session, model: m };
}

const opened: Model[] = [];
afterAll(async () => { for (const m of opened) await m.dispose(); });
async function open(dir: string | Record<string, Uint8Array>, opts: Parameters<typeof loadModel>[1], planned: boolean): Promise<Model> {
  const m = await loadModel(dir, { backend: 'wasm', ...opts });
  backendOf(m).planSteps = planned;
  opened.push(m);
  return m;
}

const CASES: [string, string, boolean][] = [
  // [model dir, what it exercises, whether its steps are replayable]
  [join(GOLDEN_DIR, 'm1-untied-bias'), 'Mamba-1, in_proj bias, untied head', true],
  [join(GOLDEN_DIR, 'm1-tied'), 'Mamba-1, tied head', true],
  [join(GOLDEN_DIR, 'm2-g5-untied-bias'), 'Mamba-2, 5 groups, in_proj bias', true],
  [join(MAMBA3_GOLDEN_DIR, 'mimo-r3-tied'), 'Mamba-3 MIMO (pointer table in the plan)', true],
  [join(LINEAGE_DIR, 's4d-gated-tied'), 'S4D (LTI scan, GLU)', true],
  [join(HYBRID_DIR, 'jamba'), 'Jamba: Mamba inner norms + attention + MoE (KV caches: not planned)', false],
];

describe('recorded decode steps equal op-by-op decode, bit for bit', { timeout: 120_000 }, () => {
  for (const [dir, what, replayable] of CASES) {
    for (const threads of [1, 2]) {
      for (const dtype of ['f32', 'q8_0'] as const) {
        it(`${what}, ${threads} thread(s), ${dtype}`, async () => {
          const prompt = [1, 7, 3, 11, 5];
          const planned = await decode(await open(dir, { threads, dtype }, true), prompt, 6);
          const plain = await decode(await open(dir, { threads, dtype }, false), prompt, 6);
          expect(recordedOf(plain.model, plain.session) ?? null).toBeNull(); // declined (or, with KV caches, never asked)
          if (replayable) expect(recordedOf(planned.model, planned.session)?.ops).toBeGreaterThan(0);
          else expect(recordedOf(planned.model, planned.session)).toBeUndefined(); // KV caches: never recorded
          planned.logits.forEach((l, i) => expect(bits(l), `step ${i}`).toEqual(bits(plain.logits[i])));
          await planned.session.dispose();
          await plain.session.dispose();
        });
      }
    }
  }

  // The goldens' models are too small for the pool to split an op (MIN_SHARED_WORK); these are big
  // enough that in_proj, out_proj and the head run split over 2 threads, replayed through Barrier.prepare.
  for (const modelType of ['mamba', 'mamba2'] as const) {
    it(`${modelType} with ops split across 2 threads (d_model 512, odd vocab)`, async () => {
      const files = randomModelFiles({ modelType, vocabSize: 4099, hiddenSize: 512, numLayers: 2, stateSize: 16, headDim: 64, nGroups: 1, chunkSize: 64, useBias: true, seed: 5 });
      const planned = await decode(await open(files, { threads: 2 }, true), [5, 6, 7], 5);
      const plain = await decode(await open(files, { threads: 2 }, false), [5, 6, 7], 5);
      expect(recordedOf(planned.model, planned.session)?.ops).toBeGreaterThan(0);
      planned.logits.forEach((l, i) => expect(bits(l), `step ${i}`).toEqual(bits(plain.logits[i])));
    });
  }

  it('two sessions of one model keep separate plans (each its own state)', async () => {
    const m = await open(join(GOLDEN_DIR, 'm1-tied'), { threads: 1 }, true);
    const a = await decode(m, [2, 4, 6], 4);
    const b = await decode(m, [9, 8], 4);
    const again = await decode(await open(join(GOLDEN_DIR, 'm1-tied'), { threads: 1 }, false), [2, 4, 6], 4);
    a.logits.forEach((l, i) => expect(bits(l)).toEqual(bits(again.logits[i])));
    expect(bits(b.logits[4])).not.toEqual(bits(a.logits[4]));
    // Disposing a session frees its plan's activations; the arena's use returns to where it was.
    const before = (backendOf(m) as unknown as { arena: { bytesInUse: number } }).arena.bytesInUse;
    await a.session.dispose();
    expect((backendOf(m) as unknown as { arena: { bytesInUse: number } }).arena.bytesInUse).toBeLessThan(before);
    await b.session.dispose();
  });

  it('a step that is not recordable (an LSTM: host-side copies of h) is computed as usual, and not recorded again', async () => {
    const dir = join(LINEAGE_DIR, 'lstm-proj-tied');
    const planned = await decode(await open(dir, { threads: 1 }, true), [1, 2, 3], 3);
    const plain = await decode(await open(dir, { threads: 1 }, false), [1, 2, 3], 3);
    planned.logits.forEach((l, i) => expect(bits(l)).toEqual(bits(plain.logits[i])));
    expect(recordedOf(planned.model, planned.session)).toBeNull();
  });

  it('a recorded step refuses a token outside the vocabulary with E_TOKEN', async () => {
    const m = await open(join(GOLDEN_DIR, 'm1-tied'), { threads: 1 }, true);
    const { session } = await decode(m, [1, 2], 1);
    const step = recordedOf(m, session)!;
    expect(() => step.run(Int32Array.of(m.config.vocabSize))).toThrow(expect.objectContaining({ code: 'E_TOKEN' }));
    expect(() => step.run(Int32Array.of(1, 2))).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
    await session.dispose();
  });
});

describe('fused input projections (rowView) equal the separate parts, bit for bit', { timeout: 120_000 }, () => {
  for (const [dir, what] of CASES.slice(0, 4)) {
    it(`${what}: prefill and decode, f32 and q8_0`, async () => {
      for (const dtype of ['f32', 'q8_0'] as const) {
        const fused = await decode(await open(dir, { threads: 1, dtype }, false), [3, 1, 4, 1, 5], 4);
        const proto = WasmBackend.prototype as { rowView?: unknown };
        const saved = proto.rowView;
        proto.rowView = undefined; // the graphs then upload the parts separately and make one matmul each
        let parts: Awaited<ReturnType<typeof decode>>;
        try {
          parts = await decode(await open(dir, { threads: 1, dtype }, false), [3, 1, 4, 1, 5], 4);
        } finally {
          proto.rowView = saved;
        }
        fused.logits.forEach((l, i) => expect(bits(l), `${dtype} step ${i}`).toEqual(bits(parts.logits[i])));
      }
    });
  }
});
