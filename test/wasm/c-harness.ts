/**
 * Test harness for wasm/dist/kernels-c.wasm: instantiates the C kernels on a
 * shared WebAssembly.Memory exactly as the worker pool does (wasm/ABI.md), and
 * gives tests a bump allocator over the arena plus typed read/write helpers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const KERNELS_C_PATH = fileURLToPath(new URL('../../wasm/dist/kernels-c.wasm', import.meta.url));

/** ABI.md memory layout. */
export const STACK_REGION = 128 * 1024;
export const STACK_SIZE = 64 * 1024;
export const ARENA_START = 2304 * 1024;
const PAGE = 65536;

/** The C exports (ABI.md "Kernel signatures"); all pointers are byte offsets. */
export interface CKernels {
  matmul_f32(x: number, w: number, bias: number, y: number, rows: number, K: number, M: number, m0: number, m1: number): void;
  matmul_f16(x: number, w: number, bias: number, y: number, rows: number, K: number, M: number, m0: number, m1: number): void;
  matmul_q8_0(x: number, w: number, bias: number, y: number, rows: number, K: number, M: number, m0: number, m1: number): void;
  embed_f32(table: number, ids: number, y: number, n: number, D: number, i0: number, i1: number): void;
  embed_f16(table: number, ids: number, y: number, n: number, D: number, i0: number, i1: number): void;
  embed_q8_0(table: number, ids: number, y: number, n: number, D: number, i0: number, i1: number): void;
  quantize_q8_0(src: number, dst: number, nblocks: number, b0: number, b1: number): void;
  f32_to_f16(src: number, dst: number, n: number, i0: number, i1: number): void;
  widen_f16(src: number, dst: number, n: number, i0: number, i1: number): void;
  f16_find_special(src: number, out: number, n: number, i0: number, i1: number): void;
  matmul_f16_finite(x: number, w: number, bias: number, y: number, rows: number, K: number, M: number, m0: number, m1: number): void;
  __stack_pointer: WebAssembly.Global;
}

export class CHarness {
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly k: CKernels;
  private top = ARENA_START;

  /** thread: which per-thread stack slot this instance uses (ABI.md: 128 KiB + (i+1)·64 KiB). */
  constructor(opts: { memory?: WebAssembly.Memory; module?: WebAssembly.Module; thread?: number } = {}) {
    this.module = opts.module ?? new WebAssembly.Module(readFileSync(KERNELS_C_PATH));
    this.memory = opts.memory ?? new WebAssembly.Memory({ initial: ARENA_START / PAGE + 16, maximum: 65536, shared: true });
    // Wire imports from what the module declares, so an unexpected new import fails loudly here.
    const env: Record<string, WebAssembly.ImportValue> = {};
    for (const imp of WebAssembly.Module.imports(this.module)) {
      if (imp.module === 'env' && imp.name === 'memory' && imp.kind === 'memory') env.memory = this.memory;
      else throw new Error(`kernels-c.wasm imports ${imp.module}.${imp.name} (${imp.kind}): the harness does not provide it`);
    }
    const instance = new WebAssembly.Instance(this.module, { env });
    this.k = instance.exports as unknown as CKernels;
    this.k.__stack_pointer.value = STACK_REGION + ((opts.thread ?? 0) + 1) * STACK_SIZE;
  }

  /** 16-byte-aligned arena bytes (never freed; `reset` rewinds). Grows memory as needed. */
  alloc(bytes: number): number {
    const off = this.top;
    this.top = (off + bytes + 15) & ~15;
    const need = this.top - this.memory.buffer.byteLength;
    if (need > 0) this.memory.grow(Math.ceil(need / PAGE));
    return off;
  }

  reset(): void {
    this.top = ARENA_START;
  }

  // A fresh view per call: growing a shared memory replaces `buffer`.
  f32(off: number, n: number): Float32Array { return new Float32Array(this.memory.buffer, off, n); }
  u16(off: number, n: number): Uint16Array { return new Uint16Array(this.memory.buffer, off, n); }
  bytes(off: number, n: number): Uint8Array { return new Uint8Array(this.memory.buffer, off, n); }

  /** Copy values into fresh arena space; returns the offset. */
  putF32(data: ArrayLike<number>): number { const o = this.alloc(data.length * 4); this.f32(o, data.length).set(data); return o; }
  putU16(data: ArrayLike<number>): number { const o = this.alloc(data.length * 2); this.u16(o, data.length).set(data); return o; }
  putI32(data: ArrayLike<number>): number { const o = this.alloc(data.length * 4); new Int32Array(this.memory.buffer, o, data.length).set(data); return o; }
  putBytes(data: Uint8Array): number { const o = this.alloc(data.length); this.bytes(o, data.length).set(data); return o; }

  /** Copies (not views) of arena contents. */
  readF32(off: number, n: number): Float32Array { return Float32Array.from(this.f32(off, n)); }
  readU16(off: number, n: number): Uint16Array { return Uint16Array.from(this.u16(off, n)); }
  readBytes(off: number, n: number): Uint8Array { return Uint8Array.from(this.bytes(off, n)); }
}
