/**
 * The CPU backend: WebAssembly SIMD kernels (wasm/ABI.md) over one memory shared by
 * every thread. This file maps the Backend ops onto kernel calls; it knows nothing of
 * how the calls are split (executor.ts) or where the kernels came from (kernels.ts).
 */
import type { BackendInfo } from '../../api/types.js';
import { fail } from '../../errors.js';
import {
  OP_NAMES, numel,
  type Backend, type Conv1dArgs, type LtiScanArgs, type OpName, type RecurrentCell, type RecurrentScanArgs, type SelectiveScanArgs,
  type SsdScanArgs, type RecordedStep, type Tensor, type WeightDType, type Mamba3ScanArgs,
} from '../backend.js';
import {
  checkConv1d, checkLtiScan, checkMatmul, checkRecurrentScan, checkRowWeight, checkSameShape, checkSelectiveScan, checkSsdScan,
  checkMamba3Scan, type Mamba3Dims,
  checkAttention, checkKvData, checkMoe, checkOneToken, checkRope,
} from '../shape-checks.js';
import { grownCapacity, Q8_BLOCK, storedDType, type AttentionArgs, type KvCache, type MoeArgs, type RopeArgs } from '../backend.js';
import { routeTopK, ropeTables } from '../attention-math.js';
import { Arena, ARENA_BASE, MAX_MEMORY_BYTES, PAGE, SCRATCH_SIZE, type Block } from './arena.js';
import type { Executor } from './executor.js';
import type { KernelName } from './kernels.js';
import { SCRATCH } from './executor.js';

class WasmTensor implements Tensor {
  constructor(
    readonly shape: readonly number[],
    readonly dtype: WeightDType,
    readonly ptr: number,
    /** The allocation this tensor (or view) lives in; freeing any view frees it. */
    readonly block: Block,
    /** f16 weights checked at upload to hold no Inf/NaN: matmuls use matmul_f16_finite. */
    public finiteF16 = false,
  ) {}
}

/** K and V blocks [B, Hkv, capacity, Dh] in the arena; growth copies the held rows once into doubled blocks. */
class WasmKvCache implements KvCache {
  length = 0;
  constructor(
    readonly batch: number, readonly kvHeads: number, readonly headDim: number,
    public capacity: number, readonly maxTokens: number, public k: WasmTensor, public v: WasmTensor,
  ) {}
}

/**
 * What `recordStep` collects while the graph's step is recorded (nothing runs meanwhile): every
 * kernel call made ready to repeat (Executor.prepare) or host copy, in order; the blocks the step
 * allocated, which the recording keeps (a free while recording is deferred to its release, so every
 * activation keeps its address and no later allocation can take it); where the token ids go.
 */
interface Recording {
  calls: (() => void)[];
  blocks: Set<Block>;
  /** Byte offset of the ids `embedding` reads, or −1; their count; the vocabulary they index. */
  input: number;
  count: number;
  vocab: number;
}

/** Thrown inside a recorded step by an op whose calls depend on more than the ids: the recording is dropped. */
class NotRecordable extends Error {}

const SUPPORTED: ReadonlySet<OpName> = new Set(OP_NAMES);
/** `recurrentCell`'s cell argument (wasm/ABI.md). */
const CELL_CODE: Record<RecurrentCell, number> = { rnn_tanh: 0, rnn_relu: 1, lstm: 2, gru: 3 };
const Q8_BYTES = 34;
/** Values per piece when uploads are converted in wasm (a multiple of the q8_0 block): 4 MiB of f32. */
const STAGE_VALUES = 1 << 20;

export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly info: BackendInfo;
  readonly capacityBytes = MAX_MEMORY_BYTES - ARENA_BASE;
  private readonly arena: Arena;
  private rec: Recording | null = null;
  /** Whether `recordStep` records (tests and benchmarks compare recorded and op-by-op decode). */
  planSteps = true;

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly exec: Executor,
    info: Omit<BackendInfo, 'name'>,
  ) {
    this.arena = new Arena(memory);
    this.info = { name: 'wasm', ...info };
  }

  supportsOp(op: OpName): boolean {
    return SUPPORTED.has(op);
  }

  supportsDType(dtype: WeightDType): boolean {
    return dtype === 'f32' || dtype === 'f16' || dtype === 'q8_0';
  }

  /** Peak bytes of the arena so far (weights + state + activations). */
  get peakBytes(): number {
    return this.arena.peak;
  }

  // ---- buffers -------------------------------------------------------------

  bytesFor(shape: readonly number[], dtype: WeightDType): number {
    const n = numel(shape);
    switch (storedDType(shape, dtype)) {
      case 'f32': return n * 4;
      case 'f16': return n * 2;
      case 'q8_0': return (n / Q8_BLOCK) * Q8_BYTES;
      default: throw fail('E_DTYPE', `the wasm backend does not store ${dtype} weights`);
    }
  }

  private f32View(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  private allocTensor(shape: readonly number[], dtype: WeightDType = 'f32'): WasmTensor {
    const block = this.alloc(this.bytesFor(shape, dtype), `a [${shape}] ${dtype} tensor`);
    return new WasmTensor([...shape], dtype, block.ptr, block);
  }

  upload(data: Float32Array, shape: readonly number[], requested: WeightDType = 'f32'): Tensor {
    const n = numel(shape);
    if (data.length !== n) throw fail('E_SHAPE', `upload: ${data.length} values for shape [${shape}]`);
    return this.uploadFrom(shape, requested, (start, count) => data.subarray(start, start + count));
  }

  /**
   * f32: each piece is copied into the tensor. f16 / q8_0: each piece is copied into a stage and
   * converted from there, so neither the caller nor the arena ever holds the f32 tensor. (Views of
   * the memory are taken after `piece` returns: it may grow, and a plain memory's old views die.)
   */
  uploadFrom(shape: readonly number[], requested: WeightDType, piece: (start: number, count: number) => Float32Array): Tensor {
    this.unplannable('upload');
    const n = numel(shape);
    const dtype = storedDType(shape, requested);
    if (dtype === 'f32') {
      const t = this.allocTensor(shape);
      for (let i = 0; i < n; i += STAGE_VALUES) {
        const m = Math.min(STAGE_VALUES, n - i), values = piece(i, m);
        this.f32View(t.ptr + i * 4, m).set(values);
      }
      return t;
    }
    // Convert inside wasm: stage the f32 values piece by piece (whole q8_0 blocks), convert each
    // piece in parallel, drop the stage. Pieces, not the whole tensor: the memory never shrinks, so
    // a whole-tensor stage (154 MB for a 130M model's embedding) would stay resident for good.
    if (dtype !== 'f16' && dtype !== 'q8_0') throw fail('E_DTYPE', `the wasm backend does not store ${dtype} weights`);
    const t = this.allocTensor(shape, dtype);
    const size = Math.min(n, STAGE_VALUES);
    const stage = this.arena.alloc(size * 4, 'upload staging');
    try {
      for (let i = 0; i < n; i += size) {
        const m = Math.min(size, n - i);
        const values = piece(i, m);
        this.f32View(stage.ptr, m).set(values);
        if (dtype === 'f16') this.exec.run('f32_to_f16', [stage.ptr, t.ptr + i * 2, m], m, m);
        else this.exec.run('quantize_q8_0', [stage.ptr, t.ptr + (i / Q8_BLOCK) * Q8_BYTES, m / Q8_BLOCK], m / Q8_BLOCK, m);
      }
    } finally {
      this.arena.release(stage);
    }
    if (dtype === 'f16') {
      const flag = this.arena.alloc(16, 'f16 check');
      this.exec.run('f16_find_special', [t.ptr, flag.ptr, n], 1);
      t.finiteF16 = new Int32Array(this.memory.buffer, flag.ptr, 1)[0] === 0;
      this.arena.release(flag);
    }
    return t;
  }

  /** GGUF q8_0 blocks are exactly this backend's q8_0 layout (wasm/ABI.md): copied as they are. */
  uploadEncoded(bytes: Uint8Array, shape: readonly number[], dtype: WeightDType): Tensor | null {
    this.unplannable('uploadEncoded');
    if (dtype !== 'q8_0' || storedDType(shape, dtype) !== 'q8_0') return null;
    const size = this.bytesFor(shape, dtype);
    if (bytes.byteLength !== size) throw fail('E_SHAPE', `uploadEncoded: ${bytes.byteLength} bytes for a [${shape}] q8_0 tensor, expected ${size}`);
    const t = this.allocTensor(shape, dtype);
    new Uint8Array(this.memory.buffer, t.ptr, size).set(bytes);
    return t;
  }

  /** In chunks of 1M values through one 6 MiB staging block, so the arena does not grow by the tensor's size. Into `out` when given (bits.length values). */
  widenF16(bits: Uint16Array, into?: Float32Array): Float32Array {
    const n = bits.length, chunk = Math.min(n, 1 << 20);
    if (into && into.length !== n) throw fail('E_SHAPE', `widenF16: ${n} halves into ${into.length} values`);
    const out = into ?? new Float32Array(n);
    if (n === 0) return out;
    const stage = this.arena.alloc(chunk * 6 + 16, 'f16 staging');
    const src = stage.ptr, dstAligned = (stage.ptr + chunk * 2 + 15) & ~15; // f32 after the halves, 16-byte aligned
    try {
      for (let i = 0; i < n; i += chunk) {
        const m = Math.min(chunk, n - i);
        new Uint16Array(this.memory.buffer, src, m).set(bits.subarray(i, i + m));
        this.exec.run('widen_f16', [src, dstAligned, m], m, m);
        out.set(this.f32View(dstAligned, m), i);
      }
    } finally {
      this.arena.release(stage);
    }
    return out;
  }

  zeros(shape: readonly number[]): Tensor {
    this.unplannable('zeros');
    const t = this.allocTensor(shape);
    this.f32View(t.ptr, numel(shape)).fill(0);
    return t;
  }

  write(t: Tensor, data: Float32Array): void {
    this.unplannable('write');
    const wt = this.f32(t);
    if (data.length !== numel(t.shape)) throw fail('E_SHAPE', `write: ${data.length} values into [${t.shape}]`);
    this.f32View(wt.ptr, data.length).set(data);
  }

  async read(t: Tensor): Promise<Float32Array> {
    const wt = this.f32(t);
    return this.f32View(wt.ptr, numel(t.shape)).slice();
  }

  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const wt = t as WasmTensor;
    if (numel(shape) !== numel(wt.shape)) throw fail('E_SHAPE', `reshape [${wt.shape}] → [${shape}] changes the element count`);
    return new WasmTensor([...shape], wt.dtype, wt.ptr, wt.block, wt.finiteF16);
  }

  sliceRows(t: Tensor, start: number, count: number): Tensor {
    const wt = this.f32(t);
    const rows = wt.shape[0];
    if (start < 0 || count < 0 || start + count > rows) throw fail('E_SHAPE', `sliceRows ${start}+${count} of ${rows}`);
    const inner = numel(wt.shape.slice(1));
    const out = this.allocTensor([count, ...wt.shape.slice(1)]);
    const dst = out.ptr, from = wt.ptr + start * inner * 4, to = wt.ptr + (start + count) * inner * 4;
    const copy = () => { new Uint8Array(this.memory.buffer).copyWithin(dst, from, to); };
    if (this.rec) this.rec.calls.push(copy);
    else copy();
    return out;
  }

  free(...ts: (Tensor | null | undefined)[]): void {
    for (const t of ts) if (t) this.release((t as WasmTensor).block);
  }

  async dispose(): Promise<void> {
    await this.exec.dispose();
  }

  private f32(t: Tensor): WasmTensor {
    if (t.dtype !== 'f32') throw fail('E_DTYPE', `expected an f32 tensor, got ${t.dtype}`);
    return t as WasmTensor;
  }

  private ptr(t: Tensor | null | undefined): number {
    return t ? (t as WasmTensor).ptr : 0;
  }


  // ---- recording (planned decode steps) ------------------------------------

  /** Arena allocation; while a step is recorded the block belongs to the recording. */
  private alloc(bytes: number, what: string): Block {
    const block = this.arena.alloc(bytes, what);
    this.rec?.blocks.add(block);
    return block;
  }

  private release(block: Block): void {
    if (!this.rec?.blocks.has(block)) this.arena.release(block);
  }

  /** A kernel call; while a step is recorded, kept ready to repeat instead of run. */
  private run(kernel: KernelName, args: number[], n: number, work?: number): void {
    if (this.rec) this.rec.calls.push(this.exec.prepare(kernel, args, n, work));
    else this.exec.run(kernel, args, n, work);
  }

  /** While a step is recorded: `what` depends on more than the ids (or writes host data), so the recording is dropped. */
  private unplannable(what: string): void {
    if (this.rec) throw new NotRecordable(what);
  }

  /**
   * Records the kernel calls `body` makes, running none of them, with their arguments resolved;
   * `run` repeats them for new ids with no graph, op methods, shape checks, allocation or argument
   * arrays in between — the same kernels on the same buffers in the same order as the graph would
   * make, so the same results bit for bit. Recordable steps make exactly one `embedding` lookup and
   * only ops whose calls are fixed by the weights and shapes: attention (its position moves), MoE
   * (routed on the host), the recurrent cells (host-side copies of h), uploads and host writes make
   * it return null, having run nothing.
   */
  recordStep(ids: Int32Array, body: (ids: Int32Array) => Tensor): RecordedStep | null {
    if (!this.planSteps) return null;
    if (this.rec) throw fail('E_BACKEND', 'recordStep: a step is already being recorded');
    const rec: Recording = { calls: [], blocks: new Set(), input: -1, count: 0, vocab: 0 };
    this.rec = rec;
    let out: WasmTensor;
    try {
      out = body(ids) as WasmTensor;
    } catch (e) {
      for (const b of rec.blocks) this.arena.release(b);
      if (e instanceof NotRecordable) return null;
      throw e;
    } finally {
      this.rec = null;
    }
    if (rec.input < 0 || !rec.blocks.has(out.block)) {
      for (const b of rec.blocks) this.arena.release(b);
      return null;
    }
    const { calls, input, count, vocab } = rec;
    const blocks = [...rec.blocks];
    let live = true;
    return {
      ops: calls.length,
      run: (next: Int32Array): Tensor => {
        if (!live) throw fail('E_BACKEND', 'this recorded decode step has been released');
        if (next.length !== count) throw fail('E_ARGUMENT', `a recorded step of ${count} token(s) run with ${next.length}`);
        for (const id of next) if (!(id >= 0 && id < vocab)) throw fail('E_TOKEN', `token id ${id} is outside the vocabulary [0, ${vocab})`);
        new Int32Array(this.memory.buffer, input, count).set(next);
        for (let i = 0; i < calls.length; i++) calls[i]();
        return out;
      },
      release: () => {
        if (!live) return;
        live = false;
        for (const b of blocks) this.arena.release(b);
      },
    };
  }

  /** Rows [start, start+count) of the outer dimension, sharing t's memory (and block: free t, not the view). */
  rowView(t: Tensor, start: number, count: number): Tensor {
    const wt = t as WasmTensor;
    const rows = wt.shape[0], inner = wt.shape.slice(1);
    if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 0 && start + count <= rows)) {
      throw fail('E_SHAPE', `rowView ${start}+${count} of ${rows} rows`);
    }
    if (storedDType(wt.shape, wt.dtype) !== wt.dtype) throw fail('E_DTYPE', `rowView of a ${wt.dtype} tensor stored as ${storedDType(wt.shape, wt.dtype)}`);
    const rowBytes = this.bytesFor([1, ...inner], wt.dtype);
    return new WasmTensor([count, ...inner], wt.dtype, wt.ptr + start * rowBytes, wt.block, wt.finiteF16);
  }

  // ---- ops -----------------------------------------------------------------

  embedding(table: Tensor, ids: Int32Array): Tensor {
    const [vocab, dim] = table.shape;
    for (const id of ids) if (id < 0 || id >= vocab) throw fail('E_TOKEN', `token id ${id} is outside the vocabulary [0, ${vocab})`);
    const idBlock = this.alloc(ids.length * 4, 'token ids');
    new Int32Array(this.memory.buffer, idBlock.ptr, ids.length).set(ids);
    const rec = this.rec;
    if (rec) {
      if (rec.input >= 0) this.unplannable('a second embedding lookup in one step');
      [rec.input, rec.count, rec.vocab] = [idBlock.ptr, ids.length, vocab];
    }
    const out = this.allocTensor([ids.length, dim]);
    const kernel = table.dtype === 'f32' ? 'embed_f32' : table.dtype === 'f16' ? 'embed_f16' : 'embed_q8_0';
    this.run(kernel, [this.ptr(table), idBlock.ptr, out.ptr, ids.length, dim], ids.length, ids.length * dim);
    this.release(idBlock);
    return out;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const dim = checkRowWeight('rmsNorm', x, weight);
    const out = this.allocTensor(x.shape);
    const rows = numel(x.shape) / dim;
    this.run('rmsNorm', [this.ptr(x), this.ptr(weight), out.ptr, dim, eps], rows, 2 * rows * dim);
    return out;
  }

  gatedRmsNorm(x: Tensor, gate: Tensor, weight: Tensor, eps: number, groupSize: number): Tensor {
    const dim = checkRowWeight('gatedRmsNorm', x, weight);
    checkSameShape('gatedRmsNorm', x, gate);
    if (groupSize <= 0 || dim % groupSize !== 0) throw fail('E_SHAPE', `gatedRmsNorm: group size ${groupSize} does not divide ${dim}`);
    const out = this.allocTensor(x.shape);
    const groups = numel(x.shape) / groupSize;
    this.run('gatedRmsNorm', [this.ptr(x), this.ptr(gate), this.ptr(weight), out.ptr, dim, groupSize, eps], groups, 8 * groups * groupSize);
    return out;
  }

  matmul(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
    const { rows, inner, outCols } = checkMatmul(x, w, bias);
    const out = this.allocTensor([...x.shape.slice(0, -1), outCols]);
    const kernel = this.matmulKernel(w);
    this.run(kernel, [this.ptr(x), this.ptr(w), this.ptr(bias), out.ptr, rows, inner, outCols], outCols, rows * inner * outCols);
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    checkSameShape('add', a, b);
    const out = this.allocTensor(a.shape);
    const n = numel(a.shape);
    this.run('add', [this.ptr(a), this.ptr(b), out.ptr], n, n);
    return out;
  }

  conv1dCausal(args: Conv1dArgs): Tensor {
    const { batch, seq, channels, kernel } = checkConv1d(args);
    const out = this.allocTensor(args.x.shape);
    this.run('conv1dCausal', [
      this.ptr(args.x), this.ptr(args.weight), this.ptr(args.bias), this.ptr(args.state), out.ptr,
      batch, seq, channels, kernel, args.silu ? 1 : 0,
    ], batch * channels, batch * seq * channels * kernel);
    return out;
  }

  conv1dCausalStep(args: Conv1dArgs): Tensor {
    checkOneToken('conv1dCausalStep', args.x.shape[1]);
    return this.conv1dCausal(args);
  }

  selectiveScan(a: SelectiveScanArgs): Tensor {
    const { batch, seq, inner, stateSize } = checkSelectiveScan(a);
    const out = this.allocTensor([batch, seq, inner]);
    this.run('selectiveScan', [
      this.ptr(a.x), this.ptr(a.dt), this.ptr(a.dtBias), this.ptr(a.A), this.ptr(a.B), this.ptr(a.C), this.ptr(a.D), this.ptr(a.z),
      this.ptr(a.state), out.ptr, batch, seq, inner, stateSize,
    ], batch * inner, 8 * batch * seq * inner * stateSize);
    return out;
  }

  selectiveScanStep(a: SelectiveScanArgs): Tensor {
    checkOneToken('selectiveScanStep', a.x.shape[1]);
    return this.selectiveScan(a);
  }

  ssdChunkScan(a: SsdScanArgs): Tensor {
    const { batch, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G } = checkSsdScan(a);
    const out = this.allocTensor([batch, seq, H * P]);
    this.run('ssdChunkScan', [
      this.ptr(a.x), this.ptr(a.dt), this.ptr(a.dtBias), this.ptr(a.A), this.ptr(a.B), this.ptr(a.C), this.ptr(a.D),
      this.ptr(a.state), out.ptr, batch, seq, H, P, G, N, Math.max(1, a.chunkSize), a.dtMin, a.dtMax, SCRATCH,
    ], batch * H, 4 * batch * seq * H * P * N);
    return out;
  }

  ssdStep(a: SsdScanArgs): Tensor {
    const { batch, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G } = checkSsdScan(a);
    checkOneToken('ssdStep', seq);
    const out = this.allocTensor([batch, 1, H * P]);
    this.run('ssdStep', [
      this.ptr(a.x), this.ptr(a.dt), this.ptr(a.dtBias), this.ptr(a.A), this.ptr(a.B), this.ptr(a.C), this.ptr(a.D),
      this.ptr(a.state), out.ptr, batch, H, P, G, N, a.dtMin, a.dtMax,
    ], batch * H, 3 * batch * H * P * N);
    return out;
  }

  /**
   * The time loop runs here, three kernel calls per token: the hidden-to-hidden product
   * gates = W_hh·h + b_hh (the matmul kernel of W_hh's dtype, split over gate rows), the
   * pointwise cell (`recurrentCell`, split over units), and for an LSTM with proj_size the
   * projection h = W_hr·h̃. h is double-buffered (the state tensor and one scratch [B, R]), so
   * no step overwrites what another thread still reads; each step's h is copied into y.
   */
  recurrentScan(a: RecurrentScanArgs): Tensor {
    const { batch: B, seq: T, hidden: H, out: R, gates: G } = checkRecurrentScan(a);
    this.unplannable('recurrentScan (host-side copies of h)');
    const GH = G * H;
    const y = this.allocTensor([B, T, R]);
    const gates = this.allocTensor([B, GH]);
    const spare = this.allocTensor([B, R]);
    const hTilde = a.wHR ? this.allocTensor([B, H]) : null;
    const kHH = this.matmulKernel(a.wHH), kHR = a.wHR ? this.matmulKernel(a.wHR) : null;
    const cell = CELL_CODE[a.cell];
    const rowBytes = R * 4;
    let cur = this.ptr(a.h), next = spare.ptr;
    for (let t = 0; t < T; t++) {
      this.run(kHH, [cur, this.ptr(a.wHH), this.ptr(a.bHH), gates.ptr, B, R, GH], GH, B * R * GH);
      this.run('recurrentCell', [
        this.ptr(a.xg) + t * GH * 4, T * GH * 4, gates.ptr, cur, this.ptr(a.c), hTilde ? hTilde.ptr : next, H, cell,
      ], B * H, 16 * B * H);
      if (hTilde) this.run(kHR!, [hTilde.ptr, this.ptr(a.wHR), 0, next, B, H, R], R, B * H * R);
      const bytes = new Uint8Array(this.memory.buffer);
      for (let b = 0; b < B; b++) bytes.copyWithin(y.ptr + (b * T + t) * rowBytes, next + b * rowBytes, next + (b + 1) * rowBytes);
      [cur, next] = [next, cur];
    }
    if (cur !== this.ptr(a.h)) new Uint8Array(this.memory.buffer).copyWithin(this.ptr(a.h), cur, cur + B * rowBytes);
    this.free(gates, spare, hTilde);
    return y;
  }

  private matmulKernel(w: Tensor): 'matmul_f32' | 'matmul_f16' | 'matmul_f16_finite' | 'matmul_q8_0' {
    if (w.dtype === 'f16' && (w as WasmTensor).finiteF16) return 'matmul_f16_finite';
    if (w.dtype === 'f32' || w.dtype === 'f16' || w.dtype === 'q8_0') return `matmul_${w.dtype}`;
    throw fail('E_DTYPE', `the wasm backend has no matmul for ${w.dtype} weights`);
  }

  recurrentScanStep(a: RecurrentScanArgs): Tensor {
    checkOneToken('recurrentScanStep', a.xg.shape[1]);
    return this.recurrentScan(a);
  }

  ltiScan(a: LtiScanArgs): Tensor {
    const { batch, seq, channels: H, modes: M } = checkLtiScan(a);
    const out = this.allocTensor([batch, seq, H]);
    this.run('ltiScan', [
      this.ptr(a.x), this.ptr(a.dA), this.ptr(a.C), this.ptr(a.D), this.ptr(a.state), out.ptr, batch, seq, H, M, a.gelu ? 1 : 0,
    ], batch * H, 8 * batch * seq * H * M);
    return out;
  }

  ltiScanStep(a: LtiScanArgs): Tensor {
    checkOneToken('ltiScanStep', a.x.shape[1]);
    return this.ltiScan(a);
  }

  glu(a: Tensor, gate: Tensor): Tensor {
    checkSameShape('glu', a, gate);
    const out = this.allocTensor(a.shape);
    const n = numel(a.shape);
    this.run('glu', [this.ptr(a), this.ptr(gate), out.ptr], n, 4 * n);
    return out;
  }

  /**
   * How `mamba3Scan` (prefill) runs: 'chunked' (`mamba3ChunkScan`, wasm/as/mamba3-chunk.ts: chunk-local
   * matrix products plus one state pass per block) or 'recurrent' (`mamba3Scan`, wasm/as/mamba3.ts: the
   * step recurrence token by token, which decode always uses). Both compute the same op; the switch is
   * for benchmarks and tests (bench/mamba3-prefill.ts). 'chunked' falls back to the recurrence where not
   * even a one-token block fits the thread's scratch.
   */
  mamba3Prefill: 'chunked' | 'recurrent' = 'chunked';

  /**
   * Mamba-3: the 21 tensor pointers go in a small i32 table in the arena (the pool passes at most 32
   * arguments per call); the kernels split the work over heads b·H + h.
   */
  mamba3Scan(a: Mamba3ScanArgs): Tensor {
    const d = checkMamba3Scan(a);
    const block = this.mamba3Prefill === 'chunked' ? mamba3Block(Math.max(1, Math.floor(a.chunkSize)), d.rank, d.stateSize, d.headDim, d.angles) : 0;
    return this.mamba3Run(a, d, block);
  }

  mamba3Step(a: Mamba3ScanArgs): Tensor {
    const d = checkMamba3Scan(a);
    checkOneToken('mamba3Step', d.seq);
    return this.mamba3Run(a, d, 0);
  }

  /** `block` > 0: the chunked kernel with blocks of that many tokens; 0: the recurrence. */
  private mamba3Run(a: Mamba3ScanArgs, d: Mamba3Dims, block: number): Tensor {
    const { batch, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G, rank: R, angles: S } = d;
    if (block === 0) {
      const scratchBytes = (2 * R * N + 3 * R * P + 2 * S) * 4 + 16 + 32 * R; // wasm/as/mamba3.ts's layout
      if (scratchBytes > SCRATCH_SIZE) {
        throw fail('E_SHAPE', `mamba3Scan: mimo_rank ${R} with state_size ${N} and head_dim ${P} needs ${scratchBytes} bytes of per-thread scratch, more than ${SCRATCH_SIZE}`);
      }
    }
    const out = this.allocTensor([batch, seq, H * P]);
    const pointers = [
      a.x, a.z, a.B, a.C, a.ddDt, a.ddA, a.trap, a.angles, a.dtBias, a.BBias, a.CBias, a.D,
      a.mimo?.x, a.mimo?.z, a.mimo?.o, a.normWeight, a.angleState, a.ssmState, a.kState, a.vState, out,
    ].map((t) => this.ptr(t && this.f32(t)));
    const table = this.alloc(pointers.length * 4, 'mamba3 pointer table');
    new Int32Array(this.memory.buffer, table.ptr, pointers.length).set(pointers);
    const common = [table.ptr, batch, seq, H, P, N, G, R, S, a.pairing === 'halves' ? 1 : 0, a.aFloor, a.normEps];
    if (block > 0) {
      // multiply-adds per token: the carry product and the state pass (R·P·N each), half a block of q·k and M·v
      const work = batch * seq * H * (2 * R * P * N + (block * R * R * (N + P)) / 2);
      this.run('mamba3ChunkScan', [...common, block, SCRATCH], batch * H, work);
    } else {
      this.run('mamba3Scan', [...common, SCRATCH], batch * H, 4 * batch * seq * H * P * N * R);
    }
    this.release(table);
    return out;
  }

  // ---- attention family ----------------------------------------------------------

  createKvCache(batch: number, kvHeads: number, headDim: number, opts: { maxTokens?: number; capacity?: number } = {}): KvCache {
    this.unplannable('createKvCache');
    const maxTokens = opts.maxTokens ?? Infinity;
    const cap = Math.min(opts.capacity ?? 0, maxTokens);
    const shape = [batch, kvHeads, Math.max(cap, 0), headDim];
    return new WasmKvCache(batch, kvHeads, headDim, cap, maxTokens, this.allocTensor(shape), this.allocTensor(shape));
  }

  /** Room for `needed` tokens: new blocks of the grown capacity, each (b, g) row run copied once. */
  private reserve(c: WasmKvCache, needed: number): void {
    if (needed <= c.capacity) return;
    const cap = grownCapacity(c.capacity, needed, c.maxTokens);
    const { batch: B, kvHeads: G, headDim: Dh } = c;
    const rowBytes = Dh * 4;
    for (const which of ['k', 'v'] as const) {
      const old = c[which];
      const next = this.allocTensor([B, G, cap, Dh]);
      const bytes = new Uint8Array(this.memory.buffer);
      for (let bg = 0; bg < B * G; bg++) {
        bytes.copyWithin(next.ptr + bg * cap * rowBytes, old.ptr + bg * c.capacity * rowBytes, old.ptr + (bg * c.capacity + c.length) * rowBytes);
      }
      this.free(old);
      c[which] = next;
    }
    c.capacity = cap;
  }

  async readKvCache(cache: KvCache): Promise<{ k: Float32Array; v: Float32Array }> {
    const c = cache as WasmKvCache;
    const { batch: B, kvHeads: G, headDim: Dh, length: L, capacity: cap } = c;
    const out = { k: new Float32Array(B * G * L * Dh), v: new Float32Array(B * G * L * Dh) };
    for (const which of ['k', 'v'] as const) {
      const all = this.f32View(c[which].ptr, B * G * cap * Dh);
      for (let bg = 0; bg < B * G; bg++) out[which].set(all.subarray(bg * cap * Dh, (bg * cap + L) * Dh), bg * L * Dh);
    }
    return out;
  }

  writeKvCache(cache: KvCache, k: Float32Array, v: Float32Array, length: number): void {
    this.unplannable('writeKvCache');
    const c = cache as WasmKvCache;
    checkKvData(c, k, v, length);
    c.length = 0;
    this.reserve(c, length);
    const { batch: B, kvHeads: G, headDim: Dh, capacity: cap } = c;
    for (const [which, data] of [['k', k], ['v', v]] as const) {
      const all = this.f32View(c[which].ptr, B * G * cap * Dh);
      for (let bg = 0; bg < B * G; bg++) all.set(data.subarray(bg * length * Dh, (bg + 1) * length * Dh), bg * cap * Dh);
    }
    c.length = length;
  }

  truncateKvCache(cache: KvCache, length: number): void {
    const c = cache as WasmKvCache;
    if (!Number.isInteger(length) || length < 0 || length > c.length) throw fail('E_ARGUMENT', `truncateKvCache: ${length} is not in [0, ${c.length}]`);
    c.length = length;
  }

  freeKvCache(cache: KvCache): void {
    const c = cache as WasmKvCache;
    this.free(c.k, c.v);
  }

  kvCacheBytes(batch: number, kvHeads: number, headDim: number, capacity: number): number {
    return 2 * 4 * batch * kvHeads * capacity * headDim;
  }

  rope(a: RopeArgs): Tensor {
    this.unplannable('rope (the position moves every token)');
    const { rows, pairs: R } = checkRope(a);
    const [, T] = a.x.shape;
    const { cos, sin } = ropeTables(a.invFreq, a.position, T);
    const cosT = this.upload(cos, [cos.length]) as WasmTensor;
    const sinT = this.upload(sin, [sin.length]) as WasmTensor;
    const out = this.allocTensor(a.x.shape);
    this.run('rope', [this.ptr(a.x), out.ptr, cosT.ptr, sinT.ptr, T, a.numHeads, a.headDim, R], rows, 6 * rows * a.headDim);
    this.free(cosT, sinT);
    return out;
  }

  attention(a: AttentionArgs): Tensor {
    this.unplannable('attention (the cache grows every token)');
    const { batch: B, seq: T, past: P } = checkAttention(a);
    const { numHeads: H, numKvHeads: G, headDim: Dh } = a;
    const c = a.cache as WasmKvCache;
    this.reserve(c, P + T);
    const cap = c.capacity, rowBytes = Dh * 4;
    const bytes = new Uint8Array(this.memory.buffer);
    // Append this call's k, v rows ([B, T, G, Dh]) at positions P..P+T−1 of each (b, g) run.
    for (const [src, dst] of [[a.k as WasmTensor, c.k], [a.v as WasmTensor, c.v]] as const) {
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          for (let g = 0; g < G; g++) {
            const from = src.ptr + ((b * T + t) * G + g) * rowBytes;
            bytes.copyWithin(dst.ptr + ((b * G + g) * cap + P + t) * rowBytes, from, from + rowBytes);
          }
        }
      }
    }
    c.length = P + T;
    const out = this.allocTensor([B, T, H * Dh]);
    const rows = B * T * H;
    this.run('attention', [
      this.ptr(a.q), c.k.ptr, c.v.ptr, out.ptr, T, H, G, Dh, cap, P, a.scale, SCRATCH,
    ], rows, 4 * rows * (P + T) * Dh);
    return out;
  }

  attentionStep(a: AttentionArgs): Tensor {
    if (a.q.shape[1] !== 1) throw fail('E_SHAPE', `attentionStep takes one token, got T=${a.q.shape[1]}`);
    return this.attention(a);
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    checkSameShape('swiglu', gate, up);
    const out = this.allocTensor(gate.shape);
    const n = numel(gate.shape);
    this.run('swiglu', [this.ptr(gate), this.ptr(up), out.ptr], n, 4 * n);
    return out;
  }

  relu2(x: Tensor): Tensor {
    const out = this.allocTensor(x.shape);
    const n = numel(x.shape);
    this.run('relu2', [this.ptr(x), out.ptr], n, n);
    return out;
  }

  /**
   * Router logits by the matmul kernel, routing on the host (the shared arithmetic of
   * attention-math.ts: a few numbers per token, read straight from the shared memory), then per
   * expert its tokens gathered into one block and run through gate/up/down as three matmuls, the
   * weighted rows added back in token order.
   */
  mixtureOfExperts(a: MoeArgs): Tensor {
    this.unplannable('mixtureOfExperts (routed on the host)');
    const { rows, dim: D, experts: E } = checkMoe(a);
    const x2 = this.reshape(a.x, [rows, D]) as WasmTensor;
    const logits = this.matmul(x2, a.router) as WasmTensor;
    const view = this.f32View(logits.ptr, rows * E);
    const perExpert: { row: number; weight: number }[][] = Array.from({ length: E }, () => []);
    for (let r = 0; r < rows; r++) {
      const { index, weight } = routeTopK(view, r * E, E, a.topK, a.normalize);
      index.forEach((e, j) => perExpert[e].push({ row: r, weight: weight[j] }));
    }
    this.free(logits);
    const out = this.zeros(a.x.shape) as WasmTensor;
    const contributions: { row: number; weight: number; values: Float32Array }[] = [];
    for (let e = 0; e < E; e++) {
      const routed = perExpert[e];
      if (routed.length === 0) continue;
      const xs = this.allocTensor([routed.length, D]);
      const bytes = new Uint8Array(this.memory.buffer);
      routed.forEach(({ row }, i) => bytes.copyWithin(xs.ptr + i * D * 4, x2.ptr + row * D * 4, x2.ptr + (row + 1) * D * 4));
      const g = this.matmul(xs, a.gate[e]), u = this.matmul(xs, a.up[e]);
      const h = this.swiglu(g, u);
      const y = this.matmul(h, a.down[e]) as WasmTensor;
      const ys = this.f32View(y.ptr, routed.length * D);
      routed.forEach(({ row, weight }, i) => contributions.push({ row, weight, values: ys.slice(i * D, (i + 1) * D) }));
      this.free(xs, g, u, h, y);
    }
    // Sum each token's experts in its top-k order, as the reference does.
    const o = this.f32View(out.ptr, rows * D);
    const byRow = new Map<number, { weight: number; values: Float32Array }[]>();
    for (const c of contributions) (byRow.get(c.row) ?? byRow.set(c.row, []).get(c.row)!).push(c);
    for (const [row, list] of byRow) {
      for (const { weight, values } of list) for (let d = 0; d < D; d++) o[row * D + d] += weight * values[d];
    }
    return out;
  }
}

/** `mamba3ChunkScan`'s per-thread scratch for blocks of L tokens (wasm/as/mamba3-chunk.ts's layout). */
export function mamba3ChunkScratch(L: number, R: number, N: number, P: number, S: number): number {
  const up4 = (v: number) => (v + 3) & ~3;
  const LR4 = up4((L + 1) * R); // the block's rows and the previous token's
  return 4 * (LR4 * (2 * up4(N) + 2 * up4(P) + LR4 + 7) + 3 * up4(L) + 2 * up4(S));
}

/**
 * Tokens per block of `mamba3ChunkScan`: the model's chunk size (at most 64, as the SSD kernel) where
 * it fits the thread's scratch, else the chunk cut into equal blocks that fit (mamba3-130m: chunk 64
 * → blocks of 32); 0 where not even one token fits (then the recurrence runs). Any block length
 * computes the same op: the carried (h, k̃, ṽ) joins blocks exactly.
 */
export function mamba3Block(chunk: number, R: number, N: number, P: number, S: number): number {
  const want = Math.min(chunk, 64);
  let fit = want;
  while (fit > 0 && mamba3ChunkScratch(fit, R, N, P, S) > SCRATCH_SIZE) fit--;
  if (fit === 0) return 0;
  return Math.ceil(want / Math.ceil(want / fit));
}

/** Pages for a memory that starts with the fixed regions and room to grow. */
export const INITIAL_PAGES = Math.ceil((ARENA_BASE + 16 * 1024 * 1024) / PAGE);
