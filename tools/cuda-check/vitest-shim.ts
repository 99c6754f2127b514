/**
 * Just enough of vitest's API (describe/it/expect, skipIf, the matchers our cuda suites use) to run
 * test/cuda/*.test.ts — and through them the shared op and golden suites, unchanged — as one bundled
 * script on a GPU machine that has no npm and no room for vitest's dependencies (tools/cuda-check.mjs).
 * Failures print the test's path and the assertion; the last line is vitest-style "N passed, N failed".
 */
import { isDeepStrictEqual } from 'node:util';

type Fn = () => unknown;
interface Case { name: string; fn: Fn; skip: boolean }

const cases: Case[] = [];
const path: string[] = [];
let skipping = 0;

export function describe(name: string, fn: () => void): void {
  path.push(name);
  try { fn(); } finally { path.pop(); }
}
describe.skipIf = (cond: boolean) => (name: string, fn: () => void) => {
  if (cond) skipping++;
  try { describe(name, fn); } finally { if (cond) skipping--; }
};

export function it(name: string, fn: Fn, _timeout?: number): void {
  cases.push({ name: [...path, name].join(' > '), fn, skip: skipping > 0 });
}
it.skipIf = (cond: boolean) => (name: string, fn: Fn, timeout?: number) => {
  if (cond) skipping++;
  try { it(name, fn, timeout); } finally { if (cond) skipping--; }
};
export const test = it;

const hooks = { before: [] as Fn[], after: [] as Fn[] };
/** vitest's `vi`, as far as the suites use it (the shim has no timeouts to configure). */
export const vi = { setConfig: (_: unknown): void => undefined };
export const beforeAll = (fn: Fn): void => { hooks.before.push(fn); };
export const afterAll = (fn: Fn): void => { hooks.after.push(fn); };

/** An asymmetric matcher (expect.objectContaining, expect.stringMatching). */
class Asym {
  constructor(readonly test: (v: unknown) => boolean, readonly text: string) {}
  toString(): string { return this.text; }
}

function equals(a: unknown, b: unknown): boolean {
  if (b instanceof Asym) return b.test(a);
  if (a instanceof Asym) return a.test(b);
  if (b && typeof b === 'object' && a && typeof a === 'object' && !ArrayBuffer.isView(b) && !(b instanceof Set) && !(b instanceof Map)) {
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const ka = Object.keys(a as object), kb = Object.keys(b as object);
    if (ka.length !== kb.length) return false;
    return kb.every((k) => equals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return isDeepStrictEqual(a, b);
}

const show = (v: unknown): string => {
  if (v instanceof Asym) return v.text;
  if (v instanceof Error) return `${v.name}(${(v as { code?: string }).code ?? ''}): ${v.message}`;
  try { return typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v) ?? v).slice(0, 300); } catch { return String(v); }
};

class AssertionError extends Error {}

export function expect(actual: unknown, message?: string) {
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new AssertionError(`${message ? `${message}: ` : ''}expected ${show(actual)} ${what}`);
  };
  const num = (v: unknown) => v as number;
  return {
    toBe: (e: unknown) => check(Object.is(actual, e), `to be ${show(e)}`),
    toBeNull: () => check(actual === null, 'to be null'),
    toEqual: (e: unknown) => check(equals(actual, e), `to equal ${show(e)}`),
    toBeLessThanOrEqual: (e: number) => check(num(actual) <= e, `to be ≤ ${e}`),
    toBeLessThan: (e: number) => check(num(actual) < e, `to be < ${e}`),
    toBeGreaterThan: (e: number) => check(num(actual) > e, `to be > ${e}`),
    toBeGreaterThanOrEqual: (e: number) => check(num(actual) >= e, `to be ≥ ${e}`),
    toMatch: (e: RegExp | string) => check(typeof actual === 'string' && (typeof e === 'string' ? actual.includes(e) : e.test(actual)), `to match ${String(e)}`),
    toContain: (e: unknown) => check((actual as { includes(x: unknown): boolean }).includes(e), `to contain ${show(e)}`),
    toHaveLength: (n: number) => check((actual as { length?: number })?.length === n, `to have length ${n}`),
    toBeDefined: () => check(actual !== undefined, 'to be defined'),
    toMatchObject: (e: Record<string, unknown>) => check(equals(actual, expect.objectContaining(e)), `to match ${show(e)}`),
    /** `await expect(promise).rejects.toMatchObject({...})`. */
    rejects: {
      toMatchObject: async (e: Record<string, unknown>) => {
        let thrown: unknown, threw = false;
        try { await (actual as Promise<unknown>); } catch (err) { threw = true; thrown = err; }
        check(threw, 'to reject');
        check(equals(thrown, expect.objectContaining(e)), `to reject with ${show(e)}, rejected with ${show(thrown)}`);
      },
    },
    toThrow: (e?: unknown) => {
      let thrown: unknown, threw = false;
      try { (actual as () => unknown)(); } catch (err) { threw = true; thrown = err; }
      check(threw, 'to throw');
      if (e instanceof RegExp) check(e.test((thrown as Error).message), `to throw ${String(e)}, threw ${show(thrown)}`);
      else if (e !== undefined) check(equals(thrown, e), `to throw ${show(e)}, threw ${show(thrown)}`);
    },
    not: {
      toBe: (e: unknown) => check(!Object.is(actual, e), `not to be ${show(e)}`),
      toEqual: (e: unknown) => check(!equals(actual, e), `not to equal ${show(e)}`),
      toBeNull: () => check(actual !== null, 'not to be null'),
    },
  };
}
expect.objectContaining = (o: Record<string, unknown>) =>
  new Asym((v) => !!v && typeof v === 'object' && Object.entries(o).every(([k, x]) => equals((v as Record<string, unknown>)[k], x)), `objectContaining ${show(o)}`);
expect.stringMatching = (r: RegExp) => new Asym((v) => typeof v === 'string' && r.test(v), `stringMatching ${String(r)}`);

/** Runs every registered test in order; resolves to the number of failures. */
export async function run(filter?: RegExp): Promise<number> {
  let passed = 0, failed = 0, skipped = 0;
  for (const h of hooks.before) await h();
  for (const c of cases) {
    if (c.skip || (filter && !filter.test(c.name))) { skipped++; continue; }
    const t0 = performance.now();
    try {
      await c.fn();
      passed++;
      console.log(`✓ ${c.name} (${(performance.now() - t0).toFixed(0)} ms)`);
    } catch (e) {
      failed++;
      console.log(`✗ ${c.name}\n    ${e instanceof AssertionError ? e.message : (e as Error).stack ?? String(e)}`);
    }
  }
  for (const h of hooks.after) await h();
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  return failed;
}
