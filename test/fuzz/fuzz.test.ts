/**
 * The fuzz property on every parser, a few thousand cases each with fixed seeds (so CI is
 * reproducible; `npm run fuzz -- --runs N --seed S` explores further). A failure prints the
 * violated bound or the stray error, and the seed and path that replay it.
 */
import { describe, expect, it } from 'vitest';
import { fuzzTarget } from './harness.js';
import { TARGETS } from './targets.js';

/** Cases per target in CI: 10,500 in all, 45–70 s on this shared 2-core machine under load (each target 4–18 s at 2,000). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const SEEDS: Record<string, number> = { safetensors: 12001, config: 12002, tokenizer: 12003, state: 12004, index: 12005, gguf: 12006, handler: 12007 };

describe('fuzz: every input loads and runs, or is refused with a typed error, in bounded time and memory', () => {
  for (const name of Object.keys(TARGETS)) {
    it(`${name}: ${RUNS} cases`, async () => {
      const target = TARGETS[name]();
      await target.setup();
      try {
        const { tally, failure } = await fuzzTarget(target, { runs: RUNS, seed: SEEDS[name] ?? 12000 });
        if (failure) {
          throw new Error(`${failure.message}\nreplay: npm run fuzz -- --target ${name} --seed ${failure.seed} --path ${failure.path}`);
        }
        expect(tally.runs).toBe(RUNS);
        // The mutations must reach past the first check: some inputs load and run.
        expect(tally.outcomes.ok ?? tally.outcomes['HTTP 200'] ?? 0).toBeGreaterThan(RUNS / 100);
      } finally {
        await target.teardown?.();
      }
    }, 120_000);
  }
});
