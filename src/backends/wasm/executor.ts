/**
 * How a kernel call runs: on the calling thread alone, or split across the worker pool.
 * Both take the same (kernel, args, n) and must give identical results (kernels write
 * disjoint ranges, so the split changes nothing but speed).
 */
import type { KernelName, KernelTable } from './kernels.js';
import { scratchFor } from './arena.js';

/** Placeholder argument replaced by the running thread's scratch offset. */
export const SCRATCH = -1;

export interface Executor {
  readonly threads: number;
  /**
   * Run `kernel(...args, start, end)` over the work range [0, n), split among the threads.
   * `work` estimates the op's multiply-adds: below a threshold the barrier would cost more
   * than the split saves, so the calling thread does it alone.
   */
  run(kernel: KernelName, args: number[], n: number, work?: number): void;
  /**
   * The same call made ready to repeat: what `run` works out per call (the kernel, this thread's
   * arguments and share, whether to split) is worked out once; the returned function only makes
   * the call. For planned decode steps (WasmBackend.recordStep), which repeat the same calls per token.
   */
  prepare(kernel: KernelName, args: number[], n: number, work?: number): () => void;
  dispose(): Promise<void>;
}

export function withThreadArgs(args: number[], thread: number): number[] {
  return args.map((a) => (a === SCRATCH ? scratchFor(thread) : a));
}

export class SingleThreadExecutor implements Executor {
  readonly threads = 1;
  constructor(private readonly kernels: KernelTable) {}

  run(kernel: KernelName, args: number[], n: number): void {
    if (n > 0) this.kernels[kernel](...withThreadArgs(args, 0), 0, n);
  }

  prepare(kernel: KernelName, args: number[], n: number): () => void {
    const fn = this.kernels[kernel], all = [...withThreadArgs(args, 0), 0, n];
    return n > 0 ? () => fn.apply(undefined, all) : () => undefined;
  }

  async dispose(): Promise<void> {}
}
