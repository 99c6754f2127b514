/**
 * The data plane between the coordinating thread and the kernel workers: a control
 * block in the shared memory (at CONTROL_BASE, wasm/ABI.md). comlink carries only the
 * control plane (init, serve, dispose); every op goes through these words.
 *
 * Int32 words (index into an Int32Array over the block):
 *   SEQ     bumped by the coordinator for each op; workers wait on it
 *   DONE    workers that finished the current op (the coordinator's share is not counted)
 *   KERNEL  index into KERNEL_NAMES
 *   N       size of the work range [0, N)
 *   NARGS   argument count
 *   QUIT    1 = leave the serve loop
 *   ERROR   0, or 1 + the thread index of a worker whose kernel threw
 * Float64 args from byte ARGS_OFFSET (f64 holds every i32 offset and f32 value exactly).
 *
 * One op: coordinator writes KERNEL/N/args, DONE = 0, SEQ += 1, notify(SEQ); runs its own
 * share; spins (then waits) until DONE = threads − 1. Worker: spin (then wait) until SEQ
 * changes; run its share of [0, N); DONE += 1; notify(DONE).
 */
import type { KernelName } from '../src/backends/wasm/kernels.js';

export const SEQ = 0;
export const DONE = 1;
export const KERNEL = 2;
export const N = 3;
export const NARGS = 4;
export const QUIT = 5;
export const ERROR = 6;
export const ARGS_OFFSET = 64;
export const MAX_ARGS = 32;

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
