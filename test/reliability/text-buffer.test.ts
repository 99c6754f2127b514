/**
 * Regression test for the soak's finding: `generate` kept `finished.text` as `text += piece`, a V8
 * rope of ~32 bytes per token (~32 MB retained after a million tokens for ~1 MB of text).
 * TextBuffer must hold a million one-character pieces in a few bytes each. The heap is measured after
 * full GCs (gc exposed through v8 flags for this process); the rope measured ~31 MB here.
 */
import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TextBuffer } from '../../src/api/text-buffer.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('TextBuffer (generate\'s finished.text)', () => {
  const pieces = Array.from({ length: 256 }, (_, i) => String.fromCharCode(32 + (i % 90)) + (i % 3 ? '' : 'é'));
  const N = 1_000_000;

  it('equals the concatenation of the pieces, empty pieces and all', () => {
    const b = new TextBuffer();
    let expected = '';
    for (let i = 0; i < 10_000; i++) { const p = i % 7 === 0 ? '' : pieces[i % 256]; b.add(p); expected += p; }
    expect(b.toString()).toBe(expected);
    b.add('tail');
    expect(b.toString()).toBe(expected + 'tail');
    expect(new TextBuffer().toString()).toBe('');
  });

  it('holds a million pieces in under 4 bytes each (a rope takes ~32)', () => {
    gc(); gc();
    const before = process.memoryUsage().heapUsed;
    const b = new TextBuffer();
    for (let i = 0; i < N; i++) b.add(pieces[i % 256]);
    gc(); gc();
    const perPiece = (process.memoryUsage().heapUsed - before) / N;
    expect(b.toString().length).toBeGreaterThan(N);
    expect(perPiece).toBeLessThan(4);
  });
});
