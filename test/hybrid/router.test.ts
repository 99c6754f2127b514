/** createRouter: short prompts to the attention model, long ones to the Mamba model, each request reporting who served it. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRouter, loadModel } from '../../src/node.js';
import { HYBRID_DIR } from './fixtures.js';
import { GOLDEN_DIR } from '../helpers/goldens.js';

describe('createRouter', () => {
  it('routes by prompt length, reports the serving model, and matches running that model directly', async () => {
    const llama = await loadModel(join(HYBRID_DIR, 'llama-gqa'), { backend: 'reference' });
    const mamba = await loadModel(join(GOLDEN_DIR, 'm2-g1-tied'), { backend: 'reference' });
    const seen: string[] = [];
    const router = createRouter({ short: llama, long: mamba, maxShortTokens: 8, onRoute: (r) => seen.push(r.servedBy) });
    const opts = { temperature: 0, maxTokens: 6, ignoreEos: true } as const;
    const shortPrompt = 'abcdefgh', longPrompt = 'abcdefghijklmnop';
    expect(router.route(shortPrompt)).toBe('short');
    expect(router.route(longPrompt)).toBe('long');

    const a = router.generate(shortPrompt, opts);
    expect(a.servedBy).toBe('short');
    expect(a.model).toBe(llama);
    expect((await a.finished).text).toBe((await llama.createSession().generate(shortPrompt, opts).finished).text);
    const b = router.generate(longPrompt, opts);
    expect(b.servedBy).toBe('long');
    expect((await b.finished).text).toBe((await mamba.createSession().generate(longPrompt, opts).finished).text);
    expect(router.served).toEqual({ short: 1, long: 1 });
    expect(seen).toEqual(['short', 'long']);

    // A routed session binds at its first request and keeps its model for later calls.
    const s = router.createSession();
    expect(s.servedBy).toBeNull();
    await expect(s.step(1)).rejects.toMatchObject({ code: 'E_ARGUMENT' });
    const first = s.generate(longPrompt, opts);
    expect(first.servedBy).toBe('long');
    await first.finished;
    const again = s.generate('ab', opts); // short, but the session already lives on the long model
    expect(again.servedBy).toBe('long');
    await again.finished;
    expect(s.position).toBe(longPrompt.length + 6 + 2 + 5);
    await s.dispose();

    expect(() => createRouter({ short: llama, long: mamba, maxShortTokens: 0 })).toThrow(expect.objectContaining({ code: 'E_ARGUMENT', field: 'maxShortTokens' }));
    expect(() => createRouter({ short: llama, long: {} as never, maxShortTokens: 4 })).toThrow(expect.objectContaining({ field: 'long' }));
    await llama.dispose();
    await mamba.dispose();
  });
});
