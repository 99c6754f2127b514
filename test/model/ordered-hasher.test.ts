import { describe, expect, it } from 'vitest';
import { Hasher, OrderedHasher } from '../../src/api/fingerprint.js';

/** OrderedHasher must give the hash of the tensors in list order, whatever order the loader reads them in. */
describe('OrderedHasher', () => {
  const names = Array.from({ length: 12 }, (_, i) => `t${i}`);
  const bytes = new Map(names.map((n, i) => [n, Uint8Array.from({ length: 5 + i * 7 }, (_, j) => (j * 31 + i) & 255)]));
  const want = names.reduce((h, n) => h.update(bytes.get(n)!), new Hasher().updateString('x')).hex();

  const orders: Record<string, string[]> = {
    'in order': names,
    reversed: [...names].reverse(),
    'swapped pairs, some twice, some never, an unknown name': ['t1', 't0', 't3', 't2', 't2', 'zz', 't5', 't4', 't9', 't11', 't0'],
  };
  for (const [what, order] of Object.entries(orders)) {
    for (const cap of [0, 40, 1 << 20]) {
      it(`${what}, keeping at most ${cap} bytes ahead`, () => {
        const reads: string[] = [];
        const oh = new OrderedHasher(new Hasher().updateString('x'), names, (n) => { reads.push(n); return bytes.get(n)!; }, cap);
        for (const n of order) oh.saw(n, bytes.get(n) ?? new Uint8Array(3));
        expect(oh.finish().hex()).toBe(want);
        // With room enough, nothing the loader saw is read again.
        if (cap === 1 << 20) expect(reads).toEqual(names.filter((n) => !order.includes(n)));
      });
    }
  }
});
