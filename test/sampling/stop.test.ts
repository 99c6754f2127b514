import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../src/api/stop.js';
import { MambaEdgeError } from '../../src/errors.js';

/** Pushes every chunk; returns what was emitted (flushing at the end unless stopped) and the matcher. */
function run(stops: string[], chunks: string[]): { out: string[]; m: StopMatcher } {
  const m = new StopMatcher(stops);
  const out = chunks.map((c) => m.push(c));
  out.push(m.flush());
  return { out, m };
}

describe('StopMatcher', () => {
  it('passes text through when nothing can match', () => {
    const { out, m } = run(['STOP'], ['hello ', 'world']);
    expect(out).toEqual(['hello ', 'world', '']);
    expect(m.stopped).toBe(false);
  });

  it('stops inside one chunk and drops the stop text', () => {
    const { out, m } = run(['\n\n'], ['one\n\ntwo']);
    expect(out).toEqual(['one', '']);
    expect(m.stopped).toBe(true);
    expect(m.push('more')).toBe('');
  });

  it('holds a possible stop across chunks', () => {
    const { out, m } = run(['User:'], ['Hi. U', 's', 'er', ':', ' again']);
    expect(out).toEqual(['Hi. ', '', '', '', '', '']);
    expect(m.stopped).toBe(true);
  });

  it('releases held text once it stops matching', () => {
    const m = new StopMatcher(['User:']);
    expect(m.push('a Us')).toBe('a ');
    expect(m.pending()).toBe('Us');
    expect(m.push('ually')).toBe('Usually');
    expect(m.pending()).toBe('');
    expect(m.push('xU')).toBe('x');
    expect(m.flush()).toBe('U'); // end of generation: the held text was never a stop
    expect(m.stopped).toBe(false);
  });

  it('handles overlapping stops and self-overlapping prefixes', () => {
    // "aba" is held, but the stop "abac" begins inside it: "xaba" + "bac" = "xab" + "abac".
    expect(run(['abac'], ['xaba', 'bac']).out).toEqual(['x', 'ab', '']);
    expect(run(['abab'], ['xaba', 'bab']).out).toEqual(['x', '', '']);
    // Two stops that overlap: the earliest occurrence wins.
    expect(run(['abc', 'bcd'], ['ab', 'cd']).out).toEqual(['', '', '']);
    expect(run(['bcd', 'abc'], ['zab', 'cd']).out).toEqual(['z', '', '']);
    // A short stop completes while a long one is still only a prefix: stop at the short one.
    expect(run(['abcdef', 'cd'], ['ab', 'cd', 'ef']).out).toEqual(['', 'ab', '', '']);
  });

  it('stops at whichever of several stops appears first', () => {
    const { out } = run(['</s>', '\nQ:', 'END'], ['Answer: 4', '2\n', 'Q: next', 'END']);
    expect(out).toEqual(['Answer: 4', '2', '', '', '']);
    expect(run(['</s>', 'END'], ['done</', 'x END']).out).toEqual(['done', '</x ', '']);
  });

  it('works with non-ASCII stops split mid-word', () => {
    expect(run(['終わり'], ['これで終', 'わり', 'です']).out).toEqual(['これで', '', '', '']);
    expect(run(['😀!'], ['ok 😀', '!']).out).toEqual(['ok ', '', '']);
  });

  it('with no stops emits everything at once', () => {
    expect(run([], ['a', 'b']).out).toEqual(['a', 'b', '']);
  });

  it('resumes from pending()', () => {
    const m = new StopMatcher(['User:']);
    expect(m.push('hi Use')).toBe('hi ');
    const resumed = new StopMatcher(['User:'], m.pending());
    expect(resumed.pending()).toBe('Use');
    expect(resumed.push('r: bye')).toBe('');
    expect(resumed.stopped).toBe(true);
  });

  it('rejects empty and non-string stops', () => {
    for (const stops of [[''], ['ok', ''], [3], [null], 'stop'] as unknown as string[][]) {
      let err: unknown;
      try {
        new StopMatcher(stops);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MambaEdgeError);
      expect((err as MambaEdgeError).code).toBe('E_ARGUMENT');
      expect((err as MambaEdgeError).field).toBe('stop');
    }
  });
});
