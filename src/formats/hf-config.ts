/**
 * Typed reads of config.json fields. Every failure is E_CONFIG naming the file,
 * the field and what was expected, so a user can fix the file by reading the message.
 */
import { fail } from '../errors.js';

export class ConfigReader {
  constructor(readonly raw: Record<string, unknown>, readonly file: string) {}

  private bad(field: string, expected: string): never {
    const got = JSON.stringify(this.raw[field]) ?? 'nothing';
    throw fail('E_CONFIG', `${this.file}: field "${field}" must be ${expected}, got ${got}`, { file: this.file, field });
  }

  has(field: string): boolean {
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }

  /** A positive integer, bounded so a hostile config cannot request absurd allocations. */
  int(field: string, opts: { min?: number; max?: number; default?: number } = {}): number {
    const min = opts.min ?? 1;
    const max = opts.max ?? 1 << 24;
    const v = this.has(field) ? this.raw[field] : opts.default;
    if (v === undefined) this.bad(field, `an integer in [${min}, ${max}] (it is required)`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.bad(field, `an integer in [${min}, ${max}]`);
    return v;
  }

  num(field: string, opts: { default?: number; min?: number; max?: number; allowInfinity?: boolean } = {}): number {
    const v = this.has(field) ? this.raw[field] : opts.default;
    const range = `a number${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}${opts.max !== undefined ? ` ≤ ${opts.max}` : ''}`;
    if (v === undefined) this.bad(field, `${range} (it is required)`);
    if (typeof v !== 'number' || Number.isNaN(v) || (!opts.allowInfinity && !Number.isFinite(v))) this.bad(field, range);
    if ((opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max)) this.bad(field, range);
    return v;
  }

  bool(field: string, def: boolean): boolean {
    if (!this.has(field)) return def;
    const v = this.raw[field];
    if (typeof v !== 'boolean') this.bad(field, 'true or false');
    return v;
  }

  str(field: string, def: string): string {
    if (!this.has(field)) return def;
    const v = this.raw[field];
    if (typeof v !== 'string') this.bad(field, 'a string');
    return v;
  }

  /** Optional token id: an integer, or the first of a list (transformers allows both for eos_token_id). */
  tokenId(field: string, vocabSize: number): number | undefined {
    if (!this.has(field)) return undefined;
    const v = this.raw[field];
    const id = Array.isArray(v) ? v[0] : v;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      this.bad(field, `a token id in [0, ${vocabSize}) or a list of them`);
    }
    return id;
  }

  /** A pair of numbers such as time_step_limit (may hold Infinity). */
  pair(field: string, def: [number, number]): [number, number] {
    if (!this.has(field)) return def;
    const v = this.raw[field];
    if (!Array.isArray(v) || v.length !== 2 || v.some((x) => typeof x !== 'number' || Number.isNaN(x))) {
      this.bad(field, 'a pair of numbers [min, max]');
    }
    if (v[0] > v[1]) this.bad(field, 'a pair [min, max] with min ≤ max');
    return [v[0], v[1]];
  }
}
