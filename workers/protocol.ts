/**
 * The data plane between the coordinating thread and the kernel workers: a control
 * block in the shared memory (at CONTROL_BASE, wasm/ABI.md). comlink carries only the
 * control plane (start, init, serve, quit; workers/README.md); every op goes through these words.
 *
 * Int32 words (index into an Int32Array over the block, CONTROL_WORDS long):
 *   SEQ       bumped by the coordinator for each op; workers wait on it
 *   DONE      a wake-up counter: bumped (and notified) by a worker that finished an op and by
 *             the pool's watcher when a worker dies; the coordinator waits on it
 *   KERNEL    index into KERNEL_NAMES
 *   N         size of the work range [0, N)
 *   NARGS     argument count
 *   QUIT      1 = leave the serve loop
 *   ERROR     0, or 1 + the thread index of a worker whose kernel threw
 *   LIVE      bit t set while worker t serves: set by the worker at init (after it read SEQ),
 *             cleared when it dies. Ops are shared only while every bit is set.
 *   GAVE_UP   0, or 1 + t: the watcher could not restart worker t (or restarted too often)
 *   FAULT     fault injection for tests: FAULT_HOLD/FAULT_THROW << 8 | t (0 = none)
 *   HELD      1 + t once worker t holds inside an op (FAULT_HOLD), for the watcher to kill it
 *   DONE_SEQ + t   the SEQ of the last op worker t finished (its share is written)
 *   EXIT_CODE + t  the exit code of worker t's last death (−1: its loop threw; −2: an error event)
 *   EPOCH + t      bumped at each death of worker t (by the watcher, or by the worker itself when
 *                  its loop throws): an op whose worker t has not finished and whose EPOCH + t
 *                  changed since the op was posted lost that share
 * Float64 args from byte ARGS_OFFSET (f64 holds every i32 offset and f32 value exactly).
 *
 * One op: coordinator writes KERNEL/N/args, SEQ += 1, notify(SEQ); runs its own share; spins
 * (then waits on DONE in short slices) until every worker's DONE_SEQ = SEQ. Worker: spin (then
 * wait) until SEQ changes; run its share of [0, N); DONE_SEQ[t] = SEQ; DONE += 1; notify(DONE).
 * A worker that dies mid-op never writes DONE_SEQ; the watcher bumps its EPOCH and DONE, so the
 * coordinator sees the death at once instead of waiting for a share that cannot come. (A
 * replacement never writes DONE_SEQ before its first op: it could not tell the op in flight from
 * one it took part in.)
 */
import type { KernelName } from '../src/backends/wasm/kernels.js';

export const SEQ = 0;
export const DONE = 1;
export const KERNEL = 2;
export const N = 3;
export const NARGS = 4;
export const QUIT = 5;
export const ERROR = 6;
export const LIVE = 7;
export const GAVE_UP = 9;
export const FAULT = 10;
export const HELD = 11;
export const ARGS_OFFSET = 64;
export const MAX_ARGS = 32;
/** Per-worker words, after the args (bytes 64–320): from byte 512, 16 each (16 threads at most). */
export const DONE_SEQ = 128;
export const EXIT_CODE = 144;
export const EPOCH = 160;
export const CONTROL_WORDS = 176;

/** FAULT modes (tests only): worker t stops inside its next op until killed, or throws out of its serve loop there. */
export const FAULT_HOLD = 1;
export const FAULT_THROW = 2;

export const KERNEL_NAMES: readonly KernelName[] = [
  'matmul_f32', 'matmul_f16', 'matmul_q8_0', 'embed_f32', 'embed_f16', 'embed_q8_0', 'quantize_q8_0', 'f32_to_f16',
  'rmsNorm', 'gatedRmsNorm', 'add', 'conv1dCausal', 'selectiveScan', 'ssdChunkScan', 'ssdStep',
  'recurrentCell', 'ltiScan', 'glu', 'mamba3Scan',
  'rope', 'attention', 'swiglu', 'relu2',
  'widen_f16', 'matmul_f16_finite', 'f16_find_special',
  'mamba3ChunkScan',
];

/** Thread `i` of `threads` takes [start, end) of [0, n): contiguous, sizes differ by at most one. */
export function shareOf(n: number, i: number, threads: number): [number, number] {
  return [Math.floor((i * n) / threads), Math.floor(((i + 1) * n) / threads)];
}

/**
 * Polls before sleeping in Atomics.wait. A spinning thread answers in ~2 µs and a sleeping one
 * in ~26 µs, but spinning is ruinous when threads outnumber free cores (measured on 2 busy
 * cores: 500 µs per op with 20k polls, 45–90 µs with none) — so spin only briefly.
 */
export const SPIN_POLLS = 1000;

export interface WorkerInit {
  memory: WebAssembly.Memory;
  modules: { as: WebAssembly.Module; c: WebAssembly.Module };
  thread: number;
  threads: number;
  controlBase: number;
}
