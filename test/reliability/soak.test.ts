/**
 * The soak, CI-sized (issue 12 item 3; `npm run soak` runs it to 1,000,000 tokens): a few thousand
 * tokens generated in one `generate` call and a few thousand prefilled in one `prefill` call, on the
 * default model with the wasm backend at 2 threads. After warm-up (the first 5 % of the tokens) the
 * wasm memory and the arena's high-water mark must not grow at all and the pool must keep its
 * workers; RSS and the heap must stay within the soak's margins (32 MiB: no GC is forced here).
 * A last test grows the wasm memory by one page mid-run and checks the verdict catches it, so the
 * flatness checks are not vacuous.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/node.js';
import { runSoak, type SoakResult } from '../../bench/soak-run.js';

const byName = (r: SoakResult, prefix: string) => r.checks.find((c) => c.name.startsWith(prefix))!;

describe('soak (CI-sized)', () => {
  let model: Model;
  beforeAll(async () => { model = await loadModel(undefined, { backend: 'wasm', threads: 2 }); });
  afterAll(async () => { await model?.dispose(); });

  for (const [phase, tokens] of [['generate', 1500], ['prefill', 4000]] as const) {
    it(`${phase}: ${tokens} tokens in one session, no wasm memory or worker growth after warm-up`, async () => {
      const r = await runSoak({ phase, tokens, model, every: 128, seed: 7 });
      expect(r.tokensRun).toBe(tokens);
      expect(r.completed).toBe(true);
      expect(r.samples.length).toBeGreaterThan(8);
      for (const name of ['wasm memory', 'wasm arena', 'kernel workers']) {
        const c = byName(r, name);
        expect(c.growth, `${name}: ${JSON.stringify(c)}`).toBe(0);
        expect(c.max).toBe(c.baseline);
      }
      expect(byName(r, 'kernel workers').baseline).toBe(1); // 2 threads = this thread + 1 pool worker
      expect(r.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([]);
      expect(r.ok).toBe(true);
    }, 60_000);
  }

  it('the verdict fails when the wasm memory grows after warm-up', async () => {
    const memory = (model as unknown as { parts: { backend: { memory: WebAssembly.Memory } } }).parts.backend.memory;
    let n = 0;
    const r = await runSoak({ phase: 'generate', tokens: 400, model, every: 40, log: () => { if (++n === 6) memory.grow(1); } });
    const c = byName(r, 'wasm memory');
    expect(c.growth).toBe(65536);
    expect(c.ok).toBe(false);
    expect(r.ok).toBe(false);
  }, 60_000);
});
