/**
 * Backends' environment switches (MAMBA_EDGE_CUDA_*, MAMBA_EDGE_WEBGPU_*): escape hatches and A/B benchmark
 * knobs. A misspelt name or value must not be ignored silently (a benchmark would then measure the default
 * and report it as the variant), so each backend checks every variable under its prefix against its table
 * when it is created and raises E_ARGUMENT naming the variable, the value and what it takes.
 */
import { fail } from '../errors.js';

/** What one variable takes: a boolean switch, one of a few words, an integer range, or free text (a path). */
export type EnvSpec =
  | { kind: 'switch' }
  | { kind: 'choice'; choices: readonly string[] }
  | { kind: 'int'; min: number; max: number; multipleOf?: number }
  | { kind: 'text' };

/** The process's environment (Node); undefined in browsers, which have no `process`. */
function processEnv(): Record<string, string | undefined> | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
}

/** An environment variable (Node; undefined in browsers). */
export function envValue(name: string): string | undefined {
  return processEnv()?.[name];
}

/** '1' / 'on' / 'true' → true, '0' / 'off' / 'false' → false, unset or empty → undefined, anything else → null. */
export function parseSwitch(value: string | undefined): boolean | undefined | null {
  const v = value?.trim().toLowerCase();
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === 'on' || v === 'true') return true;
  if (v === '0' || v === 'off' || v === 'false') return false;
  return null;
}

/** A boolean switch from the environment; E_ARGUMENT for a value that is neither on nor off. */
export function envSwitch(name: string): boolean | undefined {
  const v = parseSwitch(envValue(name));
  if (v === null) throw fail('E_ARGUMENT', `${name}=${JSON.stringify(envValue(name))}: ${expected({ kind: 'switch' })}`);
  return v;
}

function expected(spec: EnvSpec): string {
  switch (spec.kind) {
    case 'switch': return 'expected 1 / on / true or 0 / off / false';
    case 'choice': return `expected one of ${spec.choices.join(' / ')}`;
    case 'int': return `expected an integer in [${spec.min}, ${spec.max}]${spec.multipleOf ? `, a multiple of ${spec.multipleOf}` : ''}`;
    case 'text': return 'expected text';
  }
}

function accepts(spec: EnvSpec, raw: string): boolean {
  switch (spec.kind) {
    case 'switch': return parseSwitch(raw) !== null;
    case 'choice': return spec.choices.includes(raw); // exact: the addon's C++ compares with strcmp
    case 'int': {
      const n = Number(raw.trim());
      return /^\d+$/.test(raw.trim()) && n >= spec.min && n <= spec.max && (!spec.multipleOf || n % spec.multipleOf === 0);
    }
    case 'text': return true;
  }
}

/**
 * Checks every set variable whose name starts with `prefix` against `specs` (keyed by full name): E_ARGUMENT
 * for a name not in the table (listing the known ones) or a value its spec does not take. Empty values count
 * as unset. A no-op where there is no `process` (browsers).
 */
export function checkEnv(prefix: string, specs: Readonly<Record<string, EnvSpec>>): void {
  const vars = processEnv();
  if (!vars) return;
  for (const [name, raw] of Object.entries(vars)) {
    if (!name.startsWith(prefix) || raw === undefined || raw.trim() === '') continue;
    const spec = specs[name];
    if (!spec) throw fail('E_ARGUMENT', `${name}: not a known switch; ${prefix}* takes ${Object.keys(specs).sort().join(', ')}`);
    if (!accepts(spec, raw)) throw fail('E_ARGUMENT', `${name}=${JSON.stringify(raw)}: ${expected(spec)}`);
  }
}
