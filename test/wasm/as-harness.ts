/**
 * Test harness for the AssemblyScript kernels (wasm/dist/kernels-as.wasm): instantiates the
 * module on a shared WebAssembly.Memory laid out as in wasm/ABI.md and moves f32 arrays in and
 * out of the arena with a bump allocator (16-byte aligned, grows the memory as needed).
 *
 * Build the module first: `npx asc --target release` (asconfig.json at the repository root).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const KIB = 1024;
/** Per-thread 64 KiB scratch regions start here (thread i at SCRATCH_BASE + i·64 KiB). */
export const SCRATCH_BASE = 1280 * KIB;
/** The arena: every tensor lives at or above this offset. */
export const ARENA_BASE = 2304 * KIB;
const PAGE = 64 * KIB;

export const scratchFor = (thread: number): number => SCRATCH_BASE + thread * 64 * KIB;

/** The module's exports (wasm/ABI.md). Pointers are byte offsets; 0 means "none". */
export interface AsKernels {
  rmsNorm(x: number, w: number, y: number, D: number, eps: number, r0: number, r1: number): void;
  gatedRmsNorm(x: number, z: number, w: number, y: number, D: number, group: number, eps: number, g0: number, g1: number): void;
  add(a: number, b: number, y: number, i0: number, i1: number): void;
  conv1dCausal(
    x: number, w: number, bias: number, state: number, y: number,
    B: number, T: number, C: number, K: number, silu: number, c0: number, c1: number,
  ): void;
  selectiveScan(
    x: number, dt: number, dtBias: number, A: number, Bm: number, Cm: number, D: number, z: number,
    state: number, y: number, B: number, T: number, I: number, N: number, c0: number, c1: number,
  ): void;
  ssdChunkScan(
    x: number, dt: number, dtBias: number, A: number, Bm: number, Cm: number, D: number, state: number, y: number,
    B: number, T: number, H: number, P: number, G: number, N: number, chunk: number, dtMin: number, dtMax: number,
    scratch: number, h0: number, h1: number,
  ): void;
  ssdStep(
    x: number, dt: number, dtBias: number, A: number, Bm: number, Cm: number, D: number, state: number, y: number,
    B: number, H: number, P: number, G: number, N: number, dtMin: number, dtMax: number, h0: number, h1: number,
  ): void;
  /** Extras (not in the ABI table): elementwise y = f(x) over [i0, i1). */
  vexp(x: number, y: number, i0: number, i1: number): void;
  vsoftplus(x: number, y: number, i0: number, i1: number): void;
  vsilu(x: number, y: number, i0: number, i1: number): void;
}

export const AS_WASM_PATH = fileURLToPath(new URL('../../wasm/dist/kernels-as.wasm', import.meta.url));

let compiled: WebAssembly.Module | null = null;
const GUARD = 0x7fc0dead; // a NaN bit pattern no kernel produces

export class AsHarness {
  private top = ARENA_BASE;
  /** [from, to) byte ranges of guard words after each block. */
  private guards: number[] = [];

  private constructor(readonly memory: WebAssembly.Memory, readonly k: AsKernels) {}

  /** A fresh shared memory (initial pages ≥ the arena base) and an instance on it. */
  static create(initialPages = 64): AsHarness {
    compiled ??= new WebAssembly.Module(readFileSync(AS_WASM_PATH));
    const memory = new WebAssembly.Memory({ initial: Math.max(initialPages, ARENA_BASE / PAGE + 1), maximum: 65536, shared: true });
    const abort = (msg: number, file: number, line: number, col: number): never => {
      throw new Error(`kernels-as abort at ${line}:${col} (msg ${msg}, file ${file})`);
    };
    const instance = new WebAssembly.Instance(compiled, { env: { memory, abort } });
    return new AsHarness(memory, instance.exports as unknown as AsKernels);
  }

  /** n floats in the arena (16-byte aligned, zero-filled), as a byte offset. */
  alloc(n: number): number {
    const off = this.top;
    this.top = off + Math.ceil((n * 4) / 16) * 16 + 16; // + 16 guard bytes (checkGuards)
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / PAGE));
    new Float32Array(this.memory.buffer, off, (this.top - off) >> 2).fill(0);
    const guard = off + n * 4; // from the block's end to the next block
    new Uint32Array(this.memory.buffer, guard, (this.top - guard) >> 2).fill(GUARD);
    this.guards.push(guard, this.top);
    return off;
  }

  /** Throws if a kernel wrote past the end of any block (into its 16–28 guard bytes). */
  checkGuards(): void {
    for (let i = 0; i < this.guards.length; i += 2) {
      const g = this.guards[i];
      const w = new Uint32Array(this.memory.buffer, g, (this.guards[i + 1] - g) >> 2);
      if (w.some((v) => v !== GUARD)) throw new Error(`guard bytes at ${g} overwritten`);
    }
  }

  /** Copies data into a new arena block; returns its byte offset. */
  put(data: Float32Array): number {
    const off = this.alloc(data.length);
    this.view(off, data.length).set(data);
    return off;
  }

  /** Overwrites n = data.length floats at off. */
  write(off: number, data: Float32Array): void {
    this.view(off, data.length).set(data);
  }

  /** A copy of n floats at off. */
  get(off: number, n: number): Float32Array {
    return Float32Array.from(this.view(off, n));
  }

  /** A live view (invalidated by a later alloc that grows the memory). */
  view(off: number, n: number): Float32Array {
    if (off < ARENA_BASE && !(off >= SCRATCH_BASE && off + n * 4 <= ARENA_BASE)) {
      throw new Error(`offset ${off} is below the arena`);
    }
    return new Float32Array(this.memory.buffer, off, n);
  }

  /** Frees every arena block. */
  reset(): void {
    this.top = ARENA_BASE;
    this.guards = [];
  }
}
