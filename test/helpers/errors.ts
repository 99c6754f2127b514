/**
 * Catching the typed errors tests expect: the call must fail, and with a MambaEdgeError
 * (whose code, field and message the test then checks).
 */
import { expect } from 'vitest';
import { MambaEdgeError } from '../../src/errors.js';

/** Runs fn, expects it to throw a MambaEdgeError, returns it. */
export function caught(fn: () => unknown): MambaEdgeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MambaEdgeError);
    return e as MambaEdgeError;
  }
  throw new Error('expected a throw');
}

/** Awaits p, expects it to reject with a MambaEdgeError, returns it. */
export async function rejected(p: Promise<unknown>): Promise<MambaEdgeError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MambaEdgeError);
    return e as MambaEdgeError;
  }
  throw new Error('expected a rejection');
}
