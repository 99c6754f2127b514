/**
 * Many sessions of one model, interleaved from one process: each session's tokens (and its
 * saved state, byte for byte) are what it gives when run alone with the same seed. The
 * sessions share the backend's memory and worker pool; only the carried state is theirs, so
 * any cross-talk (a scratch buffer reused across sessions, a pending token or sampler state
 * leaking) shows up as a different token. One session's prompt spans several prefill chunks,
 * so the others run between its chunks.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHandler, loadModel, type Model } from '../../src/node.js';

const heldout = readFileSync(resolve(import.meta.dirname, '../../models/default/heldout-sample.txt'), 'utf8');

interface Job { prompt: string; seed: number; temperature: number; turns: number }
const JOBS: Job[] = [
  { prompt: 'Once upon a time', seed: 1, temperature: 0.8, turns: 2 },
  { prompt: 'The king said', seed: 2, temperature: 1.0, turns: 1 },
  { prompt: heldout.slice(0, 520), seed: 3, temperature: 0.7, turns: 1 }, // 520 byte tokens: 3 prefill chunks of 256
  { prompt: 'Once upon a time', seed: 4, temperature: 0, turns: 2 }, // the same prompt as job 0, greedy
  { prompt: 'A', seed: 5, temperature: 1.2, turns: 3 },
  { prompt: 'Water', seed: 1, temperature: 0.8, turns: 1 },
  { prompt: heldout.slice(1000, 1300), seed: 6, temperature: 0.5, turns: 2 },
  { prompt: 'Once upon a time', seed: 7, temperature: 1.0, turns: 1 },
];
const TOKENS = 16;

/** One job's whole conversation: generate, then further turns continue the same session; its ids and final state. */
async function conversation(model: Model, job: Job, between: () => Promise<void> = async () => {}): Promise<{ ids: number[]; state: Uint8Array }> {
  const s = model.createSession();
  const ids: number[] = [];
  for (let turn = 0; turn < job.turns; turn++) {
    const prompt = turn === 0 ? job.prompt : ` and then ${turn}`;
    for await (const t of s.generate(prompt, { maxTokens: TOKENS, seed: job.seed + turn, temperature: job.temperature, ignoreEos: true })) {
      ids.push(t.id);
      await between();
    }
  }
  const state = await s.saveState();
  await s.dispose();
  return { ids, state };
}

describe.each([1, 2])('concurrent sessions on the default model, wasm backend, %i thread(s)', (threads) => {
  it(`interleaved sessions (${JOBS.length}) give exactly what each gives alone`, async () => {
    const model = await loadModel(undefined, { backend: 'wasm', threads });
    expect(model.backendInfo.threads).toBe(threads);
    try {
      const alone: { ids: number[]; state: Uint8Array }[] = [];
      for (const job of JOBS) alone.push(await conversation(model, job));

      // All at once, each yielding to the others after every token, with stateless forwards mixed in.
      const stray = model.forward([[1, 2, 3, 4]]);
      const together = await Promise.all(JOBS.map((job, i) => conversation(model, job, () => new Promise((r) => setTimeout(r, i % 3)))));
      const strayAgain = await model.forward([[1, 2, 3, 4]]);
      expect(Buffer.from(strayAgain.logits.buffer).equals(Buffer.from((await stray).logits.buffer))).toBe(true);

      together.forEach((run, i) => {
        expect(run.ids, `job ${i}`).toEqual(alone[i].ids);
        // Buffer.equals: vitest's deep equality walks a 1.3 MB array element by element, for tens of seconds.
        expect(Buffer.from(run.state).equals(Buffer.from(alone[i].state)), `job ${i} saved state, byte for byte`).toBe(true);
      });
      // Sanity: the jobs differ from one another, so equality above is not vacuous.
      expect(new Set(alone.map((r) => r.ids.join(','))).size).toBe(JOBS.length);
      expect(alone[0].ids.length).toBe(2 * TOKENS);
    } finally {
      await model.dispose();
    }
  }, 180_000);

  it('step() calls of many sessions, round-robin, match each session stepped alone', async () => {
    const model = await loadModel(undefined, { backend: 'wasm', threads });
    try {
      const seqs = [[72, 101, 108], [87, 97], [1], [200, 100, 50, 25], [65, 65, 65]];
      const alone: Float32Array[][] = [];
      for (const seq of seqs) {
        const s = model.createSession();
        const out: Float32Array[] = [];
        for (const id of seq) out.push(await s.step(id));
        for (let k = 0; k < 4; k++) out.push(await s.step(k * 7 + 3));
        alone.push(out);
        await s.dispose();
      }
      const sessions = seqs.map(() => model.createSession());
      const inter: Float32Array[][] = seqs.map(() => []);
      const full = seqs.map((seq) => [...seq, 3, 10, 17, 24]);
      const longest = Math.max(...full.map((f) => f.length));
      for (let t = 0; t < longest; t++) {
        // Fire this round's steps without awaiting one before the next.
        await Promise.all(sessions.map(async (s, i) => { if (t < full[i].length) inter[i].push(await s.step(full[i][t])); }));
      }
      inter.forEach((out, i) => out.forEach((logits, t) => expect(Array.from(logits), `session ${i} step ${t}`).toEqual(Array.from(alone[i][t]))));
      for (const s of sessions) await s.dispose();
    } finally {
      await model.dispose();
    }
  }, 180_000);
});

describe('concurrent requests through the HTTP handler (default model, wasm, 2 threads)', () => {
  it('each request answers exactly what it answers alone, streamed or not', async () => {
    const model = await loadModel(undefined, { backend: 'wasm', threads: 2 });
    const handler = createHandler(model);
    try {
      const bodies = JOBS.map((job, i) => ({
        prompt: job.prompt, max_tokens: TOKENS, seed: job.seed, temperature: job.temperature, stream: i % 2 === 1,
      }));
      const ask = async (body: object) => {
        const res = await handler(new Request('http://localhost/v1/completions', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }));
        expect(res.status).toBe(200);
        const text = await res.text();
        // Streamed: the concatenated text pieces of the SSE events; else the JSON's text.
        if (!text.startsWith('data:')) return (JSON.parse(text) as { choices: { text: string }[] }).choices[0].text;
        return text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)).choices?.[0]?.text ?? '').join('');
      };
      const alone: string[] = [];
      for (const b of bodies) alone.push(await ask(b));
      const together = await Promise.all(bodies.map(ask));
      expect(together).toEqual(alone);
      expect(new Set(alone).size).toBeGreaterThan(JOBS.length / 2);
    } finally {
      await model.dispose();
    }
  }, 180_000);
});
