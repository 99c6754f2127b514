/**
 * The fuzz harness: one property for every parser of untrusted bytes.
 *
 *   every input either loads and runs a forward step, or is refused with a
 *   MambaEdgeError carrying a known `code` — within a time bound and a memory
 *   bound, with no unhandled rejection and no handle (timer, worker, socket) left behind.
 *
 * A target (targets.ts) says how to make inputs from seed files (`arbitrary`) and how to
 * load one and run it (`run`). `checkCase` wraps one run with the measurements; the vitest
 * suite (fuzz.test.ts) and the CLI (tools/fuzz.ts) both drive `fuzzTarget`.
 *
 * Memory is measured two ways around each case, both without forcing a GC:
 * - `process.memoryUsage().arrayBuffers` grows by every ArrayBuffer the case allocates and
 *   has not yet been collected (typed arrays, copies of the input, weight decodes);
 * - `process.resourceUsage().maxRSS`, the process's peak resident size: a case that
 *   momentarily allocates far more than its input raises it, even if the memory is freed.
 * The allowance is a fixed amount (a forward step of the seed model, the tokenizer library's
 * tables) plus a multiple of the input's size: a parser may copy or decode its input a few
 * times, but a 2 kB header must not make it allocate 1 GB.
 */
import fc from 'fast-check';
import { ERROR_CODES, MambaEdgeError, type ErrorCode } from '../../src/errors.js';

export interface FuzzTarget<T = unknown> {
  /** The name `--target` selects. */
  readonly name: string;
  /** Loads seed files and anything the cases reuse; called once before the first case. */
  setup(): Promise<void>;
  /** Inputs: structure-aware mutations of the seeds (call after setup). */
  arbitrary(): fc.Arbitrary<T>;
  /** Load the input and run one forward step with it. Throws to refuse it; may return a label for the tally (e.g. an HTTP status). */
  run(input: T): Promise<void | string>;
  /** Bytes of untrusted input in this case (for the memory allowance). */
  size(input: T): number;
  /** Frees what setup made. */
  teardown?(): Promise<void>;
}

export interface Bounds {
  /**
   * CPU time (this process, all threads) one case may take... CPU rather than wall time, so that a
   * long run niced on a shared machine is not failed for waiting its turn; a case that blocks or
   * never settles uses no CPU, and is caught by the wall-clock watchdog (tools/fuzz.ts) or vitest's timeout.
   */
  timeMs: number;
  /** ...plus this many ms per MiB of input (parsing a 10 MB header takes a while). */
  msPerMiB: number;
  /** Bytes any case may allocate whatever its size. */
  fixedBytes: number;
  /** Further bytes allowed per byte of input. */
  perInputByte: number;
}

export const DEFAULT_BOUNDS: Bounds = { timeMs: 5_000, msPerMiB: 1_000, fixedBytes: 96 * 1024 * 1024, perInputByte: 8 };

/** A violated property: what happened, for fast-check to report with the counterexample. */
export class FuzzFailure extends Error {}

export interface Tally {
  runs: number;
  /** Outcomes: 'ok' (loaded and ran) or the error code it was refused with. */
  outcomes: Record<string, number>;
  /** Slowest case, wall clock and CPU. */
  maxMs: number;
  maxCpuMs: number;
  /** Largest arrayBuffers growth seen in one case, and that case's input size. */
  maxArrayBufferGrowth: number;
  maxRssGrowth: number;
  /** The first message seen for each refusal code (to read what the refusals say). */
  examples: Partial<Record<ErrorCode, string>>;
}

export const newTally = (): Tally => ({ runs: 0, outcomes: {}, maxMs: 0, maxCpuMs: 0, maxArrayBufferGrowth: 0, maxRssGrowth: 0, examples: {} });

const unhandled: unknown[] = [];
let listening = false;
function listenForUnhandled(): void {
  if (listening) return;
  listening = true;
  process.on('unhandledRejection', (reason) => { unhandled.push(reason); });
}

/** Resources that are the harness's or the runner's own, not the case's. */
const IGNORED_RESOURCES = new Set(['TTYWrap', 'PipeWrap', 'FSReqCallback', 'FSReqPromise', 'Immediate', 'MessagePort']);
function resourceCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (!IGNORED_RESOURCES.has(r)) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

const macrotask = () => new Promise<void>((r) => setImmediate(r));

/** Runs one case and checks the property; throws FuzzFailure (or the stray error) when it does not hold. */
export async function checkCase<T>(target: FuzzTarget<T>, input: T, bounds: Bounds = DEFAULT_BOUNDS, tally?: Tally): Promise<string> {
  listenForUnhandled();
  unhandled.length = 0;
  const resources = resourceCounts();
  const mem0 = process.memoryUsage().arrayBuffers;
  const rss0 = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();

  let outcome: string;
  let message = '';
  try {
    const label = await target.run(input);
    outcome = typeof label === 'string' ? label : 'ok';
  } catch (e) {
    if (!(e instanceof MambaEdgeError)) {
      throw new FuzzFailure(`${target.name}: refused with an untyped error: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
    }
    if (!ERROR_CODES.includes(e.code)) throw new FuzzFailure(`${target.name}: unknown error code ${String(e.code)}`);
    if (typeof e.message !== 'string' || e.message.length < 10) throw new FuzzFailure(`${target.name}: ${e.code} with an empty message`);
    outcome = e.code;
    message = e.message;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const grew = process.memoryUsage().arrayBuffers - mem0;
  const rssGrew = process.resourceUsage().maxRSS * 1024 - rss0;
  const size = target.size(input);
  const allowance = bounds.fixedBytes + bounds.perInputByte * size;

  await macrotask(); // a promise rejected and dropped during the case is reported by now
  if (unhandled.length) {
    const r = unhandled[0];
    throw new FuzzFailure(`${target.name}: unhandled rejection (${outcome}): ${r instanceof Error ? `${r.message}\n${r.stack}` : String(r)}`);
  }
  const timeAllowed = bounds.timeMs + bounds.msPerMiB * (size / 1048576);
  if (cpuMs > timeAllowed) throw new FuzzFailure(`${target.name}: ${outcome} after ${cpuMs.toFixed(0)} ms of CPU (${ms.toFixed(0)} ms wall), more than ${timeAllowed.toFixed(0)} ms, for ${size} input bytes`);
  if (grew > allowance) throw new FuzzFailure(`${target.name}: ${outcome}, but ArrayBuffers grew by ${grew} bytes for ${size} input bytes (allowed ${allowance})`);
  if (rssGrew > allowance) throw new FuzzFailure(`${target.name}: ${outcome}, but peak RSS grew by ${rssGrew} bytes for ${size} input bytes (allowed ${allowance})`);
  const after = resourceCounts();
  for (const [kind, n] of after) {
    if (n > (resources.get(kind) ?? 0)) throw new FuzzFailure(`${target.name}: ${outcome}, but left ${n - (resources.get(kind) ?? 0)} ${kind} handle(s) behind`);
  }

  if (tally) {
    tally.runs++;
    tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1;
    if (message) tally.examples[outcome as ErrorCode] ??= message.slice(0, 300);
    tally.maxMs = Math.max(tally.maxMs, ms);
    tally.maxCpuMs = Math.max(tally.maxCpuMs, cpuMs);
    tally.maxArrayBufferGrowth = Math.max(tally.maxArrayBufferGrowth, grew);
    tally.maxRssGrowth = Math.max(tally.maxRssGrowth, rssGrew);
  }
  return outcome;
}

export interface FuzzRun {
  runs: number;
  seed: number;
  /** fast-check replay path of one case (from a failure report). */
  path?: string;
  bounds?: Bounds;
  /** Counts into this tally (the CLI reads it when interrupted). */
  tally?: Tally;
  /** Called before each case with its index (the CLI's hang watchdog listens). */
  onCase?: (index: number) => void;
}

export interface FuzzFailureReport<T> {
  /** What the property found (the FuzzFailure's or the stray error's message). */
  message: string;
  seed: number;
  /** Replay with `--seed <seed> --path <path>`. */
  path: string;
  /** The smallest failing input fast-check shrank to. */
  input: T;
}

/** fast-check over one target: the tally, and the first failure (shrunk) if the property broke. */
export async function fuzzTarget<T>(target: FuzzTarget<T>, opts: FuzzRun): Promise<{ tally: Tally; failure?: FuzzFailureReport<T> }> {
  const tally = opts.tally ?? newTally();
  let index = 0;
  const details = await fc.check(
    fc.asyncProperty(target.arbitrary(), async (input) => {
      opts.onCase?.(index++);
      await checkCase(target, input, opts.bounds, tally);
    }),
    { numRuns: opts.runs, seed: opts.seed, ...(opts.path ? { path: opts.path } : {}), endOnFailure: false },
  );
  if (!details.failed) return { tally };
  const err = details.errorInstance;
  const message = err instanceof Error ? err.message : String(err);
  return { tally, failure: { message: message.slice(0, 4000), seed: details.seed, path: details.counterexamplePath ?? '', input: details.counterexample![0] as T } };
}
