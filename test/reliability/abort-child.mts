/**
 * Abort signals fired at random points of load, prefill and generate (wasm backend, worker
 * pool), run in a child process so the parent can check the last property: after dispose,
 * nothing is left running and the process exits by itself. Prints one JSON line of findings;
 * every check that fails is listed in `problems`.
 *
 *   node --import tsx test/reliability/abort-child.mts <seed> <threads>
 */
import { getEventListeners } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, MambaEdgeError, type Model, type Session } from '../../src/node.js';
import { randomModelFiles } from '../../tools/random-model.js';
import { seededRandom } from '../../src/cli/measure.js';

const seed = Number(process.argv[2] ?? 1);
const threads = Number(process.argv[3] ?? 2);
const rand = seededRandom(seed);
const pick = (n: number) => Math.floor(rand() * n);
const problems: string[] = [];
const tally: Record<string, number> = {};
const count = (k: string) => { tally[k] = (tally[k] ?? 0) + 1; };
const check = (ok: boolean, what: string) => { if (!ok) problems.push(what); };
const isAbort = (e: unknown) => e instanceof MambaEdgeError && e.code === 'E_ABORTED' && e.name === 'AbortError';
const same = (a: Uint8Array | Float32Array, b: Uint8Array | Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/** An abort at a random moment: a timer of 0–N ms, or at once (already aborted), or never. */
function randomAbort(maxMs: number): AbortController {
  const ctrl = new AbortController();
  const r = pick(10);
  if (r === 0) ctrl.abort(new Error('pre-aborted'));
  else if (r < 9) setTimeout(() => ctrl.abort(new Error('timer')), pick(maxMs));
  return ctrl;
}

// A model on disk (reads are chunked and check the signal) wide enough that ops use the pool.
const dir = mkdtempSync(join(tmpdir(), 'me-abort-'));
for (const [f, b] of Object.entries(randomModelFiles({ modelType: 'mamba', vocabSize: 512, hiddenSize: 128, numLayers: 2, stateSize: 8, seed: 11 }))) writeFileSync(join(dir, f), b);
const V = 512;

// ---- load ----
for (let i = 0; i < 12; i++) {
  const ctrl = randomAbort(40);
  try {
    const m = await loadModel(dir, { backend: 'wasm', threads, signal: ctrl.signal });
    count('load completed');
    await m.dispose();
  } catch (e) {
    check(isAbort(e), `load: expected E_ABORTED, got ${String(e)}`);
    count('load aborted');
  }
}

const model: Model = await loadModel(dir, { backend: 'wasm', threads });
const prompt = (n: number) => Array.from({ length: n }, () => pick(V));

// ---- prefill: an aborted prefill changes nothing ----
const s = model.createSession();
const twin = model.createSession(); // gets only the prefills that completed
for (let i = 0; i < 12; i++) {
  const ids = prompt(200 + pick(900)); // 1–5 chunks of 256
  const before = s.position;
  const ctrl = new AbortController();
  const how = pick(3);
  if (how === 0) setTimeout(() => ctrl.abort(new Error('timer')), pick(30));
  const at = pick(4) * 256;
  try {
    await s.prefill(ids, { signal: ctrl.signal, onProgress: (p) => { if (how === 1 && p.done >= at) ctrl.abort(new Error('progress')); } });
    await twin.prefill(ids);
    count('prefill completed');
  } catch (e) {
    check(isAbort(e), `prefill: expected E_ABORTED, got ${String(e)}`);
    check(s.position === before, `aborted prefill moved the position ${before} -> ${s.position}`);
    count('prefill aborted');
  }
}
const probe = prompt(3);
check(same(await s.prefill(probe), await twin.prefill(probe)), 'after aborted prefills the session differs from one that never saw them');
/** A saved state without the sampler's random words (each session seeds its own until a generate gives a seed). */
function withoutRng(blob: Uint8Array): string {
  const h = new DataView(blob.buffer, blob.byteOffset).getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(blob.subarray(16, 16 + h)));
  delete header.rng;
  return JSON.stringify(header) + Buffer.from(blob.subarray((16 + h + 3) & ~3, blob.length - 4)).toString('base64');
}
check(withoutRng(await s.saveState()) === withoutRng(await twin.saveState()), 'saved states differ after aborted prefills');

// ---- generate: an abort after k tokens leaves what generate(maxTokens: k) leaves ----
const params = { temperature: 0.9, topK: 20, topP: 0.95, ignoreEos: true };
let g: Session = s;
for (let i = 0; i < 12; i++) {
  const before = await g.saveState();
  const ids = prompt(1 + pick(600));
  const genSeed = pick(1000);
  const ctrl = new AbortController();
  const stopAfter = pick(3) === 0 ? -1 : pick(12); // -1: a timer instead
  if (stopAfter < 0) setTimeout(() => ctrl.abort(new Error('timer')), pick(20));
  const got: number[] = [];
  let failed: unknown;
  try {
    for await (const t of g.generate(ids, { ...params, maxTokens: 16, seed: genSeed, signal: ctrl.signal })) {
      got.push(t.id);
      if (got.length === stopAfter) ctrl.abort(new Error('consumer'));
    }
  } catch (e) {
    failed = e;
  }
  const result = await g.generate([], { maxTokens: 1, seed: 1 }).finished.then(() => 'usable', (e) => `unusable: ${String(e)}`);
  // The probe generate above moved the session; compare against a replay from `before` first.
  const ref = model.createSession({ state: before });
  if (failed !== undefined) {
    check(isAbort(failed), `generate: expected E_ABORTED, got ${String(failed)}`);
    count(got.length ? 'generate aborted after tokens' : 'generate aborted before a token');
    if (got.length) {
      const again: number[] = [];
      for await (const t of ref.generate(ids, { ...params, maxTokens: got.length, seed: genSeed })) again.push(t.id);
      check(again.join() === got.join(), `generate: tokens before the abort differ from a replay (${got} vs ${again})`);
    }
  } else {
    count('generate completed');
  }
  check(result === 'usable', `session after an aborted generate: ${result}`);
  await ref.dispose();
  g = pick(2) ? g : model.createSession({ state: await g.saveState() });
}

// One long-lived caller signal across many calls: no listener left behind on it.
const shared = new AbortController();
for (let i = 0; i < 20; i++) await s.generate(prompt(4), { maxTokens: 2, seed: i, signal: shared.signal }).finished;
check(getEventListeners(shared.signal, 'abort').length === 0, `a long-lived signal holds ${getEventListeners(shared.signal, 'abort').length} abort listeners after 20 generate calls`);

await model.dispose();
const resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
console.log(JSON.stringify({ seed, threads, tally, problems, resources, disposedAt: Date.now() }));
