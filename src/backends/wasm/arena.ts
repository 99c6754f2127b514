/**
 * The arena: every tensor of the CPU backend lives in the one WebAssembly.Memory
 * that all kernel instances (and all worker threads) share. JavaScript owns the
 * allocation: a first-fit free list with coalescing, 16-byte aligned blocks,
 * growing the memory when nothing fits. Layout of what lies below ARENA_BASE: wasm/ABI.md.
 */
import { fail } from '../../errors.js';

export const KiB = 1024;
export const PAGE = 64 * KiB;
export const MAX_THREADS = 16;
export const STACK_BASE = 128 * KiB;
export const STACK_SIZE = 64 * KiB;
export const CONTROL_BASE = 1216 * KiB;
export const SCRATCH_BASE = 1280 * KiB;
export const SCRATCH_SIZE = 64 * KiB;
export const ARENA_BASE = 2304 * KiB;
/** 32-bit WebAssembly memories end at 4 GiB. */
export const MAX_MEMORY_BYTES = 65536 * PAGE;

export const stackTop = (thread: number) => STACK_BASE + (thread + 1) * STACK_SIZE;
export const scratchFor = (thread: number) => SCRATCH_BASE + thread * SCRATCH_SIZE;

export interface Block {
  readonly ptr: number;
  readonly size: number;
  freed: boolean;
}

const align = (n: number) => (n + 15) & ~15;

export class Arena {
  /** Free ranges sorted by address: [ptr, size]. */
  private free: Array<[number, number]> = [];
  private used = 0;
  peak = 0;

  constructor(readonly memory: WebAssembly.Memory) {
    const end = memory.buffer.byteLength;
    if (end > ARENA_BASE) this.free.push([ARENA_BASE, end - ARENA_BASE]);
  }

  get bytesInUse(): number {
    return this.used;
  }

  alloc(bytes: number, what = 'tensor'): Block {
    const size = align(Math.max(bytes, 16));
    let i = this.free.findIndex(([, s]) => s >= size);
    if (i < 0) {
      this.grow(size, what);
      i = this.free.findIndex(([, s]) => s >= size);
    }
    const [ptr, s] = this.free[i];
    if (s === size) this.free.splice(i, 1);
    else this.free[i] = [ptr + size, s - size];
    this.used += size;
    this.peak = Math.max(this.peak, this.used);
    return { ptr, size, freed: false };
  }

  release(block: Block): void {
    if (block.freed) return;
    block.freed = true;
    this.used -= block.size;
    let i = this.free.findIndex(([p]) => p > block.ptr);
    if (i < 0) i = this.free.length;
    this.free.splice(i, 0, [block.ptr, block.size]);
    // Coalesce with the next, then the previous neighbour.
    if (i + 1 < this.free.length && this.free[i][0] + this.free[i][1] === this.free[i + 1][0]) {
      this.free[i][1] += this.free[i + 1][1];
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1][0] + this.free[i - 1][1] === this.free[i][0]) {
      this.free[i - 1][1] += this.free[i][1];
      this.free.splice(i, 1);
    }
  }

  private grow(size: number, what: string): void {
    const oldEnd = this.memory.buffer.byteLength;
    const last = this.free[this.free.length - 1];
    const tailFree = last && last[0] + last[1] === oldEnd ? last[1] : 0;
    const need = size - tailFree;
    // Grow by at least a quarter of the current size: fewer grows, fewer buffer re-views.
    const wantBytes = Math.max(need, Math.floor(oldEnd / 4));
    let pages = Math.ceil(wantBytes / PAGE);
    const maxPages = MAX_MEMORY_BYTES / PAGE - oldEnd / PAGE;
    if (Math.ceil(need / PAGE) > maxPages) {
      throw fail('E_MEMORY', `the wasm backend cannot allocate ${size} bytes for ${what}: WebAssembly memory is limited to 4 GiB and ${this.used} bytes are in use; load the model with dtype: 'f16' or 'q8_0' to halve or quarter the weights`, { field: 'dtype' });
    }
    pages = Math.min(pages, maxPages);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw fail('E_MEMORY', `the wasm backend could not grow its memory by ${pages * PAGE} bytes for ${what} (${this.used} bytes in use): ${(e as Error).message}`, { cause: e });
    }
    const newEnd = oldEnd + pages * PAGE;
    if (tailFree) last[1] += newEnd - oldEnd;
    else this.free.push([oldEnd, newEnd - oldEnd]);
  }
}
