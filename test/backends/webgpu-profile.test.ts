/**
 * bench/webgpu-decode-profile.ts's core (profileDecodeStep) on small random models on the adapter at
 * hand (lavapipe in CI): the rows must be the captured decode step's dispatches, every one — as many as
 * the backend counted in that submission, the recorded step's replay and the device sampling after it —
 * named by kernels that exist (gpu/wgsl, the bundled WGSL's keys), each with a time > 0 and the bytes
 * of its bindings; the sum and the whole step > 0. Mamba-1 with 'timestamp-query' asked for (the
 * timestamp path where the adapter has it), Mamba-2 without (the wall-time path). Profiling replays the
 * step's dispatches many times on a throwaway session: the model must decode the same tokens after it.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import '../../src/node.js';
import { loadModel } from '../../src/node.js';
import type { Model } from '../../src/api/types.js';
import { requestTimestampQueries } from '../../src/backends/webgpu/device.js';
import { WGSL } from '../../src/backends/webgpu/shaders.generated.js';
import { probeTimestampAdapter } from '../helpers/webgpu.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { formatProfile, profileDecodeStep } from '../../bench/webgpu-decode-profile.js';

vi.setConfig({ testTimeout: 60_000 });
const { reason, timestamps: adapterTimestamps } = await probeTimestampAdapter('webgpu decode-profile tests');

const greedy = async (m: Model) => {
  const s = m.createSession();
  await s.prefill([3, 1, 4, 1, 5]);
  const out: number[] = [];
  for await (const t of s.generate([], { temperature: 0, maxTokens: 6, ignoreEos: true })) out.push(t.id);
  await s.dispose();
  return out;
};

afterAll(() => requestTimestampQueries(false));

describe.skipIf(reason !== null)('webgpu decode-step profile', () => {
  const cases = [
    { what: 'mamba, timestamps', timestamps: true, files: () => randomModelFiles({ modelType: 'mamba', vocabSize: 517, hiddenSize: 64, numLayers: 2, stateSize: 16, useBias: false, seed: 21 }) },
    { what: 'mamba2, wall time', timestamps: false, files: () => randomModelFiles({ modelType: 'mamba2', vocabSize: 515, hiddenSize: 64, numLayers: 2, stateSize: 16, headDim: 16, nGroups: 1, chunkSize: 64, useBias: false, seed: 22 }) },
  ];
  for (const c of cases) {
    it(`covers every dispatch of the step with kernel names and times (${c.what})`, async () => {
      requestTimestampQueries(c.timestamps);
      const model = await loadModel(c.files(), { backend: 'webgpu' });
      try {
        const before = await greedy(model);
        const p = await profileDecodeStep(model, { reps: 3, stepReps: 2, rounds: 1, warmTokens: 3 });
        expect(p.method).toBe(c.timestamps && adapterTimestamps ? 'timestamp' : 'wall');
        // Every dispatch the backend submitted for the step, in order: the replay, then the sampling.
        expect(p.rows.length).toBe(p.dispatches);
        expect(p.rows.map((r) => r.index)).toEqual(p.rows.map((_, i) => i));
        const replayed = p.rows.filter((r) => r.replayed).length;
        expect(replayed).toBeGreaterThan(2 * 2); // ≥ 3 dispatches a layer, 2 layers, + embedding and head
        expect(p.rows.slice(0, replayed).every((r) => r.replayed)).toBe(true);
        expect(p.rows.slice(replayed).map((r) => r.kernel).join(',')).toMatch(/^(argmax_sample|top_k_sample|top_k,sample_top_k)$/); // argmaxInHead (default): the greedy draw over the head's best rows
        expect(p.rows[0].kernel).toBe('embedding');
        for (const r of p.rows) {
          expect(Object.keys(WGSL)).toContain(r.kernel);
          expect(r.label.startsWith(`${r.kernel}|`)).toBe(true);
          // Wall times are (submission with the dispatch) − (an empty submission): on a fast GPU a tiny
          // dispatch can sit inside that noise and read 0 (seen on an H100); timestamps resolve it.
          if (p.method === 'timestamp') expect(r.us).toBeGreaterThan(0);
          else expect(r.us).toBeGreaterThanOrEqual(0);
          expect(r.usWall).toBeGreaterThanOrEqual(0);
          expect(r.bytes).toBeGreaterThan(0);
          if (p.method === 'timestamp') expect(r.inStepUs).toBeGreaterThan(0);
          else expect(r.inStepUs).toBeNull();
        }
        // The head reads the whole [vocab, hidden] f32 matrix: its bindings hold at least that.
        expect(Math.max(...p.rows.map((r) => r.bytes))).toBeGreaterThanOrEqual(4 * 64 * (c.what.startsWith('mamba2') ? 515 : 517));
        expect(p.byKernel.reduce((a, g) => a + g.count, 0)).toBe(p.rows.length);
        expect(p.byKernel.reduce((a, g) => a + g.share, 0)).toBeCloseTo(1, 6);
        expect(p.sumUs).toBeGreaterThan(0);
        expect(p.stepUs).toBeGreaterThan(0);
        if (p.method === 'timestamp') expect(p.inStepSumUs).toBeCloseTo(p.rows.reduce((x, r) => x + r.inStepUs!, 0), 6);
        const text = formatProfile(c.what, p);
        for (const r of p.rows) expect(text).toContain(`| ${r.index} | ${r.kernel}`);
        // The profile ran on a throwaway session: the model decodes as before.
        expect(await greedy(model)).toEqual(before);
      } finally {
        await model.dispose();
      }
    });
  }
});
