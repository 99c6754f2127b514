/**
 * Flag parsing for the CLI. Every parser throws UsageError with the flag's name, so a bad
 * value exits with status 2 and a message like `error: --max-tokens must be a positive integer (got "abc")`.
 */

/** Wrong or missing command-line input: exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

function got(v: string): string {
  return `(got ${JSON.stringify(v)})`;
}

function integer(v: string): number | undefined {
  const s = v.trim();
  if (!/^\+?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

function finite(v: string): number | undefined {
  const s = v.trim();
  if (s === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

export function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    const n = integer(v);
    if (n === undefined || n < 1) throw new UsageError(`${flag} must be a positive integer ${got(v)}`);
    return n;
  };
}

export function nonNegativeInt(flag: string, what = 'a non-negative integer'): (v: string) => number {
  return (v) => {
    const n = integer(v);
    if (n === undefined) throw new UsageError(`${flag} must be ${what} ${got(v)}`);
    return n;
  };
}

export function nonNegativeNumber(flag: string, what = 'a number ≥ 0'): (v: string) => number {
  return (v) => {
    const n = finite(v);
    if (n === undefined || n < 0) throw new UsageError(`${flag} must be ${what} ${got(v)}`);
    return n;
  };
}

/** A number in (0, 1]. */
export function probability(flag: string): (v: string) => number {
  return (v) => {
    const n = finite(v);
    if (n === undefined || !(n > 0 && n <= 1)) throw new UsageError(`${flag} must be a number in (0, 1] ${got(v)}`);
    return n;
  };
}

/** A repeatable string flag (`--stop a --stop b`); empty strings are refused. */
export function collect(flag: string): (v: string, previous: string[] | undefined) => string[] {
  return (v, previous) => {
    if (v === '') throw new UsageError(`${flag} must not be empty`);
    return [...(previous ?? []), v];
  };
}

/** A comma-separated list of allowed values (`--backends reference,wasm`). */
export function list<T extends string>(flag: string, allowed: readonly T[]): (v: string) => T[] {
  return (v) => {
    const items = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (items.length === 0) throw new UsageError(`${flag} needs at least one of ${allowed.join(', ')} ${got(v)}`);
    for (const item of items) {
      if (!allowed.includes(item as T)) throw new UsageError(`${flag}: "${item}" is not one of ${allowed.join(', ')}`);
    }
    return items as T[];
  };
}
