/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend: WGSL compute kernels (gpu/wgsl) behind the Backend interface.
 *
 * Execution model
 * - Ops are recorded, not run: each call appends a command (a dispatch or a buffer clear) to a
 *   list; `read` (or a write that must land after them) encodes the whole list into ONE command
 *   encoder — one compute pass between clears — and submits it. A forward is therefore one
 *   submission, and nothing is read back until its end.
 * - Weights are uploaded once. Activations come from a pool of buffers keyed by size: `free`
 *   returns a buffer to the pool, and the next op of that size reuses it. Reuse inside the
 *   recorded stream is safe because WebGPU orders dispatches of one queue; host writes into a
 *   reused buffer first submit what was recorded.
 * - Weights larger than one storage binding (maxStorageBufferBindingSize: 128 MiB on lavapipe,
 *   e.g. a 50k×768 f32 embedding) are split by rows into parts; matmul and embedding dispatch
 *   once per part.
 * - Errors: every submission and every pipeline runs inside validation / out-of-memory error
 *   scopes, checked at the next `read` (E_BACKEND with the driver's message). A lost device fails
 *   the pending call and every later one with E_DEVICE_LOST.
 */
import type { BackendInfo } from '../../api/types.js';
import { PartialBackend } from '../partial.js';
import { MambaEdgeError, fail } from '../../errors.js';
import {
  numel,
  type AttentionArgs, type Backend, type Conv1dArgs, type DeviceSampling, type DeviceToken, type KvCache, type LtiScanArgs, type Mamba3ScanArgs, type Mamba2MixerStepArgs, type MambaMixerStepArgs, type MoeArgs, type OpName,
  type RecordedStep, type RecurrentScanArgs, type RopeArgs, type SelectiveScanArgs, type SsdScanArgs, type Tensor, type WeightDType,
} from '../backend.js';
import { ropeTables } from '../attention-math.js';
import { checkEnv, envSwitch, envValue, type EnvSpec } from '../env.js';
import { DeviceKvCache, grownCapacity, Q8_BLOCK, storedDType } from '../backend.js';
import { checkAttention, checkKvData, checkMoe, checkOneToken, checkRope, checkConv1d, checkMatmul, checkRowWeight, checkSameShape, checkSelectiveScan, checkSsdScan } from '../shape-checks.js';
import type { GpuContext } from './device.js';
import { Kernels, type KernelVariant, type WeightLoader } from './kernels.js';
import { packF16, packQ8_0 } from './quant.js';
import type { SamplerParams } from '../../api/sampler.js';

/** Memory behind a tensor: one buffer, or (large weights only) row parts that each fit a binding. */
class Store {
  freed = false;
  constructor(
    readonly buffers: GPUBuffer[],
    /** Rows of the outer dimension per part (all parts but the last). */
    readonly partRows: number,
    /** Bytes the data occupies in each part (≤ buffer.size, a multiple of 4). */
    readonly partBytes: number[],
    /** Where the data starts in buffers[0]: 0, or its place in a block (zerosBlock; a multiple of 256). */
    readonly offset = 0,
    /** The block this tensor shares with others (zerosBlock): its buffer returns to the pool when every member is freed. */
    readonly block: Block | null = null,
    /** A view (rowView) of another tensor's memory: freeing it releases nothing (free the tensor it views). */
    readonly view = false,
    /** q8_0 row views: the word (from the binding's start) where the int8 values start; else the part's scale count. */
    readonly q8Values: number | null = null,
  ) {}
  /** Copies standing in for views that could not share memory (rowView, unaligned rows): freed with this tensor. */
  dependents: GpuTensor[] | null = null;
}

/** One buffer holding several tensors back to back (a session's state, so a snapshot of it is one copy). */
class Block {
  constructor(readonly buffer: GPUBuffer, readonly bytes: number, public live: number) {}
}

/** K and V blocks [B, Hkv, capacity, Dh] in this backend's GPUBuffers (DeviceKvCache). */
class GpuKvCache extends DeviceKvCache<GPUBuffer> {}

class GpuTensor implements Tensor {
  constructor(readonly shape: readonly number[], readonly dtype: WeightDType, readonly store: Store) {}
  get buffer(): GPUBuffer {
    return this.store.buffers[0];
  }
}

type Binding = GPUBuffer | { buffer: GPUBuffer; size: number; offset?: number };

/** A buffer's size for `bytes` of content: whole 256-byte units (binding offsets must be 256-aligned), at least one. */
function bufferBytes(bytes: number): number {
  return Math.max(256, Math.ceil(bytes / 256) * 256);
}

/** A dispatch's bind group entries: its parameters' uniform slot at binding 0, then its bindings from 1. */
function groupEntries(params: GPUBuffer, offset: number, bindings: readonly Binding[]): GPUBindGroupEntry[] {
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: params, offset, size: PARAM_BYTES } }];
  bindings.forEach((b, i) => entries.push({ binding: i + 1, resource: 'buffer' in b ? { buffer: b.buffer, size: b.size, offset: b.offset ?? 0 } : { buffer: b } }));
  return entries;
}

/** A dispatch's parameters into its slot at word `base` of the parameter words: u32s from word 0, f32s from word 12. */
function packParams(u: readonly number[], f: readonly number[], u32: Uint32Array, f32: Float32Array, base: number): void {
  u.forEach((v, j) => { u32[base + j] = v; });
  f.forEach((v, j) => { f32[base + 12 + j] = v; });
}

/**
 * A token sampled on the device (DeviceSampling): `buffer` holds top_k's candidates and, at word
 * 1 + 2k, sample_top_k's choice, which the next step's embedding reads in place; `staging` receives
 * a copy at the end of the same submission, for the host's read.
 */
class GpuDeviceToken implements DeviceToken {
  readonly deviceToken = true as const;
  released = false;
  /** The staging buffer was mapped (and returned to the read-back pool, or destroyed, by mapRead). */
  read = false;
  constructor(readonly buffer: GPUBuffer, readonly staging: GPUBuffer, readonly k: number, readonly ids: Int32Array, readonly scopeMark: number) {}
}

interface Dispatch {
  kind: 'dispatch';
  pipeline: GPUComputePipeline;
  bindings: Binding[];
  u: number[];
  f: number[];
  groups: number;
}
type Command = Dispatch | { kind: 'clear'; buffer: GPUBuffer; size: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset?: number; dst: GPUBuffer; dstOffset: number; size: number }
  | { kind: 'replay'; step: Replay };

/**
 * What `recordStep` collects while the graph's step is recorded (nothing is encoded meanwhile): the
 * commands in order, every buffer allocated (the recording keeps them: they hold its activations and
 * output), one-time copies that fill packed per-layer parameters, and where the token ids go.
 */
interface StepRecording {
  cmds: Command[];
  buffers: Set<GPUBuffer>;
  setup: Command[];
  ids: GPUBuffer | null;
  count: number;
  vocab: number;
}

/**
 * A recorded step, ready to encode again with no graph JavaScript, shape checks, parameter writes or
 * bind-group lookups: per command its pipeline, its bind group (made once, with the parameters in the
 * recording's own uniform buffer, written once) and its workgroup counts.
 */
interface Replay {
  /** 0 = dispatch, 1 = clear, 2 = copy (parallel arrays, indexed by command). */
  kinds: Uint8Array;
  pipelines: (GPUComputePipeline | null)[];
  groups: (GPUBindGroup | null)[];
  x: Uint32Array;
  y: Uint32Array;
  /** The clears and copies, by command index. */
  other: Map<number, Command>;
  dispatches: number;
  /** Each dispatch's bindings (null for clears and copies), for captureSubmissions: the same sizes in every ring slot. */
  bindings: (Binding[] | null)[];
}

/** Thrown inside a recorded step by an op that cannot be replayed (host data, a read, a KV cache): the recording is dropped. */
class NotRecordable extends Error {}

/**
 * @internal One command of a captured submission (WebGpuBackend.captureSubmissions). label: the
 * pipeline's, `kernel|weights|NS|RQ` (kernels.ts); replayed: part of a recorded step's replay;
 * bindings: the storage bindings (not the parameters' uniform), buffer + bytes bound.
 */
export type CapturedCommand =
  | { kind: 'dispatch'; replayed: boolean; label: string; pipeline: GPUComputePipeline; group: GPUBindGroup; x: number; y: number; bindings: { buffer: GPUBuffer; offset: number; size: number }[] }
  | { kind: 'clear'; buffer: GPUBuffer; size: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number };
/** @internal One captured submission: its commands, and the dispatches the backend counted in it (stats.dispatches). */
export interface CapturedSubmission { commands: CapturedCommand[]; dispatches: number }

const bindingOf = (b: Binding): { buffer: GPUBuffer; offset: number; size: number } =>
  'buffer' in b ? { buffer: b.buffer, offset: b.offset ?? 0, size: b.size } : { buffer: b, offset: 0, size: b.size };
const capturedOther = (c: Command): CapturedCommand =>
  c.kind === 'clear' ? { kind: 'clear', buffer: c.buffer, size: c.size }
    : c.kind === 'copy' ? { kind: 'copy', src: c.src, srcOffset: c.srcOffset ?? 0, dst: c.dst, dstOffset: c.dstOffset, size: c.size }
      : (() => { throw fail('E_BACKEND', 'captureSubmissions: a replay inside a replay'); })();

/** Ops this backend implements; the lineage models (RNN/LSTM/GRU, S4D) and Mamba-3 fall back to wasm. */
const SUPPORTED: ReadonlySet<OpName> = new Set<OpName>([
  'embedding', 'rmsNorm', 'gatedRmsNorm', 'matmul', 'add', 'conv1dCausal', 'conv1dCausalStep',
  'selectiveScan', 'selectiveScanStep', 'ssdChunkScan', 'ssdStep',
  'rope', 'attention', 'attentionStep', 'swiglu', 'relu2', 'mixtureOfExperts',
]);

/** GPUBufferUsage / GPUMapMode values (fixed by the spec; Dawn in Node defines no such globals). */
const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128, QUERY_RESOLVE: 512 } as const;
const MAP_READ = 1;
const PARAM_STRIDE = 256; // ≥ minUniformBufferOffsetAlignment everywhere (WebGPU caps it at 256)
const PARAM_BYTES = 64; //   common.wgsl's Params: 12 u32 + 4 f32
/** Rows up to which matmul uses the matrix-vector kernel (decode) instead of the tiled one. */
const MATVEC_ROWS = 8;
/** Tokens per chunk of the first chunked scans ('chunked-v1': Mamba-1 pass 1/3 walk, Mamba-2 SSD block). */
const SCAN_CHUNK = 64;
/** Largest chunk ssd_chunk_state / ssd_chunk_out take (include/ssd_chunk_decay.wgsl: one thread per token of 256). */
const SSD_MAX_CHUNK = 256;
/** Largest state the tiled Mamba-1 kernels stage in workgroup memory (2 × 32 tokens × N floats ≤ 16 KiB). */
const SCAN_TILED_MAX_N = 64;

/**
 * How prefill scans (T > 1) run: 'chunked' — the tiled chunked kernels (default); 'chunked-v1' — the
 * first chunked kernels they replaced, kept so one benchmark run can compare the two; 'sequential' —
 * one thread per channel walks all T tokens (the plain scan the chunked ones replace). (A one-dispatch
 * Mamba-1 scan with a decoupled look-back ran at 9-17 % of a copy on the H100 against the tiled passes'
 * 44-52 % and was removed: BENCHMARKS.md, "The merged tree on the H100". So were the one-pass subgroup
 * scans 'subgroup' / 'subgroup-chain': 5-6× the tiled passes' time at 16k tokens on the H100.)
 */
export type ScanMode = 'chunked' | 'chunked-v1' | 'sequential';
const SCAN_MODES: readonly ScanMode[] = ['chunked', 'chunked-v1', 'sequential'];
/** Most output rows of a matrix-vector dispatch that folds in the norm before it (pendingNorm): in_proj's, not the head's. */
const NORM_FOLD_MAX_ROWS = 16384;
/** Parameter writes of at most this many dispatches are remembered and skipped when repeated (WebGpuBackend.lastParams). */
const SMALL_PARAM_WRITE = 8;
/** Submit when this many commands are recorded, so very long prefills keep host memory bounded. */
const MAX_RECORDED = 4096;
/** Largest k sample_top_k.wgsl ranks (one workgroup of 256 threads, a candidate each). */
const SAMPLE_MAX_K = 256;
/** Largest finite f32: stands in for an infinite dt limit (shaders may assume finite math). */
const F32_MAX = 3.4028234663852886e38;
/** Channels a workgroup of mamba1_in_proj_xp_* (its CH) and of mamba1_scan_step (its CH): x_proj's partial-sum blocks. */
const XPROJ_BLOCK = 16;
/** Fewest mamba1_scan_step workgroups a sequence before one takes several groups of 16 channels (partials mode: fewer re-reads of the partials). */
const XPROJ_SCAN_GROUPS = 64;
/** Most x_proj rows (R + 2N) mamba1_scan_step's partials mode stages in workgroup memory (its XS). */
const XPROJ_MAX_ROWS = 1024;
/** Rows of the head's weight each matvec_argmax_* workgroup computes (include/matvec_argmax_main.wgsl's ROWS): one best (key, row) pair per ROWS logits. */
const ARGMAX_ROWS = 8;
/** Most experts moe_bucket.wgsl groups (its workgroup array; the Jamba config reader's limit too). */
const MOE_MAX_EXPERTS = 1024;

export interface WebGpuOptions {
  /** Cap on bytes per storage binding (tests use it to exercise the row-split weights). */
  maxBindingBytes?: number;
  /** How prefill scans run (WebGpuBackend.scanMode); default 'chunked'. */
  scan?: ScanMode;
  /** WebGpuBackend.foldHeadNorm (default: env MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM=1|0, else off). */
  foldHeadNorm?: boolean;
  /** WebGpuBackend.stepOutputs (default: env MAMBA_EDGE_WEBGPU_STEP_OUTPUTS, else 4). */
  stepOutputs?: number;
  /** WebGpuBackend.xProjPartials (default: env MAMBA_EDGE_WEBGPU_XPROJ_PARTIALS=1|0, else on). */
  xProjPartials?: boolean;
  /** WebGpuBackend.argmaxInHead (default: env MAMBA_EDGE_WEBGPU_ARGMAX_HEAD=1|0, else on). */
  argmaxInHead?: boolean;
}

/** Every MAMBA_EDGE_WEBGPU_* variable and what it takes (checked by createWebGpuBackend and the constructor). */
export const WEBGPU_ENV: Readonly<Record<string, EnvSpec>> = {
  MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM: { kind: 'switch' },
  MAMBA_EDGE_WEBGPU_STEP_OUTPUTS: { kind: 'int', min: 1, max: 64 },
  MAMBA_EDGE_WEBGPU_XPROJ_PARTIALS: { kind: 'switch' },
  MAMBA_EDGE_WEBGPU_ARGMAX_HEAD: { kind: 'switch' },
  /** The prefill scan mode when WebGpuOptions.scan is not given (WebGpuBackend.scanMode). */
  MAMBA_EDGE_WEBGPU_SCAN: { kind: 'choice', choices: SCAN_MODES },
};

export class WebGpuBackend extends PartialBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly info: BackendInfo;
  /** 8 × the graph's 256-token chunk: 2,048-token forwards fill a large GPU (tiled matmuls, 32 scan chunks). */
  readonly prefillChunkMultiple = 8;
  private readonly device: GPUDevice;
  private keepAlive: unknown;
  private readonly kernels: Kernels;
  private readonly maxBinding: number;
  private readonly pool = new Map<number, GPUBuffer[]>();
  private readonly live = new Set<GPUBuffer>();
  private recorded: Command[] = [];
  private readonly scopes: { mark: number; error: Promise<GPUError | null> }[] = [];
  /** Counts error scopes pushed, so a token's read waits only for the scopes of its own submission and earlier. */
  private scopeMark = 0;
  /** Id arrays standing for device-sampled tokens (DeviceSampling.ids): embedding reads these ids on the device. */
  private readonly deviceIds = new WeakMap<Int32Array, GpuDeviceToken>();
  private lostReason: string | null = null;
  /** Rejecters of the waits in flight (unlessLost), called when the device is lost. */
  private readonly waitingOnDevice = new Set<(e: Error) => void>();
  /** gpuMsOf's query set and resolve buffer, made on its first use. */
  private timestamps: { set: GPUQuerySet; resolved: GPUBuffer } | null = null;
  /**
   * Per-dispatch parameters live in one persistent uniform buffer (slot i at i·256), rewritten with
   * queue.writeBuffer before each submission (queue order keeps earlier submissions' values intact).
   * Bind groups are cached by (pipeline, slot, buffers): a decode step repeats the same dispatches
   * over the same pooled buffers, so after the first token it creates none.
   */
  /** Counters for benchmarks: submissions, dispatches, and host time spent encoding + submitting. */
  readonly stats = {
    submits: 0, dispatches: 0, encodeMs: 0, copies: 0, bindGroups: 0, readBytes: 0,
    /** Dawn calls by kind (bench/webgpu.ts --count-calls): queue.writeBuffer, mapAsync, createBuffer, pass.setBindGroup, pass.setPipeline, compute passes, clearBuffer. */
    writeBuffers: 0, mapAsyncs: 0, createBuffers: 0, setBindGroups: 0, setPipelines: 0, passes: 0, clears: 0,
    /** Greedy draws taken from the head's per-workgroup best rows (argmaxInHead) instead of the whole logits row. */
    argmaxDraws: 0,
    /** Head products recorded as matvec_argmax_* (argmaxInHead: a recorded step's head counts once, when recorded). */
    argmaxHeads: 0,
  };
  /**
   * Prefill scans (selectiveScan, ssdChunkScan over T > 1): 'chunked' (the default: chunks in
   * parallel, then a pass that carries the state across them) or 'sequential' (one thread per
   * channel walks all T tokens — the plain scan the chunked one replaces, kept for benchmarks that
   * compare the two on the same input, and tested against the reference like the chunked form).
   */
  scanMode: ScanMode;
  /**
   * Tokens per chunk of the tiled chunked scans ('chunked'): Mamba-1 (any length ≥ 1) and Mamba-2 SSD
   * (1..256). Longer chunks move fewer chunk states through memory but leave fewer chunks to run in
   * parallel (Mamba-1) or grow the quadratic intra-chunk work (SSD). The defaults were the fastest (or
   * within the run-to-run spread of it) on an H100 at 2k and 16k tokens in all four bench shapes
   * (BENCHMARKS.md, "WebGPU prefill scans, tiled"); bench/webgpu.ts --kernels sweeps them.
   */
  scanChunk = { mamba1: 64, ssd: 128 };
  /**
   * Benchmarks only: record just the first `scanPasses` dispatches of a tiled chunked scan
   * (bench/webgpu.ts --kernels times each prefix to split a scan's time by pass); the output is then
   * incomplete. Default: all of them.
   */
  scanPasses = Infinity;
  /**
   * Rows of the SSD products each thread of ssd_chunk_state / ssd_chunk_out holds (× 4 columns):
   * 4 (64-row tiles) or 8 (128-row tiles: fewer workgroup-memory loads per multiply-add, more registers;
   * 7–12 % faster on the H100 at 128-token chunks, slower at 64).
   */
  ssdRowsPerThread: 4 | 8 = 8;
  private params: GPUBuffer | null = null;
  /**
   * What the last small parameter write (≤ SMALL_PARAM_WRITE dispatches) put at the start of `params`, or
   * null: a submission whose parameters are the same bytes (a greedy decode token's sampling dispatch,
   * every token) skips its queue.writeBuffer — the buffer already holds them, and only submit writes it.
   */
  private lastParams: Uint8Array | null = null;
  private paramSlots = 0;
  private readonly groups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;
  private disposed = false;
  private readonly dummy: GPUBuffer;
  /** Two more stand-ins for absent outputs of a merged matrix-vector dispatch (writable, so distinct). */
  private readonly dummyOut: GPUBuffer[];
  /** Per layer, dt_proj's bias and D packed as one [2, I] buffer for mamba1_scan_step (built on first use). */
  private readonly biasD = new WeakMap<Tensor, { D: Tensor; buffer: GPUBuffer }>();
  private readonly packed: GPUBuffer[] = [];
  /** Per Mamba-2 layer, the x / B / C conv weights (and biases) packed as one [I + 2GN, K] ([I + 2GN]) buffer for mamba2_in_proj_* (built on first use). */
  private readonly convPacked = new WeakMap<Tensor, { parts: Tensor[]; buffer: GPUBuffer; bytes: number }>();
  /** Per Mamba-1 layer, x_proj's dt / B / C row blocks as one [R + 2N, I] weight for mamba1_in_proj_xp_* when they are not adjacent in one buffer (built on first use). */
  private readonly xProjPacked = new WeakMap<Tensor, { parts: Tensor[]; binding: Binding }>();
  /**
   * Matrix-vector products over the same input recorded back to back (in_proj's and x_proj's row
   * blocks in decode), held until a different op is recorded, then dispatched as one.
   */
  private pendingMv: { x: Binding; xBuffer: GPUBuffer; kernel: 'f32x4' | 'f16x8'; K: number; rows: number; items: { w: Binding; y: GPUBuffer; M: number }[] } | null = null;
  /**
   * An RMSNorm of a few rows (decode) held back like the matrix-vector products: when the products
   * recorded next read its output (in_proj after a layer's norm), they run it themselves
   * (matvec_multi_norm_*: one dispatch instead of two); any other next command dispatches it as it was.
   */
  private pendingNorm: { x: Binding; weight: Binding; eps: number; rows: number; dim: number; out: GPUBuffer } | null = null;
  /** The step being recorded (recordStep), or null. */
  private rec: StepRecording | null = null;
  /** Live recorded steps' buffers and parameter blocks (deviceBytes, dispose). */
  private readonly recordings = new Set<{ buffers: GPUBuffer[]; params: GPUBuffer | null }>();
  /** Whether `recordStep` records (tests and benchmarks compare recorded and op-by-op decode). */
  recordSteps = true;
  /** Whether a decode norm is folded into the projections that read it (pendingNorm; tests and benchmarks turn it off). */
  foldNorms = true;
  /**
   * Whether the fused decode steps fold more into fewer dispatches (Mamba-1: in_proj + conv,
   * mamba1_in_proj_*; Mamba-2: the gated norm into out_proj, matvec_gnorm_*, and with fuseInProj the
   * x / B / C conv steps into the whole in_proj, mamba2_in_proj_*).
   */
  foldDecode = true;
  /**
   * Mamba-2 decode: in_proj's z, x, B, C and dt row blocks as ONE matrix-vector dispatch over the fused
   * weight (its parts are rowView views of one buffer) into one output whose parts are bound at their
   * offsets — instead of two (matvec_multi takes three weights). Needs batch 1, no in_proj bias, the
   * parts adjacent in one buffer and 256-byte-aligned output offsets; otherwise the two dispatches.
   */
  fuseInProj = true;
  // (Mamba-1's x_proj folded into the scan step — the foldXProj option, mamba1_scan_xproj.wgsl — was
  // removed: on an NVIDIA H100 (2026-12-06) it took 19.25 ms a decode step against 1.15-1.19 ms without
  // it, 49.9 vs 695-730 tok/s, because each of the I / 64 workgroups recomputed the whole x_proj alone.)
  /**
   * Decode: the final RMSNorm folded into the head's matrix-vector dispatch (matvec_multi_norm_*, as the
   * layers' norms are folded into in_proj), one dispatch a token fewer. Every one of the head's V
   * workgroups then recomputes 1/rms(x) — K more loads of x and K of the norm weight, from cache, next
   * to the K weights of its row it streams from memory — so it trades one dispatch of host time
   * (~14 µs on the H100) for GPU time in the head; off until an H100 A/B (bench/webgpu.ts) shows it
   * ahead. Equal to the unfolded head within f32 rounding, not bit for bit: include/norm_fold.wgsl
   * computes rms_norm.wgsl's formula but sums the squares in another order.
   */
  foldHeadNorm = false;
  /**
   * How many consecutive runs of a recorded step return distinct output tensors (a ring of output
   * buffers, each with its own bind groups over the same parameters): a run's output stays valid until
   * `stepOutputs` more runs. Model.recordDecodeStep then hands the head's output itself to the device
   * sampler when the session keeps at most that many steps in flight, instead of copying the logits
   * row into a tensor of each step's own (one dispatch a token fewer). 1: one output (the copy stays).
   */
  stepOutputs = 4;
  /**
   * Device sampling as one dispatch (top_k_sample.wgsl: top_k.wgsl's and sample_top_k.wgsl's functions
   * in one workgroup, a storage barrier between) instead of two: the same candidates and choice, one
   * dispatch a token fewer. Off: the two kernels, as before (tests and benchmarks compare them).
   */
  fuseSampling = true;
  /**
   * Mamba-1 decode in three dispatches a layer instead of four: the in_proj dispatch (norm + in_proj +
   * conv step, mamba1_in_proj_xp_*) also writes x_proj's split-K partial sums — each workgroup of 16 x
   * channels Σ over its channels of W_xproj[j, c]·u[c] for x_proj's R + 2N rows — and mamba1_scan_step
   * adds the ⌈I / 16⌉ blocks up (in a fixed order) instead of reading a separate x_proj dispatch's
   * outputs. Nothing is recomputed (the removed foldXProj had every scan workgroup redo all of x_proj).
   * Equal to the four-dispatch path within f32 rounding: only x_proj's summation order changes. Needs
   * what mamba1_in_proj_* needs (f32 / f16 in_proj, no in_proj bias) and f32 / f16 x_proj with
   * R + 2N ≤ 1024; otherwise the four dispatches.
   */
  xProjPartials = true;
  /**
   * Greedy draws folded into the head (issue 5; the CUDA backend's ARGMAXGEMV): the head's matrix-vector
   * dispatch (matvec_argmax_{,norm_}{f32x4,f16x8}: 8 rows of the weight a workgroup, the same dot products
   * and sums as matvec_f32x4 / matvec_f16x8 / matvec_multi_norm_*, so the same logits bit for bit) also writes
   * each workgroup's best (key, row), and a greedy draw reads those ⌈V / 8⌉ pairs (argmax_sample.wgsl)
   * instead of walking all V logits in one workgroup (top_k_sample.wgsl: ~45 µs alone at V = 50,280 on an
   * H100, ~85 µs in the step). The same dispatch count; the token words, read-back and run-ahead are as
   * before, and the logits are still written. Taken where the head is one held f32 / f16 product of one
   * row with no bias in one binding (the recorded step's output, or the head still held when `sample` is
   * called): a recorded step's head always runs this way while the switch is on (sampled draws then read
   * its logits as before); q8_0 heads, split weights, batch rows > 1 and non-greedy draws keep today's path.
   * On: faster for both 130M models on the H100 (BENCHMARKS.md, "The H100, 2026-12-06 (sixth session)");
   * bench/webgpu.ts --switches A/Bs it off.
   */
  argmaxInHead = true;
  /**
   * The head's per-workgroup best rows (argmaxInHead) of a recorded step's output buffers (one candidates
   * buffer per ring slot, written by the same replay as the slot's logits); removed when the recording is released.
   */
  private readonly headBest = new Map<GPUBuffer, { best: GPUBuffer; groups: number; V: number }>();
  /**
   * The best rows of a head taken where the draw finds it held (steps not recorded): one buffer, reused —
   * each such draw submits with its head, so queue order puts every reader before the next writer.
   */
  private heldBest: GPUBuffer | null = null;

  private heldBestBuffer(bytes: number): GPUBuffer {
    if (!this.heldBest || this.heldBest.size < bytes) {
      this.heldBest?.destroy(); // its head and draw were submitted (sampleOnDevice): WebGPU destroys it after them
      this.heldBest = this.device.createBuffer({ label: 'head argmax candidates', size: bufferBytes(bytes), usage: USAGE.STORAGE });
      this.stats.createBuffers++;
    }
    return this.heldBest;
  }

  constructor(ctx: GpuContext, opts: WebGpuOptions = {}) {
    super();
    checkEnv('MAMBA_EDGE_WEBGPU_', WEBGPU_ENV);
    this.device = ctx.device;
    this.keepAlive = ctx.keepAlive;
    this.kernels = new Kernels(ctx.device);
    this.maxBinding = Math.floor(Math.min(ctx.maxBindingBytes, opts.maxBindingBytes ?? Infinity) / 4) * 4;
    this.scanMode = opts.scan ?? (envValue('MAMBA_EDGE_WEBGPU_SCAN') || 'chunked') as ScanMode;
    if (!SCAN_MODES.includes(this.scanMode)) throw fail('E_ARGUMENT', `scan must be one of ${SCAN_MODES.join(', ')}, got ${JSON.stringify(this.scanMode)}`);
    this.foldHeadNorm = opts.foldHeadNorm ?? envSwitch('MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM') ?? this.foldHeadNorm;
    const outputs = opts.stepOutputs ?? envValue('MAMBA_EDGE_WEBGPU_STEP_OUTPUTS');
    if (outputs !== undefined && outputs !== '') {
      const n = Number(outputs);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw fail('E_ARGUMENT', `stepOutputs (MAMBA_EDGE_WEBGPU_STEP_OUTPUTS) must be an integer in [1, 64], got ${JSON.stringify(outputs)}`);
      this.stepOutputs = n;
    }
    this.xProjPartials = opts.xProjPartials ?? envSwitch('MAMBA_EDGE_WEBGPU_XPROJ_PARTIALS') ?? this.xProjPartials;
    this.argmaxInHead = opts.argmaxInHead ?? envSwitch('MAMBA_EDGE_WEBGPU_ARGMAX_HEAD') ?? this.argmaxInHead;
    this.info = {
      name: 'webgpu', threads: 1, device: ctx.description,
      ...(ctx.isFallback ? { note: `software fallback adapter (${ctx.description}): correct but slow` } : {}),
    };
    this.dummy = this.device.createBuffer({ size: 16, usage: USAGE.STORAGE });
    this.dummyOut = [0, 1].map(() => this.device.createBuffer({ size: 16, usage: USAGE.STORAGE }));
    this.device.lost.then((info) => {
      if (!this.disposed) this.lostReason = `${info.reason}: ${info.message || 'no message'}`;
      for (const reject of this.waitingOnDevice) reject(new Error('lost'));
      this.waitingOnDevice.clear();
    });
    this.device.addEventListener?.('uncapturederror', (ev) => {
      this.scopes.push({ mark: this.scopeMark, error: Promise.resolve((ev as GPUUncapturedErrorEvent).error) });
    });
  }

  supportsOp(op: OpName): boolean {
    return SUPPORTED.has(op);
  }

  supportsDType(dtype: WeightDType): boolean {
    return dtype === 'f32' || dtype === 'f16' || dtype === 'q8_0';
  }

  bytesFor(shape: readonly number[], dtype: WeightDType): number {
    const n = numel(shape);
    switch (storedDType(shape, dtype)) {
      case 'f32': return n * 4;
      case 'f16': return 4 * Math.ceil(n / 2);
      case 'q8_0': return n + 4 * (n / Q8_BLOCK);
      default: throw fail('E_DTYPE', `the webgpu backend does not store ${dtype} weights`);
    }
  }

  // ---- buffers -------------------------------------------------------------

  /**
   * Bytes of GPU buffers this backend holds: live tensors, the reuse pool, the packed per-layer
   * parameters, the dispatch-parameter ring, argmaxInHead's held-head candidates and the stand-ins (read-back staging buffers live only
   * during a read). The soak (bench/soak.ts --backend webgpu) samples it, as cuda's `deviceBytes`.
   */
  get deviceBytes(): number {
    let n = 0;
    for (const b of this.live) n += b.size;
    for (const list of this.pool.values()) for (const b of list) n += b.size;
    for (const b of this.packed) n += b.size;
    for (const r of this.recordings) for (const b of [...r.buffers, ...(r.params ? [r.params] : [])]) n += b.size;
    return n + (this.params?.size ?? 0) + (this.heldBest?.size ?? 0) + this.dummy.size + this.dummyOut.reduce((a, d) => a + d.size, 0);
  }

  /** GPU buffers held (same set as deviceBytes) and bind groups cached: counts the soak checks for growth. */
  get deviceCounts(): { buffers: number; bindGroups: number } {
    let buffers = this.live.size + this.packed.length + 3 + (this.params ? 1 : 0) + (this.heldBest ? 1 : 0);
    for (const list of this.pool.values()) buffers += list.length;
    for (const r of this.recordings) buffers += r.buffers.length + (r.params ? 1 : 0);
    return { buffers, bindGroups: this.groups.size };
  }

  private assertUsable(): void {
    if (this.lostReason) throw fail('E_DEVICE_LOST', `the WebGPU device was lost (${this.lostReason}); load the model again`);
    if (this.disposed) throw fail('E_BACKEND', 'the webgpu backend has been disposed');
  }

  private allocBuffer(bytes: number, what: string): GPUBuffer {
    if (bytes > this.maxBinding) {
      throw fail('E_MEMORY', `webgpu: ${what} needs ${bytes} bytes in one binding; this device allows ${this.maxBinding} (maxStorageBufferBindingSize)`);
    }
    const size = bufferBytes(bytes);
    const reused = this.pool.get(size)?.pop();
    if (!reused) this.stats.createBuffers++;
    const b = reused ?? this.device.createBuffer({ label: what, size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
    this.live.add(b);
    this.rec?.buffers.add(b);
    return b;
  }

  private tensor(shape: readonly number[], what = 'an activation'): GpuTensor {
    const bytes = numel(shape) * 4;
    return new GpuTensor([...shape], 'f32', new Store([this.allocBuffer(bytes, what)], shape[0] ?? 1, [bytes]));
  }

  /** Host data into a buffer, after everything recorded so far (which may still use a reused buffer). */
  private writeWords(buffer: GPUBuffer, words: ArrayBufferView & { byteLength: number }, offset = 0): void {
    this.submit();
    this.device.queue.writeBuffer(buffer, offset, words.buffer, words.byteOffset, words.byteLength);
    this.stats.writeBuffers++;
  }

  upload(data: Float32Array, shape: readonly number[], requested: WeightDType = 'f32'): Tensor {
    this.assertUsable();
    const n = numel(shape);
    if (data.length !== n) throw fail('E_SHAPE', `upload: ${data.length} values for shape [${shape}]`);
    const dtype = storedDType(shape, requested);
    if (!this.supportsDType(dtype)) throw fail('E_DTYPE', `the webgpu backend does not store ${dtype} weights`);
    const rows = shape.length > 1 ? shape[0] : 1;
    const cols = n / Math.max(rows, 1);
    const rowBytes = this.bytesFor([cols], dtype === 'f16' ? 'f32' : dtype) / (dtype === 'f16' ? 2 : 1);
    // Rows per part: the whole tensor when it fits one binding; else as many rows as fit, an even
    // count for f16 so every part starts on a word boundary.
    let partRows = rows;
    if (this.bytesFor(shape, dtype) > this.maxBinding) {
      partRows = Math.floor(this.maxBinding / Math.max(rowBytes, 1) / 2) * 2;
      if (partRows < 2 || shape.length < 2) {
        throw fail('E_MEMORY', `webgpu: a [${shape}] ${dtype} tensor does not fit this device's ${this.maxBinding}-byte storage bindings`);
      }
    }
    const buffers: GPUBuffer[] = [];
    const partBytes: number[] = [];
    for (let r0 = 0; r0 < rows; r0 += partRows) {
      const part = data.subarray(r0 * cols, Math.min(rows, r0 + partRows) * cols);
      const words = dtype === 'f32' ? part : dtype === 'f16' ? packF16(part) : packQ8_0(part);
      const buf = this.allocBuffer(words.byteLength, `a [${shape}] ${dtype} weight`);
      this.writeWords(buf, words);
      buffers.push(buf);
      partBytes.push(words.byteLength);
    }
    return new GpuTensor([...shape], dtype, new Store(buffers, partRows, partBytes));
  }

  zeros(shape: readonly number[]): Tensor {
    this.assertUsable();
    const t = this.tensor(shape, `a [${shape}] tensor`);
    this.record({ kind: 'clear', buffer: t.buffer, size: t.buffer.size });
    return t;
  }

  write(t: Tensor, data: Float32Array): void {
    this.assertUsable();
    const g = this.f32(t);
    if (data.length !== numel(t.shape)) throw fail('E_SHAPE', `write: ${data.length} values into [${t.shape}]`);
    this.writeWords(g.buffer, data, g.store.offset);
  }

  /**
   * Zero-filled f32 tensors in one buffer, each at a 256-byte boundary (a session's state:
   * deviceSampling.copy of the whole set is then one copy). Separate buffers when the set would
   * not fit one binding.
   */
  zerosBlock(shapes: readonly (readonly number[])[]): Tensor[] {
    this.assertUsable();
    const bytes = shapes.map((sh) => numel(sh) * 4);
    const at: number[] = [];
    let total = 0;
    for (const b of bytes) { at.push(total); total += bufferBytes(b); }
    if (shapes.length < 2 || total > this.maxBinding) return shapes.map((sh) => this.zeros(sh));
    const buffer = this.allocBuffer(total, `a block of ${shapes.length} state tensors`);
    this.record({ kind: 'clear', buffer, size: buffer.size });
    const block = new Block(buffer, total, shapes.length);
    return shapes.map((sh, i) => new GpuTensor([...sh], 'f32', new Store([buffer], sh[0] ?? 1, [bytes[i]], at[i], block)));
  }

  async read(t: Tensor): Promise<Float32Array> {
    this.assertUsable();
    const g = t as GpuTensor;
    if (g.dtype !== 'f32') throw fail('E_DTYPE', `webgpu: read takes f32 tensors, got ${g.dtype}`);
    const bytes = numel(g.shape) * 4;
    this.submit();
    const staging = this.device.createBuffer({ size: Math.max(4, bytes), usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.stats.createBuffers++;
    const enc = this.device.createCommandEncoder();
    let at = 0; // a weight split by rows is read part after part
    g.store.buffers.forEach((buf, p) => {
      const n = Math.min(g.store.partBytes[p], bytes - at);
      if (n > 0) enc.copyBufferToBuffer(buf, p === 0 ? g.store.offset : 0, staging, at, n);
      at += n;
    });
    this.device.queue.submit([enc.finish()]);
    return new Float32Array(await this.mapRead(staging, bytes, `a [${g.shape}] tensor`));
  }

  /**
   * The first `bytes` of a MAP_READ buffer once the device has written it (then destroyed), with
   * device loss → E_DEVICE_LOST and a validation / out-of-memory error of the submissions up to
   * `scopesUpTo` → E_BACKEND.
   */
  private async mapRead(staging: GPUBuffer, bytes: number, what: string, scopesUpTo = Infinity, reuse = false): Promise<ArrayBuffer> {
    let unmapped = false;
    try {
      this.stats.mapAsyncs++;
      await this.unlessLost(staging.mapAsync(MAP_READ));
      await this.checkErrors(scopesUpTo);
      const out = staging.getMappedRange(0, Math.max(4, bytes)).slice(0, bytes);
      this.stats.readBytes += bytes;
      staging.unmap();
      unmapped = true;
      return out;
    } catch (e) {
      if (e instanceof MambaEdgeError) throw e;
      // Device loss resolves `lost` before or while the map fails.
      await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 50))]);
      if (this.lostReason || this.disposed) {
        throw fail('E_DEVICE_LOST', `the WebGPU device was lost during the call (${this.lostReason ?? 'disposed'}); load the model again`, { cause: e });
      }
      throw fail('E_BACKEND', `webgpu: reading ${what} failed: ${(e as Error).message}`, { cause: e });
    } finally {
      if (reuse && unmapped) this.giveStaging(staging);
      else staging.destroy();
    }
  }

  /**
   * Read-back buffers of sampled tokens by size, reused: without them every decoded token creates and
   * destroys a MAP_READ buffer (two Dawn calls). A buffer comes back unmapped (read) or with only its
   * copy pending (a dropped run-ahead step: queue order puts that copy before any later one into it).
   */
  private readonly stagingPool = new Map<number, GPUBuffer[]>();

  private takeStaging(size: number, label: string): GPUBuffer {
    const reused = this.stagingPool.get(size)?.pop();
    if (reused) return reused;
    this.stats.createBuffers++;
    return this.device.createBuffer({ label, size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  }

  private giveStaging(b: GPUBuffer): void {
    const list = this.stagingPool.get(b.size) ?? [];
    if (this.disposed || list.length >= 8) { b.destroy(); return; }
    list.push(b);
    this.stagingPool.set(b.size, list);
  }

  /** The k best entries of one row, found on the GPU (gpu/wgsl/top_k.wgsl): 1 + 2k words read back. */
  async readTopK(t: Tensor, row: number, k: number): Promise<{ ids: Int32Array; values: Float32Array }> {
    this.assertUsable();
    const g = this.f32(t);
    if (g.shape.length !== 2 || row < 0 || row >= g.shape[0]) throw fail('E_SHAPE', `readTopK: row ${row} of a [${g.shape}] tensor`);
    const V = g.shape[1];
    if (!Number.isInteger(k) || k < 1) throw fail('E_ARGUMENT', `readTopK: k must be a positive integer, got ${k}`);
    k = Math.min(k, V);
    const out = this.allocBuffer(4 * (1 + 2 * k), 'top-k candidates');
    this.record({ kind: 'dispatch', pipeline: this.kernels.get('top_k'), bindings: [this.bind(g), out], u: [V, row * V, k], f: [], groups: 1 });
    const words = new Uint32Array((await this.read(new GpuTensor([1 + 2 * k], 'f32', new Store([out], 1, [4 * (1 + 2 * k)])))).buffer);
    this.release(out);
    const n = words[0];
    return { ids: Int32Array.from(words.subarray(1, 1 + n)), values: new Float32Array(words.slice(1 + k, 1 + k + n).buffer) };
  }

  /**
   * Sampling on the device for the session's run-ahead decode: top_k.wgsl then sample_top_k.wgsl
   * into a small buffer the next step's embedding reads the id from, and a copy of it to a staging
   * buffer in the same submission (so its read waits for this step only, not for steps submitted after).
   */
  readonly deviceSampling: DeviceSampling = {
    supports: (p: SamplerParams) => p.temperature === 0 || (p.topK >= 1 && p.topK <= SAMPLE_MAX_K),
    sample: (logits, p, u) => this.sampleOnDevice(logits, p, u),
    ids: (t) => (t as GpuDeviceToken).ids,
    read: (t) => this.readDeviceToken(t as GpuDeviceToken),
    release: (t) => {
      const g = t as GpuDeviceToken;
      if (g.released) return;
      g.released = true;
      this.release(g.buffer);
      if (!g.read) this.giveStaging(g.staging); // a dropped run-ahead step: its pending copy still completes first
    },
    copy: (src, dst) => {
      this.assertUsable();
      if (src.length !== dst.length) throw fail('E_ARGUMENT', `webgpu copy: ${src.length} sources for ${dst.length} destinations`);
      // Two whole blocks laid out alike (zerosBlock of the same shapes): one copy.
      const blockOf = (ts: readonly Tensor[]) => {
        const b = (ts[0] as GpuTensor | undefined)?.store.block;
        return b && b.live === ts.length && ts.every((t, i) => (t as GpuTensor).store.block === b && (t as GpuTensor).store.offset === (src[i] as GpuTensor).store.offset) ? b : null;
      };
      const [from, to] = [blockOf(src), blockOf(dst)];
      if (from && to && from.bytes === to.bytes && src.every((t, i) => numel(t.shape) === numel(dst[i].shape))) {
        src.forEach((t) => this.f32(t));
        dst.forEach((t) => this.f32(t));
        this.record({ kind: 'copy', src: from.buffer, dst: to.buffer, dstOffset: 0, size: from.bytes });
        return;
      }
      src.forEach((t, i) => {
        const a = this.f32(t), b = this.f32(dst[i]);
        const bytes = numel(a.shape) * 4;
        if (numel(b.shape) * 4 !== bytes || a.store.buffers.length > 1 || b.store.buffers.length > 1) {
          throw fail('E_SHAPE', `webgpu copy: [${a.shape}] into [${b.shape}]`);
        }
        if (bytes > 0) this.record({ kind: 'copy', src: a.buffer, srcOffset: a.store.offset, dst: b.buffer, dstOffset: b.store.offset, size: bytes });
      });
    },
  };

  private sampleOnDevice(logits: Tensor, p: SamplerParams, u: number): GpuDeviceToken {
    this.assertUsable();
    const g = this.f32(logits);
    if (g.shape.length !== 2 || g.shape[0] !== 1) throw fail('E_SHAPE', `deviceSampling.sample: logits must be [1, V], got [${g.shape}]`);
    if (!this.deviceSampling.supports(p)) throw fail('E_ARGUMENT', `deviceSampling.sample: topK ${p.topK} is not in [1, ${SAMPLE_MAX_K}]`);
    const V = g.shape[1];
    const greedy = p.temperature === 0;
    const k = Math.min(greedy ? 1 : p.topK, V);
    const bytes = 4 * (2 + 2 * k);
    const buf = this.allocBuffer(bytes, 'sampled token');
    // argmaxInHead: the head's best rows — a recorded step's ring slot, or the head product still held.
    let held: { best: GPUBuffer; groups: number; V: number } | null = null;
    const recorded = greedy && this.argmaxInHead && g.store.offset === 0 ? this.headBest.get(g.buffer) : undefined;
    if (!recorded && greedy && this.argmaxInHead && g.store.offset === 0) held = this.flushHeadArgmax(g.buffer, (n) => this.heldBestBuffer(n));
    const head = recorded ?? held;
    if (head && head.V === V) {
      this.stats.argmaxDraws++;
      this.record({ kind: 'dispatch', pipeline: this.kernels.get('argmax_sample'), bindings: [this.bind(g), head.best, buf], u: [head.groups, 0], f: [], groups: 1 });
    } else if (this.fuseSampling) { // top_k then sample_top_k in one workgroup (top_k_sample.wgsl)
      this.record({ kind: 'dispatch', pipeline: this.kernels.get('top_k_sample'), bindings: [this.bind(g), buf], u: [V, 0, k, greedy ? 1 : 0], f: [greedy ? 1 : p.temperature, p.topP, u], groups: 1 });
    } else {
      this.record({ kind: 'dispatch', pipeline: this.kernels.get('top_k'), bindings: [this.bind(g), buf], u: [V, 0, k], f: [], groups: 1 });
      this.record({ kind: 'dispatch', pipeline: this.kernels.get('sample_top_k'), bindings: [buf], u: [k, greedy ? 1 : 0], f: [greedy ? 1 : p.temperature, p.topP, u], groups: 1 });
    }
    const staging = this.takeStaging(Math.ceil(bytes / 4) * 4, 'sampled token read-back');
    this.record({ kind: 'copy', src: buf, dst: staging, dstOffset: 0, size: bytes });
    this.submit();
    const token = new GpuDeviceToken(buf, staging, k, new Int32Array(1), this.scopeMark);
    this.deviceIds.set(token.ids, token);
    return token;
  }

  private async readDeviceToken(t: GpuDeviceToken): Promise<{ id: number; ids: Int32Array; values: Float32Array }> {
    this.assertUsable();
    if (t.released || t.read) throw fail('E_ARGUMENT', 'webgpu: a device-sampled token was read twice or after release');
    t.read = true;
    const k = t.k;
    const words = new Uint32Array(await this.mapRead(t.staging, 4 * (2 + 2 * k), 'a sampled token', t.scopeMark, true));
    const n = Math.min(words[0], k);
    return {
      id: words[1 + 2 * k] | 0,
      ids: Int32Array.from(words.subarray(1, 1 + n)),
      values: new Float32Array(words.slice(1 + k, 1 + k + n).buffer),
    };
  }

  /** Throws E_BACKEND for a validation / out-of-memory error of the submissions up to `upTo` (all by default). */
  private async checkErrors(upTo = Infinity): Promise<void> {
    const mine = this.scopes.filter((s) => s.mark <= upTo);
    for (const s of mine) this.scopes.splice(this.scopes.indexOf(s), 1);
    const pending = [...this.kernels.errors.splice(0), ...mine.map((s) => s.error)];
    for (const err of await Promise.all(pending)) {
      if (err) throw fail('E_BACKEND', `webgpu: ${err.constructor?.name ?? 'GPU error'}: ${err.message}`);
    }
  }

  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const g = t as GpuTensor;
    if (numel(shape) !== numel(g.shape)) throw fail('E_SHAPE', `reshape [${g.shape}] → [${shape}] changes the element count`);
    return new GpuTensor([...shape], g.dtype, g.store);
  }

  sliceRows(t: Tensor, start: number, count: number): Tensor {
    this.assertUsable();
    const g = this.f32(t);
    const rows = g.shape[0];
    if (start < 0 || count < 0 || start + count > rows) throw fail('E_SHAPE', `sliceRows ${start}+${count} of ${rows}`);
    const inner = numel(g.shape.slice(1));
    const out = this.tensor([count, ...g.shape.slice(1)]);
    const src = g.store.block || g.store.offset ? this.bind(g) : g.buffer;
    const n = count * inner, at = start * inner;
    if (n % 4 === 0 && at % 4 === 0) this.dispatch('copy_vec4', {}, [src, out.buffer], [n / 4, at / 4], [], Math.ceil(n / 4 / 256));
    else this.dispatch('copy', {}, [src, out.buffer], [n, at], [], Math.ceil(n / 256));
    return out;
  }

  /**
   * Backend.rowView: rows [start, start + count) of `t`'s outer dimension, sharing its memory (a Store
   * at an offset into t's buffer: free t, not the view). The graphs then upload a fused projection once
   * (Mamba-1 in_proj [2I, D], Mamba-2 [2I + 2GN + H, D]) with its parts as views, and a decode token can
   * run the whole projection as one matrix-vector dispatch (mamba2MixerStep, fuseInProj). A storage
   * binding's offset must be a multiple of 256 bytes (minStorageBufferOffsetAlignment, at most 256 in
   * WebGPU), and q8_0 rows are not contiguous (a part holds all its scales first): there, and for rows
   * that cross a part of a split weight, the view is a copy instead (weights never change; an
   * activation's copy is recorded after what wrote it and freed with it: Store.dependents).
   */
  rowView(t: Tensor, start: number, count: number): Tensor {
    this.assertUsable();
    const g = t as GpuTensor;
    const rows = g.shape[0] ?? 1, inner = g.shape.slice(1), cols = numel(inner);
    if (!(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 && start + count <= rows)) {
      throw fail('E_SHAPE', `rowView ${start}+${count} of ${rows} rows`);
    }
    if (g.store.freed) throw fail('E_ARGUMENT', `webgpu: rowView of a [${g.shape}] tensor after free`);
    const dtype = storedDType(g.shape, g.dtype);
    // (a one-buffer tensor's partRows may not count rows of this shape: a reshape keeps the Store)
    const single = g.store.buffers.length === 1;
    const p = single ? 0 : Math.floor(start / g.store.partRows), r0 = start - p * g.store.partRows;
    const inOnePart = single || r0 + count <= g.store.partRows;
    const rowBytes = dtype === 'f32' ? 4 * cols : dtype === 'f16' ? 2 * cols : 0;
    const at = (p === 0 ? g.store.offset : 0) + r0 * rowBytes;
    const bytes = count * rowBytes;
    if (rowBytes > 0 && inOnePart && at % 256 === 0 && bytes % 4 === 0) {
      return new GpuTensor([count, ...inner], g.dtype, new Store([g.store.buffers[p]], count, [bytes], at, null, true));
    }
    // Whole parts of a split weight (from a part's first row to a part's end or the tensor's): its parts.
    const end = start + count, pr = g.store.partRows;
    if (!single && r0 === 0 && (end === rows || end % pr === 0)) {
      const q = Math.ceil(end / pr);
      return new GpuTensor([count, ...inner], g.dtype, new Store(g.store.buffers.slice(p, q), pr, g.store.partBytes.slice(p, q), 0, null, true));
    }
    if (dtype === 'q8_0' && inOnePart && g.store.offset === 0 && g.store.q8Values === null) {
      // The binding starts at the rows' scales and runs to the part's end; the values start q8Values words in.
      const scaleAt = (4 * r0 * cols) / Q8_BLOCK;
      const partScaleWords = ((single ? rows : Math.min(g.store.partRows, rows - p * g.store.partRows)) * cols) / Q8_BLOCK;
      if (scaleAt % 256 === 0) {
        return new GpuTensor([count, ...inner], g.dtype, new Store([g.store.buffers[p]], count, [g.store.partBytes[p] - scaleAt], scaleAt, null, true,
          (4 * partScaleWords + r0 * cols - scaleAt) / 4));
      }
    }
    // A copy: f32 / f16 rows segment by segment (they may cross parts), q8_0 as its scales then its values.
    if (dtype !== 'f32' && dtype !== 'f16' && dtype !== 'q8_0') throw fail('E_DTYPE', `webgpu: rowView of a ${dtype} tensor`);
    if (dtype === 'q8_0' && (!inOnePart || g.store.offset !== 0 || g.store.q8Values !== null)) throw fail('E_MEMORY', `webgpu: rowView ${start}+${count} of a q8_0 [${g.shape}] weight crosses its binding parts`);
    const outBytes = this.bytesFor([count, ...inner], dtype);
    const buffer = this.allocBuffer(outBytes, `rows ${start}+${count} of a [${g.shape}] ${dtype} tensor`);
    if (dtype === 'q8_0') {
      const partRowsHere = single ? rows : Math.min(g.store.partRows, rows - p * g.store.partRows);
      const scaleWords = (partRowsHere * cols) / Q8_BLOCK;
      this.record({ kind: 'copy', src: g.store.buffers[p], srcOffset: (4 * r0 * cols) / Q8_BLOCK, dst: buffer, dstOffset: 0, size: (4 * count * cols) / Q8_BLOCK });
      this.record({ kind: 'copy', src: g.store.buffers[p], srcOffset: 4 * scaleWords + r0 * cols, dst: buffer, dstOffset: (4 * count * cols) / Q8_BLOCK, size: count * cols });
    } else {
      const rb = dtype === 'f32' ? 4 * cols : 2 * cols;
      let done = 0;
      while (done < count) {
        const r = start + done, q = single ? 0 : Math.floor(r / g.store.partRows);
        const rq = single ? r : r - q * g.store.partRows, n = single ? count - done : Math.min(count - done, g.store.partRows - rq);
        const src = (q === 0 ? g.store.offset : 0) + rq * rb;
        if (src % 4 !== 0 || (n * rb) % 4 !== 0 || (done * rb) % 4 !== 0) {
          // odd f16 row counts: whole words only (a copy's offsets and size are multiples of 4)
          throw fail('E_SHAPE', `webgpu: rowView ${start}+${count} of an f16 [${g.shape}] tensor does not start and end on 4-byte words`);
        }
        this.record({ kind: 'copy', src: g.store.buffers[q], srcOffset: src, dst: buffer, dstOffset: done * rb, size: n * rb });
        done += n;
      }
    }
    const copy = new GpuTensor([count, ...inner], g.dtype, new Store([buffer], count, [outBytes]));
    (g.store.dependents ??= []).push(copy);
    return copy;
  }

  free(...ts: (Tensor | null | undefined)[]): void {
    for (const t of ts) {
      if (!t) continue;
      const s = (t as GpuTensor).store;
      if (s.freed) continue;
      s.freed = true;
      if (s.dependents) { this.free(...s.dependents); s.dependents = null; }
      if (s.view) continue; // the viewed tensor owns the memory
      if (s.block && --s.block.live > 0) continue; // other tensors of the block still use its buffer
      for (const b of s.buffers) {
        if (!this.live.delete(b)) continue;
        const list = this.pool.get(b.size) ?? [];
        list.push(b);
        this.pool.set(b.size, list);
      }
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    try {
      if (!this.lostReason) { this.submit(); await this.device.queue.onSubmittedWorkDone(); }
    } catch { /* a lost device has nothing left to finish */ }
    this.disposed = true;
    this.heldBest?.destroy();
    for (const b of this.live) b.destroy();
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    for (const list of this.stagingPool.values()) for (const b of list) b.destroy();
    this.stagingPool.clear();
    this.live.clear();
    this.pool.clear();
    this.groups.clear();
    this.params?.destroy();
    for (const b of this.packed) b.destroy();
    for (const r of this.recordings) { for (const b of r.buffers) b.destroy(); r.params?.destroy(); }
    this.recordings.clear();
    this.dummy.destroy();
    for (const d of this.dummyOut) d.destroy();
    this.timestamps?.set.destroy();
    this.timestamps?.resolved.destroy();
    this.device.destroy();
    this.keepAlive = null; // lets dawn.node's instance go, so the process can exit
  }

  /**
   * `p`, or a rejection as soon as the device is lost. Not `Promise.race([p, device.lost])`: that
   * adds a reaction to `device.lost`, which never settles while the device lives, on every call —
   * each one keeping its caller's closure context (the tensor, encoder and staging buffer of a
   * read) alive for the device's whole life. The soak found it: ~1.2 KB of V8 heap per generated
   * token (test/reliability/soak-webgpu.test.ts).
   */
  private unlessLost<T>(p: Promise<T>): Promise<T> {
    if (this.lostReason) return Promise.reject(new Error('lost'));
    return new Promise<T>((resolve, reject) => {
      this.waitingOnDevice.add(reject);
      p.then(resolve, reject).finally(() => this.waitingOnDevice.delete(reject));
    });
  }

  /** The device's completion of everything submitted up to the previous settle (Backend.settle). */
  private inFlight: Promise<unknown> | null = null;

  /** Backend.settle: submit this chunk, then wait for the previous chunk's work (one chunk stays in flight). */
  async settle(): Promise<void> {
    this.assertUsable();
    this.submit();
    const previous = this.inFlight;
    const done = this.device.queue.onSubmittedWorkDone();
    done.catch(() => undefined); // a lost device rejects it; `read` reports the loss
    this.inFlight = done;
    if (previous) await this.unlessLost(previous).catch(() => undefined);
    this.assertUsable();
  }

  /** @internal Test hook: destroy the device as a driver reset would. */
  loseDeviceForTesting(): void {
    this.device.destroy();
  }

  // ---- recorded steps (Backend.recordStep) ---------------------------------

  /**
   * Records the commands `body` makes, encoding none of them, and returns them ready to encode again
   * for new ids: each dispatch's pipeline, its bind group (made here, once, over a uniform buffer of
   * the recording's parameters, written once) and its workgroup counts. `run` then costs the Dawn
   * calls alone (setPipeline where it changes, setBindGroup, dispatchWorkgroups) — no graph, op
   * methods, shape checks, parameter writes or bind-group lookups — and runs the same kernels on the
   * same buffers in the same order as the op-by-op step, so the results are the same bit for bit.
   * `run` takes host ids (written into the recording's id buffer) or `deviceSampling.ids(token)`
   * (the id copied on the device from where sample_top_k wrote it). Nothing is submitted by `run`:
   * the replay joins the commands recorded after it (a top-k, a sampling) in the next submission.
   * Host data, reads and attention (its KV cache position moves) make it return null, having run nothing.
   */
  recordStep(ids: Int32Array, body: (ids: Int32Array) => Tensor): RecordedStep | null {
    this.assertUsable();
    if (!this.recordSteps) return null;
    if (this.rec) throw fail('E_BACKEND', 'recordStep: a step is already being recorded');
    this.submit(); // what was recorded before belongs to no recording
    const rec: StepRecording = { cmds: [], buffers: new Set(), setup: [], ids: null, count: 0, vocab: 0 };
    this.rec = rec;
    let out: GpuTensor | null = null;
    let declined = false;
    let head: { best: GPUBuffer; groups: number; V: number } | null = null;
    try {
      out = body(ids) as GpuTensor;
      // argmaxInHead: a head still held (the step's last product, into its output) writes its best rows too.
      if (this.argmaxInHead && out.store.offset === 0 && out.store.buffers.length === 1) {
        head = this.flushHeadArgmax(out.buffer, (n) => { // the recording's from here (rec.buffers): released with it
          const b = this.device.createBuffer({ label: 'recorded step head argmax candidates', size: bufferBytes(n), usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST });
          this.stats.createBuffers++;
          this.live.add(b);
          rec.buffers.add(b);
          return b;
        });
      }
      this.flushPending();
    } catch (e) {
      if (!(e instanceof NotRecordable)) { this.pendingMv = null; this.pendingNorm = null; throw e; }
      declined = true;
    } finally {
      this.rec = null;
      this.pendingMv = null;
      this.pendingNorm = null;
      for (const c of rec.setup) this.record(c); // packed parameters are cached whether or not the step is kept
    }
    if (declined || !out || !rec.ids || out.store.buffers.length !== 1 || !rec.buffers.has(out.buffer)) {
      // Back to the pool: every buffer the body allocated (it ran nothing on them).
      for (const b of rec.buffers) this.release(b);
      return null;
    }
    // The recording owns its buffers from here: out of the live set and the pool.
    for (const b of rec.buffers) this.live.delete(b);
    for (const [size, list] of this.pool) {
      const kept = list.filter((b) => !rec.buffers.has(b));
      if (kept.length !== list.length) this.pool.set(size, kept);
    }
    // A ring of outputs (stepOutputs): the output's buffer, and as many more of its size, each with its
    // own replay (the same commands, the output buffer's bind groups and copies swapped for the slot's).
    // With argmaxInHead, each slot has its own buffer of the head's best rows too (swapped the same way).
    const ringBuffers = [out.buffer];
    const ringBest = head ? [head.best] : [];
    for (let i = 1; i < this.stepOutputs; i++) {
      ringBuffers.push(this.device.createBuffer({ label: 'recorded step output', size: out.buffer.size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST }));
      this.stats.createBuffers++;
      if (head) {
        ringBest.push(this.device.createBuffer({ label: 'recorded step head argmax candidates', size: head.best.size, usage: USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST }));
        this.stats.createBuffers++;
      }
    }
    const swaps = ringBuffers.map((b, i) => new Map<GPUBuffer, GPUBuffer>(head ? [[out!.buffer, b], [head.best, ringBest[i]]] : [[out!.buffer, b]]));
    const replay = this.prepareReplay(rec.cmds, swaps);
    if (head) ringBuffers.forEach((b, i) => this.headBest.set(b, { best: ringBest[i], groups: head!.groups, V: head!.V }));
    const owned = { buffers: [...rec.buffers, ...ringBuffers.slice(1), ...ringBest.slice(1)], params: replay.params };
    this.recordings.add(owned);
    const { ids: idsBuffer, count, vocab } = rec;
    const outputs = ringBuffers.map((b) => new GpuTensor([...out!.shape], 'f32', new Store([b], out!.store.partRows, [...out!.store.partBytes], out!.store.offset)));
    let slot = 0;
    let live = true;
    return {
      ops: rec.cmds.length,
      outputs: outputs.length,
      run: (next: Int32Array): Tensor => {
        this.assertUsable();
        if (!live) throw fail('E_ARGUMENT', 'webgpu: this recorded step was released');
        if (next.length !== count) throw fail('E_ARGUMENT', `webgpu: a recorded step of ${count} token(s) run with ${next.length}`);
        const token = this.deviceIds.get(next);
        if (token) {
          if (token.released) throw fail('E_ARGUMENT', 'webgpu: a device-sampled token was used after release');
          this.record({ kind: 'copy', src: token.buffer, srcOffset: 4 * (1 + 2 * token.k), dst: idsBuffer, dstOffset: 0, size: 4 });
        } else {
          for (const id of next) if (!(id >= 0 && id < vocab)) throw fail('E_TOKEN', `token id ${id} is outside the vocabulary [0, ${vocab})`);
          this.writeWords(idsBuffer, next); // after what is recorded so far (an earlier run may still read the ids)
        }
        this.record({ kind: 'replay', step: replay.steps[slot] });
        const output = outputs[slot];
        slot = (slot + 1) % outputs.length;
        output.store.freed = false; // the recording's, whatever a caller did with it
        return output;
      },
      release: () => {
        if (!live) return;
        live = false;
        this.recordings.delete(owned);
        for (const b of ringBuffers) this.headBest.delete(b); // pooled from here: no longer a head's output
        if (this.disposed) return;
        if (!this.lostReason) this.submit(); // a replay still recorded uses these buffers: encode it before they can be reused
        for (const b of owned.buffers) this.live.add(b);
        this.release(...owned.buffers);
        owned.params?.destroy(); // destroyed after the submissions that use it complete (WebGPU defers it)
      },
    };
  }

  /**
   * The replayable form of recorded commands: bind groups and the parameters' uniform buffer made once;
   * one replay per slot of `ring`, each with the buffers its map names swapped (the output for the slot's,
   * and the head's best rows with argmaxInHead; the same parameters). Slot 0 maps each buffer to itself.
   */
  private prepareReplay(cmds: Command[], ring: Map<GPUBuffer, GPUBuffer>[]): { steps: Replay[]; params: GPUBuffer | null } {
    const n = cmds.length;
    const step: Replay = {
      kinds: new Uint8Array(n), pipelines: new Array(n).fill(null), groups: new Array(n).fill(null),
      x: new Uint32Array(n), y: new Uint32Array(n), other: new Map(), dispatches: 0, bindings: new Array(n).fill(null),
    };
    const entriesOf: GPUBindGroupEntry[][] = new Array(n).fill(null);
    const dispatches = cmds.filter((c): c is Dispatch => c.kind === 'dispatch');
    step.dispatches = dispatches.length;
    const params = dispatches.length ? this.device.createBuffer({ label: 'recorded step parameters', size: dispatches.length * PARAM_STRIDE, usage: USAGE.UNIFORM | USAGE.COPY_DST }) : null;
    const host = new ArrayBuffer(Math.max(1, dispatches.length) * PARAM_STRIDE);
    const u32 = new Uint32Array(host), f32 = new Float32Array(host);
    let slot = 0;
    cmds.forEach((c, i) => {
      if (c.kind !== 'dispatch') {
        step.kinds[i] = c.kind === 'clear' ? 1 : 2;
        step.other.set(i, c);
        return;
      }
      packParams(c.u, c.f, u32, f32, (slot * PARAM_STRIDE) / 4);
      const entries = groupEntries(params!, slot * PARAM_STRIDE, c.bindings);
      step.groups[i] = this.device.createBindGroup({ layout: c.pipeline.getBindGroupLayout(0), entries });
      this.stats.bindGroups++;
      entriesOf[i] = entries;
      step.pipelines[i] = c.pipeline;
      step.bindings[i] = c.bindings;
      const x = Math.min(c.groups, 65535);
      [step.x[i], step.y[i]] = [x, Math.ceil(c.groups / x)];
      slot++;
    });
    if (params) { this.device.queue.writeBuffer(params, 0, host, 0, dispatches.length * PARAM_STRIDE); this.stats.writeBuffers++; }
    const steps = ring.map((map) => {
      if ([...map].every(([from, to]) => from === to)) return step;
      const swap = (b: GPUBuffer) => map.get(b) ?? b;
      const other = new Map<number, Command>();
      for (const [i, o] of step.other) {
        other.set(i, o.kind === 'clear' ? { ...o, buffer: swap(o.buffer) } : o.kind === 'copy' ? { ...o, src: swap(o.src), dst: swap(o.dst) } : o);
      }
      const groups = step.groups.map((g, i) => {
        const entries = entriesOf[i];
        if (!g || !entries.some((e) => map.has((e.resource as GPUBufferBinding).buffer))) return g;
        this.stats.bindGroups++;
        return this.device.createBindGroup({
          layout: step.pipelines[i]!.getBindGroupLayout(0),
          entries: entries.map((e) => ({ binding: e.binding, resource: { ...(e.resource as GPUBufferBinding), buffer: swap((e.resource as GPUBufferBinding).buffer) } })),
        });
      });
      return { ...step, groups, other };
    });
    return { steps, params };
  }

  // ---- capturing submissions (bench/webgpu-decode-profile.ts) --------------

  /**
   * The capture in progress (captureSubmissions): the submissions so far, and the uniform buffers made for
   * its plain dispatches (their parameters' own copy, destroyed by its release); null when not capturing.
   */
  private capture: { subs: CapturedSubmission[]; params: GPUBuffer[] } | null = null;

  /**
   * @internal For bench/webgpu-decode-profile.ts: from now until `stop`, every submission's commands as
   * they were encoded, in order, replays expanded (each dispatch's pipeline, bind group, workgroup
   * counts and bindings), so each can be encoded again alone on `gpuDevice`. A plain (not recorded)
   * dispatch's parameters live in a slot of the shared uniform buffer that later submissions rewrite:
   * its captured bind group reads a copy of them in a uniform buffer of its own. The bind groups hold
   * the buffers of the moment: replay them only while what made them (a session, its recorded step)
   * is alive, and `release` the capture after (it destroys the parameter copies).
   */
  captureSubmissions(): { stop(): CapturedSubmission[]; release(): void } {
    if (this.capture) throw fail('E_BACKEND', 'captureSubmissions: already capturing');
    this.submit(); // what was recorded before belongs to no capture
    const capture = { subs: [] as CapturedSubmission[], params: [] as GPUBuffer[] };
    this.capture = capture;
    return {
      stop: () => {
        if (this.capture === capture) { if (!this.lostReason && !this.disposed) this.submit(); this.capture = null; }
        return capture.subs;
      },
      release: () => {
        if (this.capture === capture) this.capture = null;
        for (const b of capture.params) b.destroy();
        capture.params.length = 0;
      },
    };
  }

  /** @internal The device (bench/webgpu-decode-profile.ts encodes captured dispatches on it). */
  get gpuDevice(): GPUDevice {
    return this.device;
  }

  private capturedDispatch(c: Dispatch, x: number, y: number): CapturedCommand {
    const host = new ArrayBuffer(PARAM_BYTES);
    const u32 = new Uint32Array(host), f32 = new Float32Array(host);
    packParams(c.u, c.f, u32, f32, 0);
    const params = this.device.createBuffer({ label: 'captured dispatch parameters', size: PARAM_STRIDE, usage: USAGE.UNIFORM | USAGE.COPY_DST });
    this.device.queue.writeBuffer(params, 0, host);
    this.capture!.params.push(params);
    const group = this.device.createBindGroup({ layout: c.pipeline.getBindGroupLayout(0), entries: groupEntries(params, 0, c.bindings) });
    return { kind: 'dispatch', replayed: false, label: c.pipeline.label, pipeline: c.pipeline, group, x, y, bindings: c.bindings.map(bindingOf) };
  }

  // ---- recording and submission -------------------------------------------

  private dispatch(kernel: string, variant: KernelVariant, bindings: Binding[], u: number[], f: number[], groups: number): void {
    if (groups <= 0) return;
    this.record({ kind: 'dispatch', pipeline: this.kernels.get(kernel, variant), bindings, u, f, groups });
  }

  /** Every command goes through here, after any held matrix-vector group (which precedes it in order). */
  private record(c: Command): void {
    this.flushPending();
    if (this.rec) { this.rec.cmds.push(c); return; }
    this.recorded.push(c);
    if (this.recorded.length >= MAX_RECORDED) this.submit();
  }

  /** A copy that fills a packed per-layer parameter buffer once: while a step is recorded, it runs before the recording, not in it. */
  private recordOnce(c: Command): void {
    if (this.rec) this.rec.setup.push(c);
    else this.record(c);
  }

  /** Dispatches what is held back (matrix-vector products, then a norm they did not take), in recording order. */
  private flushPending(): void {
    this.flushMatvecs();
    this.flushNorm();
  }

  private flushNorm(): void {
    const n = this.pendingNorm;
    if (!n) return;
    this.pendingNorm = null;
    this.record({ kind: 'dispatch', pipeline: this.kernels.get('rms_norm'), bindings: [n.x, n.weight, n.out], u: [n.rows, n.dim], f: [n.eps], groups: n.rows });
  }

  private flushMatvecs(): void {
    const g = this.pendingMv;
    if (!g) return;
    this.pendingMv = null;
    // The held norm wrote these products' x: they compute it themselves (for the head's ~50k rows only
    // with foldHeadNorm: every workgroup re-reads x and the norm's weight, GPU time against a dispatch).
    const n = this.pendingNorm;
    const total = g.items.reduce((a, it) => a + it.M, 0);
    if (n && this.normFolds(n, g, total)) {
      this.pendingNorm = null;
      const w = g.items.map((it) => it.w);
      const y: Binding[] = g.items.map((it) => it.y);
      const M = g.items.map((it) => it.M);
      while (w.length < 3) { w.push(this.dummy); y.push(this.dummyOut[y.length - 1]); M.push(0); }
      this.record({
        kind: 'dispatch', pipeline: this.kernels.get(`matvec_multi_norm_${g.kernel}`), bindings: [n.x, ...w, ...y, n.weight, n.out],
        u: [g.rows, g.K, ...M], f: [n.eps], groups: total,
      });
      return;
    }
    if (g.items.length === 1) {
      const it = g.items[0];
      this.record({
        kind: 'dispatch', pipeline: this.kernels.get(`matvec_${g.kernel}`), bindings: [g.x, it.w, this.dummy, it.y],
        u: [g.rows, g.K, it.M, 0, 0, it.M], f: [], groups: it.M,
      });
      return;
    }
    const w = g.items.map((it) => it.w);
    const y: Binding[] = g.items.map((it) => it.y);
    const M = g.items.map((it) => it.M);
    while (w.length < 3) { w.push(this.dummy); y.push(this.dummyOut[y.length - 1]); M.push(0); }
    this.record({
      kind: 'dispatch', pipeline: this.kernels.get(`matvec_multi_${g.kernel}`), bindings: [g.x, ...w, ...y],
      u: [g.rows, g.K, ...M], f: [], groups: M[0] + M[1] + M[2],
    });
  }

  /**
   * argmaxInHead: when the held matrix-vector group is one product of one row into `y` (the head), dispatches
   * it as matvec_argmax_* (matvec_argmax_norm_* where flushMatvecs would fold the held norm in) with a new
   * buffer of each workgroup's best (key, row), `bestOf(bytes)`; null, having done nothing, for any other held
   * work. Not from the pool: the graph frees the head's input (the norm's output) while the product is held,
   * so a pooled buffer could be one the held dispatches still bind.
   */
  private flushHeadArgmax(y: GPUBuffer, bestOf: (bytes: number) => GPUBuffer): { best: GPUBuffer; groups: number; V: number } | null {
    const g = this.pendingMv;
    if (!g || g.items.length !== 1 || g.rows !== 1 || g.items[0].y !== y || (g.x as { offset?: number }).offset) return null;
    const it = g.items[0];
    const groups = Math.ceil(it.M / ARGMAX_ROWS);
    const best = bestOf(8 * groups);
    this.pendingMv = null;
    this.stats.argmaxHeads++;
    const n = this.pendingNorm;
    if (n && this.normFolds(n, g, it.M)) {
      this.pendingNorm = null;
      this.record({ kind: 'dispatch', pipeline: this.kernels.get(`matvec_argmax_norm_${g.kernel}`), bindings: [n.x, it.w, it.y, best, n.weight, n.out], u: [1, g.K, it.M], f: [n.eps], groups });
    } else { // (record dispatches a held norm first)
      this.record({ kind: 'dispatch', pipeline: this.kernels.get(`matvec_argmax_${g.kernel}`), bindings: [g.x, it.w, it.y, best], u: [1, g.K, it.M], f: [], groups });
    }
    return { best, groups, V: it.M };
  }

  /** Whether the held norm `n` is folded into the held products `g` (of `total` rows) when they are dispatched. */
  private normFolds(n: NonNullable<WebGpuBackend['pendingNorm']>, g: NonNullable<WebGpuBackend['pendingMv']>, total: number): boolean {
    return n.out === g.xBuffer && !(g.x as { offset?: number }).offset && n.rows === g.rows && n.dim === g.K && (total <= NORM_FOLD_MAX_ROWS || this.foldHeadNorm);
  }

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) { id = this.nextId++; this.ids.set(o, id); }
    return id;
  }

  /**
   * @internal Benchmarks (bench/webgpu.ts --kernels): the device time, in milliseconds, of the commands `record`
   * records, from timestamps that an empty compute pass writes before them and another after them in one
   * submission — what the kernels and the gaps between them took on the GPU, without the host's recording,
   * encoding and submitting. null where the device has no 'timestamp-query' (requestTimestampQueries, before the
   * device is made). Throws E_ARGUMENT when `record` submits on its own (a read, or more than MAX_RECORDED
   * commands): a timing must cover one submission.
   */
  async gpuMsOf(record: () => void): Promise<number | null> {
    this.assertUsable();
    if (!this.device.features.has('timestamp-query')) return null;
    this.submit(); // what was recorded before is not timed
    const submits = this.stats.submits;
    record();
    this.flushPending();
    if (this.stats.submits !== submits) {
      throw fail('E_ARGUMENT', `webgpu: gpuMsOf's commands went out in more than one submission (a read, or over ${MAX_RECORDED} commands)`);
    }
    if (this.recorded.length === 0) return 0;
    this.timestamps ??= {
      set: this.device.createQuerySet({ type: 'timestamp', count: 2 }),
      resolved: this.device.createBuffer({ label: 'timestamps', size: 16, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC }),
    };
    const readback = this.device.createBuffer({ label: 'timestamps read back', size: 16, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.stats.createBuffers++;
    this.submit(readback);
    const [t0, t1] = new BigUint64Array(await this.mapRead(readback, 16, 'timestamps'));
    return Number(t1 - t0) / 1e6;
  }

  /**
   * Encodes everything recorded into one command encoder and submits it; with `timedInto` (gpuMsOf), between
   * timestamps whose two u64 values land in that buffer.
   */
  private submit(timedInto?: GPUBuffer): void {
    if (this.rec) throw new NotRecordable('a submission (host data or a read) inside a recorded step');
    this.flushPending();
    if (this.recorded.length === 0) return;
    const started = performance.now();
    const cmds = this.recorded;
    this.recorded = [];
    const dev = this.device;
    dev.pushErrorScope('out-of-memory');
    dev.pushErrorScope('validation');
    let nDispatch = 0, replayed = 0;
    for (const c of cmds) {
      if (c.kind === 'dispatch') nDispatch++;
      else if (c.kind === 'replay') replayed += c.step.dispatches;
    }
    if (nDispatch > this.paramSlots) {
      this.params?.destroy();
      this.paramSlots = Math.max(nDispatch, 2 * this.paramSlots, 256);
      this.params = dev.createBuffer({ label: 'dispatch parameters', size: this.paramSlots * PARAM_STRIDE, usage: USAGE.UNIFORM | USAGE.COPY_DST });
      this.lastParams = null;
      this.groups.clear();
    }
    const params = this.params!;
    const host = new ArrayBuffer(Math.max(1, nDispatch) * PARAM_STRIDE);
    const u32 = new Uint32Array(host);
    const f32 = new Float32Array(host);
    const enc = dev.createCommandEncoder();
    const timed = timedInto && this.timestamps;
    if (timed) enc.beginComputePass({ timestampWrites: { querySet: timed.set, beginningOfPassWriteIndex: 0 } }).end();
    let pass: GPUComputePassEncoder | null = null;
    let slot = 0;
    if (this.groups.size > 50_000) this.groups.clear();
    let lastPipeline: GPUComputePipeline | null = null;
    const cap = this.capture ? { commands: [] as CapturedCommand[], dispatches: nDispatch + replayed } : null;
    if (cap) this.capture!.subs.push(cap);
    for (const c of cmds) {
      if (c.kind === 'replay') {
        const r = c.step;
        for (let i = 0; i < r.kinds.length; i++) {
          if (r.kinds[i] !== 0) {
            if (pass) { pass.end(); pass = null; }
            const o = r.other.get(i)!;
            if (cap) cap.commands.push(capturedOther(o));
            if (o.kind === 'clear') { enc.clearBuffer(o.buffer, 0, o.size); this.stats.clears++; }
            else if (o.kind === 'copy') { enc.copyBufferToBuffer(o.src, o.srcOffset ?? 0, o.dst, o.dstOffset, o.size); this.stats.copies++; }
            continue;
          }
          if (!pass) { pass = enc.beginComputePass(); lastPipeline = null; this.stats.passes++; }
          const pipeline = r.pipelines[i]!;
          if (pipeline !== lastPipeline) { pass.setPipeline(pipeline); lastPipeline = pipeline; this.stats.setPipelines++; }
          pass.setBindGroup(0, r.groups[i]!);
          this.stats.setBindGroups++;
          pass.dispatchWorkgroups(r.x[i], r.y[i]);
          if (cap) cap.commands.push({ kind: 'dispatch', replayed: true, label: pipeline.label, pipeline, group: r.groups[i]!, x: r.x[i], y: r.y[i], bindings: r.bindings[i]!.map(bindingOf) });
        }
        continue;
      }
      if (c.kind !== 'dispatch' && cap) cap.commands.push(capturedOther(c));
      if (c.kind === 'clear') {
        if (pass) { pass.end(); pass = null; }
        enc.clearBuffer(c.buffer, 0, c.size);
        this.stats.clears++;
        continue;
      }
      if (c.kind === 'copy') {
        if (pass) { pass.end(); pass = null; }
        enc.copyBufferToBuffer(c.src, c.srcOffset ?? 0, c.dst, c.dstOffset, c.size);
        this.stats.copies++;
        continue;
      }
      packParams(c.u, c.f, u32, f32, (slot * PARAM_STRIDE) / 4);
      let key = `${this.idOf(c.pipeline)}:${slot}`;
      for (const b of c.bindings) key += 'buffer' in b ? `,${this.idOf(b.buffer)}/${b.size}@${b.offset ?? 0}` : `,${this.idOf(b)}`;
      let group = this.groups.get(key);
      if (!group) {
        group = dev.createBindGroup({ layout: c.pipeline.getBindGroupLayout(0), entries: groupEntries(params, slot * PARAM_STRIDE, c.bindings) });
        this.stats.bindGroups++;
        this.groups.set(key, group);
      }
      if (!pass) { pass = enc.beginComputePass(); lastPipeline = null; this.stats.passes++; }
      if (c.pipeline !== lastPipeline) { pass.setPipeline(c.pipeline); lastPipeline = c.pipeline; this.stats.setPipelines++; }
      pass.setBindGroup(0, group);
      this.stats.setBindGroups++;
      const x = Math.min(c.groups, 65535);
      pass.dispatchWorkgroups(x, Math.ceil(c.groups / x));
      if (cap) cap.commands.push(this.capturedDispatch(c, x, Math.ceil(c.groups / x)));
      slot++;
    }
    if (pass) pass.end();
    if (timed) {
      enc.beginComputePass({ timestampWrites: { querySet: timed.set, endOfPassWriteIndex: 1 } }).end();
      enc.resolveQuerySet(timed.set, 0, 2, timed.resolved, 0);
      enc.copyBufferToBuffer(timed.resolved, 0, timedInto!, 0, 16);
    }
    if (nDispatch > 0) {
      const bytes = new Uint8Array(host, 0, nDispatch * PARAM_STRIDE);
      const last = this.lastParams;
      if (!(last && nDispatch <= SMALL_PARAM_WRITE && last.length >= bytes.length && bytes.every((v, i) => v === last[i]))) {
        dev.queue.writeBuffer(params, 0, host, 0, bytes.length);
        this.stats.writeBuffers++;
        this.lastParams = nDispatch <= SMALL_PARAM_WRITE ? bytes.slice() : null;
      }
    }
    dev.queue.submit([enc.finish()]);
    this.scopeMark++;
    this.scopes.push({ mark: this.scopeMark, error: dev.popErrorScope() }, { mark: this.scopeMark, error: dev.popErrorScope() });
    this.stats.submits++;
    this.stats.dispatches += nDispatch + replayed;
    this.stats.encodeMs += performance.now() - started;
  }

  // ---- helpers -------------------------------------------------------------

  private f32(t: Tensor): GpuTensor {
    const g = t as GpuTensor;
    if (g.dtype !== 'f32') throw fail('E_DTYPE', `webgpu: expected an f32 tensor, got ${g.dtype}`);
    if (g.store.freed) throw fail('E_ARGUMENT', `webgpu: a [${g.shape}] tensor was used after free`);
    return g;
  }

  /** Binding for a (single-part) f32 tensor, or the 16-byte dummy for an absent optional operand. */
  private bind(t: Tensor | null | undefined): Binding {
    if (!t) return this.dummy;
    const g = this.f32(t);
    if (g.store.buffers.length > 1) {
      throw fail('E_MEMORY', `webgpu: a [${g.shape}] tensor is split across bindings (${g.store.buffers.length} parts); only matmul and embedding take split weights`);
    }
    return { buffer: g.buffer, size: Math.max(4, g.store.partBytes[0]), offset: g.store.offset };
  }

  /** Binding for part `p` of a weight (a row view's part 0 starts at its offset in the viewed buffer). */
  private part(w: GpuTensor, p: number): { buffer: GPUBuffer; size: number; offset: number } {
    return { buffer: w.store.buffers[p], size: w.store.partBytes[p], offset: p === 0 ? w.store.offset : 0 };
  }

  private scratch(elements: number, what: string): GPUBuffer {
    return this.allocBuffer(Math.max(4, elements * 4), what);
  }

  private release(...bufs: GPUBuffer[]): void {
    this.free(new GpuTensor([0], 'f32', new Store(bufs, 0, [])));
  }

  // ---- ops -----------------------------------------------------------------

  embedding(table: Tensor, ids: Int32Array): Tensor {
    this.assertUsable();
    const t = table as GpuTensor;
    const [vocab, dim] = t.shape;
    // A device-sampled token (deviceSampling.ids): its id is read where sample_top_k wrote it, on the
    // device — always a row of the table (top_k only yields indices of the [1, V] logits).
    const rec = this.rec;
    if (rec) { // a recorded step: the ids go to a buffer of the recording, written (or copied on the device) by each run
      if (rec.ids) throw new NotRecordable('a second embedding lookup in one step');
      rec.ids = this.allocBuffer(ids.length * 4, 'recorded token ids');
      [rec.count, rec.vocab] = [ids.length, vocab];
    }
    const onDevice = rec ? undefined : this.deviceIds.get(ids);
    if (onDevice?.released) throw fail('E_ARGUMENT', 'webgpu: a device-sampled token was used after release');
    if (!onDevice && !rec) for (const id of ids) if (id < 0 || id >= vocab) throw fail('E_TOKEN', `token id ${id} is outside the vocabulary [0, ${vocab})`);
    const out = this.tensor([ids.length, dim]);
    const idBuf = rec ? rec.ids! : onDevice ? onDevice.buffer : this.allocBuffer(ids.length * 4, 'token ids');
    const idAt = onDevice ? 1 + 2 * onDevice.k : 0;
    if (!onDevice && !rec) this.writeWords(idBuf, ids);
    t.store.buffers.forEach((buf, p) => {
      const rowStart = p * t.store.partRows;
      const rows = Math.min(t.store.partRows, vocab - rowStart);
      this.dispatch('embedding', { weights: this.loader(t) }, [idBuf, this.part(t, p), out.buffer],
        [ids.length, dim, rowStart, rows, idAt, 0, 0, 0, 0, 0, 0, this.q8Offset(t, rows * dim)], [], Math.ceil((ids.length * dim) / 256));
    });
    if (!onDevice && !rec) this.release(idBuf);
    return out;
  }

  private loader(w: GpuTensor): WeightLoader {
    if (w.dtype === 'f32' || w.dtype === 'f16' || w.dtype === 'q8_0') return w.dtype;
    throw fail('E_DTYPE', `webgpu: cannot read ${w.dtype} weights`);
  }

  /** q8_0 parts hold their scales first: the word where the int8 values start. */
  private q8Offset(w: GpuTensor, partElements: number): number {
    return w.dtype === 'q8_0' ? w.store.q8Values ?? partElements / Q8_BLOCK : 0;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    this.assertUsable();
    const dim = checkRowWeight('rmsNorm', x, weight);
    const rows = numel(x.shape) / dim;
    const out = this.tensor(x.shape);
    if (rows <= MATVEC_ROWS && dim % 4 === 0 && this.foldNorms) {
      this.flushPending(); // the held commands come first
      this.pendingNorm = { x: this.bind(x), weight: this.bind(weight), eps, rows, dim, out: out.buffer };
      return out;
    }
    this.dispatch('rms_norm', {}, [this.bind(x), this.bind(weight), out.buffer], [rows, dim], [eps], rows);
    return out;
  }

  gatedRmsNorm(x: Tensor, gate: Tensor, weight: Tensor, eps: number, groupSize: number): Tensor {
    this.assertUsable();
    const dim = checkRowWeight('gatedRmsNorm', x, weight);
    checkSameShape('gatedRmsNorm', x, gate);
    if (groupSize <= 0 || dim % groupSize !== 0) throw fail('E_SHAPE', `gatedRmsNorm: group size ${groupSize} does not divide ${dim}`);
    const groups = numel(x.shape) / groupSize;
    const out = this.tensor(x.shape);
    this.dispatch('gated_rms_norm', {}, [this.bind(x), this.bind(gate), this.bind(weight), out.buffer], [groups, groupSize, dim], [eps], groups);
    return out;
  }

  matmul(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
    this.assertUsable();
    const { rows, inner: K, outCols: M } = checkMatmul(x, w, bias);
    const wt = w as GpuTensor;
    const out = this.tensor([...x.shape.slice(0, -1), M]);
    const loader = this.loader(wt);
    const vec = loader === 'f32' && K % 4 === 0 ? 'f32x4' : loader === 'f16' && K % 8 === 0 ? 'f16x8' : null;
    if (rows <= MATVEC_ROWS && vec && !bias && wt.store.buffers.length === 1) {
      // Held: merged with the matrix-vector products over the same x recorded right after it.
      const xb = this.bind(x) as { buffer: GPUBuffer; size: number; offset: number };
      const item = { w: this.part(wt, 0), y: out.buffer, M };
      // A held norm that this product does not read (or whose input this product's output reuses) goes first.
      const n = this.pendingNorm;
      if (n && (n.out !== xb.buffer || xb.offset !== 0 || (n.x as { buffer: GPUBuffer }).buffer === out.buffer)) this.flushPending();
      const g = this.pendingMv;
      if (g && g.xBuffer === xb.buffer && (g.x as { offset?: number }).offset === xb.offset && g.kernel === vec && g.K === K && g.rows === rows && g.items.length < 3 && out.buffer !== g.xBuffer) {
        g.items.push(item);
      } else {
        this.flushMatvecs();
        this.pendingMv = { x: xb, xBuffer: xb.buffer, kernel: vec, K, rows, items: [item] };
      }
      return out;
    }
    wt.store.buffers.forEach((buf, p) => {
      const col0 = p * wt.store.partRows;
      const m = Math.min(wt.store.partRows, M - col0);
      const wBind = this.part(wt, p);
      const u = (r: number) => [r, K, m, col0, bias ? 1 : 0, M, 0, 0, 0, 0, 0, this.q8Offset(wt, m * K)];
      if (rows <= MATVEC_ROWS) {
        // Decode streams the weights: 16-byte loads where the row length allows.
        const [kernel, variant] = loader === 'f32' && K % 4 === 0 ? ['matvec_f32x4', {}]
          : loader === 'f16' && K % 8 === 0 ? ['matvec_f16x8', {}] : ['matvec', { weights: loader }];
        this.dispatch(kernel, variant, [this.bind(x), wBind, this.bind(bias), out.buffer], u(rows), [], m);
      } else {
        const tiles = Math.ceil(rows / 64) * Math.ceil(m / 64);
        this.dispatch('matmul', { weights: loader }, [this.bind(x), wBind, this.bind(bias), out.buffer], u(rows), [], tiles);
      }
    });
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    this.assertUsable();
    checkSameShape('add', a, b);
    const n = numel(a.shape);
    const out = this.tensor(a.shape);
    this.dispatch('add', {}, [this.bind(a), this.bind(b), out.buffer], [n], [], Math.ceil(n / 256));
    return out;
  }

  conv1dCausal(args: Conv1dArgs): Tensor {
    this.assertUsable();
    const { batch, seq, channels, kernel } = checkConv1d(args);
    const out = this.tensor(args.x.shape);
    const u = [batch, seq, channels, kernel, args.bias ? 1 : 0, args.silu ? 1 : 0];
    const n = batch * seq * channels;
    this.dispatch('conv1d_causal', {}, [this.bind(args.x), this.bind(args.weight), this.bind(args.bias), this.bind(args.state), out.buffer], u, [], Math.ceil(n / 256));
    if (kernel > 1) this.dispatch('conv1d_state', {}, [this.bind(args.x), this.bind(args.state)], u, [], Math.ceil((batch * channels) / 256));
    return out;
  }

  conv1dCausalStep(args: Conv1dArgs): Tensor {
    this.assertUsable();
    const { batch, seq, channels, kernel } = checkConv1d(args);
    checkOneToken('conv1dCausalStep', seq);
    const out = this.tensor(args.x.shape);
    const u = [batch, 1, channels, kernel, args.bias ? 1 : 0, args.silu ? 1 : 0];
    this.dispatch('conv1d_step', {}, [this.bind(args.x), this.bind(args.weight), this.bind(args.bias), this.bind(args.state), out.buffer], u, [], Math.ceil((batch * channels) / 256));
    return out;
  }

  /**
   * Mamba-1 selective scan, chunked: (1) every chunk runs from h = 0 in parallel, (2) one pass
   * carries the state across chunks, (3) every chunk reruns from its entering state and emits y.
   * The recurrence is linear in h, so this equals the sequential walk (reference backend) up to f32
   * rounding. T = 1 uses the fused step kernel. scanMode 'chunked' runs the tiled kernels
   * (selective_scan_chunk_tiled, _carry_batched, _out_tiled: chunk length scanChunk.mamba1; 5× the
   * first ones on an H100 at 16k tokens, 40–53 % of a copy's bandwidth);
   * 'chunked-v1' the first ones (selective_scan_chunk, _carry, _out; 64-token chunks), also used
   * for states larger than SCAN_TILED_MAX_N.
   */
  selectiveScan(args: SelectiveScanArgs): Tensor {
    this.assertUsable();
    const { batch, seq, inner, stateSize } = checkSelectiveScan(args);
    if (seq === 1) return this.selectiveScanStep(args);
    if (this.scanMode === 'sequential') return this.scanWalk(args, batch, seq, inner, stateSize);
    const tiled = this.scanMode === 'chunked' && stateSize <= SCAN_TILED_MAX_N;
    const L = tiled ? Math.max(1, Math.floor(this.scanChunk.mamba1)) : SCAN_CHUNK;
    const nC = Math.ceil(seq / L);
    const y = this.tensor([batch, seq, inner]);
    const hc = this.scratch(batch * nC * inner * stateSize, 'scan chunk states');
    const sd = this.scratch(batch * nC * inner, 'scan chunk decays');
    const iBlocks = Math.ceil(inner / 64);
    const u = [batch, seq, inner, stateSize, L, nC, iBlocks];
    const NS = stateSize;
    const a = args;
    const [chunk, carry, out] = tiled ? ['selective_scan_chunk_tiled', 'selective_scan_carry_batched', 'selective_scan_out_tiled'] : ['selective_scan_chunk', 'selective_scan_carry', 'selective_scan_out'];
    const perChunk = tiled ? batch * nC * iBlocks : Math.ceil((batch * nC * inner) / 64);
    const passes = tiled ? this.scanPasses : Infinity;
    this.dispatch(chunk, { NS }, [this.bind(a.x), this.bind(a.dt), this.bind(a.dtBias), this.bind(a.A), this.bind(a.B), hc, sd], u, [], perChunk);
    if (passes > 1) this.dispatch(carry, {}, [this.bind(a.A), hc, sd, this.bind(a.state)], u, [], Math.ceil((batch * inner * stateSize) / 64));
    if (passes > 2) this.dispatch(out, { NS }, [
      ...this.mamba1ScanBindings(a), hc, y.buffer,
    ], u, [], perChunk);
    this.release(hc, sd);
    return y;
  }

  selectiveScanStep(args: SelectiveScanArgs): Tensor {
    this.assertUsable();
    const { batch, seq, inner, stateSize } = checkSelectiveScan(args);
    checkOneToken('selectiveScanStep', seq);
    return this.scanWalk(args, batch, 1, inner, stateSize);
  }

  /**
   * A Mamba-1 scan's x, dt, dtBias, A, B, C, D, z: bindings 1-8 of every kernel that emits y, in the order of
   * include/mamba1_scan_inputs.wgsl + mamba1_scan_gate_inputs.wgsl.
   */
  private mamba1ScanBindings(a: SelectiveScanArgs): Binding[] {
    return [a.x, a.dt, a.dtBias, a.A, a.B, a.C, a.D, a.z].map((t) => this.bind(t));
  }

  /** selective_scan_step over `seq` tokens: one thread per (b, i) walks them in order (T = 1: decode). */
  private scanWalk(a: SelectiveScanArgs, batch: number, seq: number, inner: number, stateSize: number): Tensor {
    const y = this.tensor([batch, seq, inner]);
    this.dispatch('selective_scan_step', { NS: stateSize }, [
      ...this.mamba1ScanBindings(a), this.bind(a.state), y.buffer,
    ], [batch, seq, inner, stateSize], [], Math.ceil((batch * inner) / 64));
    return y;
  }

  /**
   * Mamba-2 SSD, chunked (Dao & Gu 2024 §6): per block of tokens the quadratic matrix form
   * (C·Bᵀ per group, times the per-head decay exp(a_t − a_s)·Δ_s), the block's end state, a pass
   * that carries the state across blocks, then the output adds the entering state's contribution.
   * scanMode 'chunked': four dispatches (ssd_chunk_state, ssd_chunk_carry, ssd_chunk_cb once per group,
   * ssd_chunk_out; blocks of scanChunk.ssd tokens), the decay matrix built in workgroup memory and
   * never stored, the products register-tiled. 'chunked-v1': the first six (ssd_dt, ssd_cb, ssd_decay, ssd_state, ssd_carry,
   * ssd_out; 64-token blocks) that write both L × L matrices of every block to memory.
   * Mathematically equal to the reference's form at any block length; only f32 rounding differs.
   */
  ssdChunkScan(args: SsdScanArgs): Tensor {
    this.assertUsable();
    const { batch: B, seq: T, numHeads: H, headDim: P, stateSize: N, nGroups: G } = checkSsdScan(args);
    if (T === 1) return this.ssdStep(args);
    if (this.scanMode === 'sequential') return this.ssdWalk(args, B, T, H, P, N, G);
    if (this.scanMode === 'chunked-v1') return this.ssdChunkedV1(args, B, T, H, P, N, G);
    const L = Math.min(Math.max(1, Math.floor(this.scanChunk.ssd)), SSD_MAX_CHUNK, T);
    const nC = Math.ceil(T / L);
    const RQ = this.ssdRowsPerThread === 8 ? 2 : 1;
    const nTiles = Math.ceil(N / (64 * RQ)), pTiles = Math.ceil(P / 64), tTiles = Math.ceil(L / (64 * RQ)), cbTiles = Math.ceil(L / 64);
    const y = this.tensor([B, T, H * P]);
    const hs = this.scratch(B * nC * H * N * P, 'ssd chunk states');
    const aEnd = this.scratch(B * nC * H, 'ssd chunk decays');
    const cb = this.scratch(B * nC * G * L * L, 'ssd C·Bᵀ');
    const f = [args.dtMin, Math.min(args.dtMax, F32_MAX)];
    const a = args;
    const dtIn = [this.bind(a.x), this.bind(a.dt), this.bind(a.dtBias), this.bind(a.A)];
    this.dispatch('ssd_chunk_state', { RQ }, [...dtIn, this.bind(a.B), hs, aEnd], [B, T, H, P, N, G, L, nC, nTiles, pTiles], f, B * nC * H * nTiles * pTiles);
    const passes = this.scanPasses;
    if (passes > 1) this.dispatch('ssd_chunk_carry', {}, [aEnd, hs, this.bind(a.state)], [B, T, H, P, N, G, L, nC], f, Math.ceil((B * H * N * P) / 256));
    if (passes > 2) this.dispatch('ssd_chunk_cb', {}, [this.bind(a.B), this.bind(a.C), cb], [B, T, H, P, N, G, L, nC, cbTiles], f, B * nC * G * cbTiles * cbTiles);
    if (passes > 3) this.dispatch('ssd_chunk_out', { RQ }, [...dtIn, cb, this.bind(a.C), this.bind(a.D), hs, y.buffer], [B, T, H, P, N, G, L, nC, tTiles, pTiles], f, B * nC * H * tTiles * pTiles);
    this.release(hs, aEnd, cb);
    return y;
  }

  /** The first chunked SSD (scanMode 'chunked-v1'): six dispatches, 64-token blocks. */
  private ssdChunkedV1(a: SsdScanArgs, B: number, T: number, H: number, P: number, N: number, G: number): Tensor {
    const L = Math.min(SCAN_CHUNK, T);
    const nC = Math.ceil(T / L);
    const y = this.tensor([B, T, H * P]);
    const dl = this.scratch(B * T * H, 'ssd Δ');
    const ac = this.scratch(B * T * H, 'ssd cumulative decay');
    const wt = this.scratch(B * T * H, 'ssd end-state weights');
    const cb = this.scratch(B * nC * G * L * L, 'ssd C·Bᵀ');
    const dec = this.scratch(B * nC * H * L * L, 'ssd decay matrix');
    const hs = this.scratch(B * nC * H * P * N, 'ssd chunk states');
    const u = [B, T, H, P, N, G, L, nC];
    const f = [a.dtMin, Math.min(a.dtMax, F32_MAX)];
    this.dispatch('ssd_dt', {}, [this.bind(a.dt), this.bind(a.dtBias), this.bind(a.A), dl, ac, wt], u, f, Math.ceil((B * nC * H) / 64));
    this.dispatch('ssd_cb', {}, [this.bind(a.B), this.bind(a.C), cb], u, f, Math.ceil((B * nC * G * L * L) / 256));
    this.dispatch('ssd_decay', {}, [dl, ac, dec], u, f, Math.ceil((B * nC * H * L * L) / 256));
    this.dispatch('ssd_state', {}, [this.bind(a.x), this.bind(a.B), wt, hs], u, f, Math.ceil((B * nC * H * P * N) / 256));
    this.dispatch('ssd_carry', {}, [ac, hs, this.bind(a.state)], u, f, Math.ceil((B * H * P * N) / 256));
    this.dispatch('ssd_out', {}, [this.bind(a.x), this.bind(a.C), this.bind(a.D), ac, cb, dec, hs, y.buffer], u, f, Math.ceil((B * T * H * P) / 256));
    this.release(dl, ac, wt, cb, dec, hs);
    return y;
  }

  ssdStep(args: SsdScanArgs): Tensor {
    this.assertUsable();
    const { batch: B, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G } = checkSsdScan(args);
    checkOneToken('ssdStep', seq);
    return this.ssdWalk(args, B, 1, H, P, N, G);
  }

  /** ssd_step over T tokens: one thread per (b, head, p) walks them in order (T = 1: decode). */
  private ssdWalk(a: SsdScanArgs, B: number, T: number, H: number, P: number, N: number, G: number): Tensor {
    const y = this.tensor([B, T, H * P]);
    this.dispatch('ssd_step', {}, [
      this.bind(a.x), this.bind(a.dt), this.bind(a.dtBias), this.bind(a.A), this.bind(a.B), this.bind(a.C), this.bind(a.D), this.bind(a.state), y.buffer,
    ], [B, T, H, P, N, G], [a.dtMin, Math.min(a.dtMax, F32_MAX)], Math.ceil((B * H * P) / 64));
    return y;
  }

  /**
   * Mamba-1 decode token, `residual + mixer(x)`, in five dispatches after the norm (Backend.mambaMixerStep):
   *   1. in_proj's x and z halves: one matrix-vector dispatch (matvec_multi, the merged matmuls)
   *   2. conv1d_step (silu, window shift)
   *   3. x_proj's dt / B / C row blocks: one matrix-vector dispatch
   *   4. mamba1_scan_step: dt_proj, softplus, scan, D skip, silu(z) gate
   *   5. out_proj with the residual as a per-row addend (matvec's bias slot)
   * against seven unfused (dt_proj, scan, out_proj and the add each a dispatch). With foldDecode, 1–2 and
   * the layer's norm are one dispatch (mamba1_in_proj_*): 4 a layer; with xProjPartials also 3 (its
   * workgroups write x_proj's split-K partial sums, mamba1_in_proj_xp_*, which the scan step adds up):
   * 3 a layer — norm + in_proj + conv + x_proj, dt_proj + scan + gate, out_proj + residual. Declines (null →
   * the graph's unfused ops) for batch > 8 and an out_proj bias.
   * (A first version also folded the conv into x_proj — each of x_proj's 80 workgroups recomputing
   * the conv over all I channels, 4 dispatches per layer — and decoded slower on an H100 than the
   * unfused ops: BENCHMARKS.md, WebGPU. This one keeps conv1d_step and x_proj's merged matvec.)
   */
  mambaMixerStep(a: MambaMixerStepArgs): Tensor | null {
    this.assertUsable();
    const [Bt, T, Dm] = a.x.shape;
    const [I] = a.convWeight.shape;
    const [R] = a.xProjDt.shape;
    const [N] = a.xProjB.shape;
    const single = (t: Tensor) => (t as GpuTensor).store.buffers.length === 1;
    if (T !== 1 || Bt > MATVEC_ROWS || a.outProjBias || !single(a.dtProjWeight) || !single(a.outProj) || a.dtProjWeight.shape[1] !== R) return null;
    checkSameShape('mambaMixerStep', a.x, a.residual);
    if (numel(a.ssmState.shape) !== Bt * I * N || a.A.shape[1] !== N) {
      throw fail('E_SHAPE', `mambaMixerStep: ssm state [${a.ssmState.shape}] does not fit B=${Bt}, I=${I}, N=${N}`);
    }
    const folded = this.foldDecode ? this.mamba1InProj(a, Bt, Dm, I) : null;
    const xIn = folded ? null : this.matmul(a.x, a.inProjX, a.inProjXBias);
    const z = folded ? folded.z : this.matmul(a.x, a.inProjZ, a.inProjZBias);
    const u = folded ? folded.u : this.conv1dCausalStep({ x: xIn!, weight: a.convWeight, bias: a.convBias, state: a.convState, silu: true });
    const y = this.tensor([Bt, 1, I]);
    const wDt = a.dtProjWeight as GpuTensor;
    const partials = folded?.partials ?? null;
    const dtLow = partials ?? this.matmul(u, a.xProjDt);
    const Bm = partials ? null : this.matmul(u, a.xProjB);
    const Cm = partials ? null : this.matmul(u, a.xProjC);
    // partials: x_proj's split-K sums, ⌈I / 16⌉ blocks of R + 2N values a sequence; S threads a value add them up
    const nb = Math.ceil(I / XPROJ_BLOCK), J = R + 2 * N;
    const S = J <= 128 ? Math.min(nb, Math.floor(256 / J)) : 1;
    // Each scan workgroup re-reads all nb·J partials: for wide layers a workgroup takes G groups of 16
    // channels in turn, keeping ≥ XPROJ_SCAN_GROUPS workgroups a sequence (mamba-130m: G = 1, 96; mamba-1.4b: G = 4, 64).
    const G = Math.max(1, Math.floor(nb / XPROJ_SCAN_GROUPS));
    this.dispatch('mamba1_scan_step', { NS: N, weights: this.loader(wDt) }, [
      this.bind(u), this.part(wDt, 0), this.bind(dtLow), this.bind(Bm), this.bind(Cm),
      this.packBiasD(a.dtProjBias, a.D, I), this.bind(a.A), this.bind(z), this.bind(a.ssmState), y.buffer,
    ], [Bt, 1, I, R, partials ? 1 : 0, nb, S, G, 0, 0, 0, this.q8Offset(wDt, I * R)], [],
    partials ? Bt * Math.ceil(I / (XPROJ_BLOCK * G)) : Math.ceil((Bt * I) / 16)); // 16 channels at a time (of one sequence with partials), 16 threads each
    const out = this.matvecPlus(y, a.outProj as GpuTensor, a.residual, Dm);
    this.free(xIn, z, u, dtLow, Bm, Cm, y, folded?.all);
    return out;
  }

  /**
   * Mamba-1 decode: in_proj's x and z rows and the conv step in one dispatch (mamba1_in_proj_*), with
   * the layer's norm folded in when it is the held norm (pendingNorm) that wrote `x`. Null (the
   * separate dispatches) for in_proj biases, split or q8_0 weights and row lengths the vec4 loads skip.
   */
  private mamba1InProj(a: MambaMixerStepArgs, rows: number, D: number, I: number): { u: Tensor; z: Tensor; partials?: Tensor; all?: Tensor } | null {
    const wx = a.inProjX as GpuTensor, wz = a.inProjZ as GpuTensor;
    if (a.inProjXBias || a.inProjZBias || wx.dtype !== wz.dtype || wx.store.buffers.length !== 1 || wz.store.buffers.length !== 1) return null;
    if (wx.shape[0] !== I || wz.shape[0] !== I || wx.shape[1] !== D || wz.shape[1] !== D) return null;
    const kernel = wx.dtype === 'f32' && D % 4 === 0 ? 'f32x4' : wx.dtype === 'f16' && D % 8 === 0 ? 'f16x8' : null;
    if (!kernel) return null;
    const K = a.convWeight.shape[1];
    if (numel(a.convState.shape) !== rows * I * (K - 1)) {
      throw fail('E_SHAPE', `mambaMixerStep: conv state [${a.convState.shape}] does not fit B=${rows}, I=${I}, K=${K}`);
    }
    const xb = this.bind(a.x) as { buffer: GPUBuffer };
    const p = this.pendingNorm;
    const n = p && !this.pendingMv && p.out === xb.buffer && p.rows === rows && p.dim === D ? p : null;
    if (n) this.pendingNorm = null;
    const xProj = this.xProjPartials ? this.xProjWhole(a, a.xProjDt.shape[0], a.xProjB.shape[0], I) : null;
    this.flushPending();
    if (xProj) {
      // One output: u, z and x_proj's partial sums at 256-byte-aligned word offsets (each then bound on its own).
      const nb = Math.ceil(I / XPROJ_BLOCK), words = rows * I, zAt = Math.ceil(words / 64) * 64, pAt = 2 * zAt;
      const all = this.tensor([pAt + rows * nb * xProj.J]);
      const view = (shape: number[], at: number) => new GpuTensor(shape, 'f32', new Store([all.buffer], shape[0], [4 * numel(shape)], 4 * at, null, true));
      this.dispatch(`mamba1_in_proj_xp_${kernel}`, {}, [
        n ? n.x : xb as Binding, this.part(wx, 0), this.part(wz, 0),
        n ? n.weight : this.dummy, n ? n.out : this.dummyOut[0],
        this.bind(a.convWeight), this.bind(a.convBias), this.bind(a.convState), all.buffer, xProj.binding,
      ], [rows, D, I, K, n ? 1 : 0, a.convBias ? 1 : 0, zAt, pAt, xProj.f16 ? 1 : 0, xProj.J], [n ? n.eps : 0], 2 * nb);
      return { u: view([rows, 1, I], 0), z: view([rows, 1, I], zAt), partials: view([rows, nb, xProj.J], pAt), all };
    }
    const u = this.tensor([rows, 1, I]), z = this.tensor([rows, 1, I]);
    this.dispatch(`mamba1_in_proj_${kernel}`, {}, [
      n ? n.x : xb as Binding, this.part(wx, 0), this.part(wz, 0),
      n ? n.weight : this.dummy, n ? n.out : this.dummyOut[0],
      this.bind(a.convWeight), this.bind(a.convBias), this.bind(a.convState), u.buffer, z.buffer,
    ], [rows, D, I, K, n ? 1 : 0, a.convBias ? 1 : 0], [n ? n.eps : 0], 2 * I);
    return { u, z };
  }

  /**
   * Mamba-2 decode token, `residual + mixer(x)`, in six dispatches after the norm
   * (Backend.mamba2MixerStep), against nine unfused:
   *   1–2. in_proj's z, x, B and C, dt row blocks: two matrix-vector dispatches (merged matmuls)
   *   3. conv1d_step_pair: B's and C's conv steps (silu, window shifts)
   *   4. mamba2_scan_step: x's conv step, then the SSD step (Δ clamp, decay, D skip)
   *   5. gated_rms_norm with z
   *   6. out_proj with the residual as a per-row addend
   * With the folds (foldNorms, foldDecode: the layer's norm into 1, 5 into 6) and fuseInProj at batch 1
   * (in_proj's parts are row views of one buffer; their outputs' offsets 256-byte aligned, as in every
   * published Mamba-2), three: mamba2_in_proj_* (norm, the whole in_proj, the x / B / C conv steps),
   * mamba2_scan_step (x already convolved), matvec_gnorm_* (gated norm, out_proj, residual).
   * Declines (null → the graph's unfused ops) for batch > 8, an out_proj bias, split weights.
   */
  mamba2MixerStep(a: Mamba2MixerStepArgs): Tensor | null {
    this.assertUsable();
    const [Bt, T, Dm] = a.x.shape;
    const { numHeads: H, headDim: P, nGroups: G, stateSize: N } = a;
    const I = H * P, GN = G * N;
    const [, K] = a.convX.shape;
    const single = (t: Tensor) => (t as GpuTensor).store.buffers.length === 1;
    if (T !== 1 || Bt > MATVEC_ROWS || a.outProjBias || !single(a.outProj) || a.convX.shape[0] !== I || a.convB.shape[0] !== GN) return null;
    checkSameShape('mamba2MixerStep', a.x, a.residual);
    if (numel(a.ssmState.shape) !== Bt * I * N || numel(a.convXState.shape) !== Bt * I * (K - 1) || numel(a.convBState.shape) !== Bt * GN * (K - 1)) {
      throw fail('E_SHAPE', `mamba2MixerStep: states [${a.convXState.shape}], [${a.convBState.shape}], [${a.ssmState.shape}] do not fit B=${Bt}, H=${H}, P=${P}, G=${G}, N=${N}, K=${K}`);
    }
    const bias = a.inProjBias;
    const whole = this.fuseInProj && !bias && Bt === 1 ? this.adjacentRows([a.inProjZ, a.inProjX, a.inProjB, a.inProjC, a.inProjDt]) : null;
    let all: GpuTensor | null = null;
    let z: Tensor, xIn: Tensor, BIn: Tensor, CIn: Tensor, dt: Tensor;
    // foldDecode: the x / B / C conv steps too (mamba2_in_proj_*), so no conv1d_step_pair and no conv in the scan step.
    const convolved = whole && this.foldDecode ? this.mamba2InProj(a, whole, Dm, I, GN, H, K) : null;
    if (whole) {
      // One product over all rows (the held norm folds into it as into the split ones); the parts are views of its output.
      all = convolved ?? this.matmul(a.x, whole) as GpuTensor;
      const at = (start: number, count: number) => new GpuTensor([1, 1, count], 'f32', new Store([all!.buffer], 1, [4 * count], 4 * start, null, true));
      [z, xIn, BIn, CIn, dt] = [at(0, I), at(I, I), at(2 * I, GN), at(2 * I + GN, GN), at(2 * I + 2 * GN, H)];
    } else {
      z = this.matmul(a.x, a.inProjZ, bias?.z);
      xIn = this.matmul(a.x, a.inProjX, bias?.x);
      BIn = this.matmul(a.x, a.inProjB, bias?.B);
      CIn = this.matmul(a.x, a.inProjC, bias?.C);
      dt = this.matmul(a.x, a.inProjDt, bias?.dt);
    }
    const Bm = (convolved ? BIn : this.tensor([Bt, 1, GN])) as GpuTensor;
    const Cm = (convolved ? CIn : this.tensor([Bt, 1, GN])) as GpuTensor;
    const cb = a.convBias;
    if (!convolved) this.dispatch('conv1d_step_pair', {}, [
      this.bind(BIn), this.bind(CIn), this.bind(a.convB), this.bind(a.convC), this.bind(cb?.B), this.bind(cb?.C),
      this.bind(a.convBState), this.bind(a.convCState), Bm.buffer, Cm.buffer,
    ], [Bt, 1, GN, K, cb ? 1 : 0], [], Math.ceil((2 * Bt * GN) / 256));
    const y = this.tensor([Bt, 1, I]);
    this.dispatch('mamba2_scan_step', {}, [
      this.bind(xIn), this.bind(a.convX), this.bind(cb?.x), this.bind(a.convXState), this.bind(dt), this.packHeads(a.dtBias, a.A, a.D, H),
      this.bind(Bm), this.bind(Cm), this.bind(a.ssmState), y.buffer,
    ], [Bt, 1, H, P, N, G, K, cb ? 1 : 0, convolved ? 1 : 0], [a.dtMin, Math.min(a.dtMax, F32_MAX)], Math.ceil((Bt * I) / 8)); // 8 channels a workgroup, 32 threads each
    const wo = a.outProj as GpuTensor;
    const S = a.normGroupSize, groups = I / S;
    const kernel = wo.dtype === 'f32' && I % 4 === 0 ? 'f32x4' : wo.dtype === 'f16' && I % 8 === 0 ? 'f16x8' : null;
    if (this.foldDecode && kernel && S > 0 && S % 4 === 0 && I % S === 0 && Bt * groups <= 8 && numel(a.norm.shape) === I && wo.shape[1] === I) {
      // The gated norm folded into out_proj (matvec_gnorm_*): one dispatch instead of two.
      const out = this.tensor([Bt, 1, Dm]);
      this.dispatch(`matvec_gnorm_${kernel}`, {}, [this.bind(y), this.bind(z), this.bind(a.norm), this.part(wo, 0), this.bind(a.residual), out.buffer],
        [Bt, I, Dm, S, groups], [a.normEps], Dm);
      this.free(z, xIn, BIn, CIn, dt, Bm, Cm, y, all);
      return out;
    }
    const normed = this.gatedRmsNorm(y, z, a.norm, a.normEps, a.normGroupSize);
    const out = this.matvecPlus(normed, wo, a.residual, Dm);
    this.free(z, xIn, BIn, CIn, dt, Bm, Cm, y, normed, all);
    return out;
  }

  /**
   * Mamba-2 decode, batch 1: the layer's norm (when it is the held one that wrote x), the whole in_proj over
   * the fused weight `whole` and the x / B / C conv steps in one dispatch (mamba2_in_proj_*): its output
   * [1, 1, 2I + 2GN + H] holds z, silu(conv(x)), silu(conv(B)), silu(conv(C)), dt. Null (in_proj alone,
   * then conv1d_step_pair) for weights the vec loads skip and conv states not in one buffer (zerosBlock).
   */
  private mamba2InProj(a: Mamba2MixerStepArgs, whole: GpuTensor, D: number, I: number, GN: number, H: number, K: number): GpuTensor | null {
    const kernel = whole.dtype === 'f32' && D % 4 === 0 ? 'f32x4' : whole.dtype === 'f16' && D % 8 === 0 ? 'f16x8' : null;
    const states = [a.convXState, a.convBState, a.convCState] as GpuTensor[];
    const buffer = states[0].store.buffers[0];
    if (!kernel || K < 1 || states.some((t) => t.store.buffers.length !== 1 || t.store.buffers[0] !== buffer)) return null;
    const convParts = [a.convX, a.convB, a.convC];
    const convBias = a.convBias ? [a.convBias.x, a.convBias.B, a.convBias.C] : null;
    const xb = this.bind(a.x) as { buffer: GPUBuffer; offset: number };
    const p = this.pendingNorm;
    const n = p && !this.pendingMv && p.out === xb.buffer && xb.offset === 0 && p.rows === 1 && p.dim === D ? p : null;
    if (n) this.pendingNorm = null;
    this.flushPending();
    const total = 2 * I + 2 * GN + H;
    const all = this.tensor([1, 1, total]);
    this.dispatch(`mamba2_in_proj_${kernel}`, {}, [
      n ? n.x : xb as Binding, this.part(whole, 0), n ? n.weight : this.dummy, n ? n.out : this.dummyOut[0],
      this.packConv(convParts), convBias ? this.packConv(convBias) : this.dummy, buffer, all.buffer,
    ], [1, D, I, GN, H, K, n ? 1 : 0, convBias ? 1 : 0, ...states.map((t) => t.store.offset / 4)], [n ? n.eps : 0], total);
    return all;
  }

  /** f32 tensors packed back to back in one buffer (once per layer: recordOnce copies), keyed by the first. */
  private packConv(parts: Tensor[]): Binding {
    let p = this.convPacked.get(parts[0]);
    if (!p || p.parts.some((t, i) => t !== parts[i])) {
      const bytes = parts.reduce((s, t) => s + 4 * numel(t.shape), 0);
      const buffer = this.device.createBuffer({ label: 'conv weights x ++ B ++ C', size: bufferBytes(bytes), usage: USAGE.STORAGE | USAGE.COPY_DST });
      this.packed.push(buffer);
      let at = 0;
      for (const t of parts) {
        const g = this.f32(t);
        this.recordOnce({ kind: 'copy', src: g.buffer, srcOffset: g.store.offset, dst: buffer, dstOffset: at, size: 4 * numel(t.shape) });
        at += 4 * numel(t.shape);
      }
      p = { parts: [...parts], buffer, bytes };
      this.convPacked.set(parts[0], p);
    }
    return { buffer: p.buffer, size: p.bytes };
  }

  /**
   * The weights `parts` (row views, rowView) as one [Σ rows, K] weight when they lie back to back in one
   * buffer in this order, f32 / f16 with the vec loads' row lengths, and every part's output offset (its
   * first row × 4 bytes) a multiple of 256 (storage binding offsets); else null.
   */
  private adjacentRows(parts: Tensor[]): GpuTensor | null {
    const ws = parts as GpuTensor[];
    const w0 = ws[0];
    const K = w0.shape[1];
    if (w0.dtype !== 'f32' && w0.dtype !== 'f16') return null;
    const rowBytes = this.bytesFor([K], w0.dtype === 'f16' ? 'f32' : w0.dtype) / (w0.dtype === 'f16' ? 2 : 1);
    let rows = 0, next = w0.store.offset;
    for (const w of ws) {
      if (w.dtype !== w0.dtype || w.shape.length !== 2 || w.shape[1] !== K || w.store.buffers.length !== 1 || w.store.buffers[0] !== w0.store.buffers[0]) return null;
      if (w.store.offset !== next || (4 * rows) % 256 !== 0) return null;
      rows += w.shape[0];
      next += w.shape[0] * rowBytes;
    }
    return new GpuTensor([rows, K], w0.dtype, new Store([w0.store.buffers[0]], rows, [next - w0.store.offset], w0.store.offset, null, true));
  }

  /**
   * x_proj as one [R + 2N, I] weight binding for mamba1_in_proj_xp_* (xProjPartials): its dt / B / C row
   * blocks where they lie back to back in one buffer (row views of one upload), else a copy of them packed
   * on first use (kept for the backend's life, like packBiasD). Null (x_proj's own dispatch) for q8_0 or
   * split weights, f16 blocks that end mid-word, and more than XPROJ_MAX_ROWS rows.
   */
  private xProjWhole(a: MambaMixerStepArgs, R: number, N: number, I: number): { binding: Binding; J: number; f16: boolean } | null {
    const ws = [a.xProjDt, a.xProjB, a.xProjC] as GpuTensor[];
    const dtype = ws[0].dtype, J = R + 2 * N;
    if ((dtype !== 'f32' && dtype !== 'f16') || J > XPROJ_MAX_ROWS) return null;
    const eb = dtype === 'f32' ? 4 : 2;
    const counts = [R, N, N];
    if (ws.some((w, j) => w.dtype !== dtype || w.store.buffers.length !== 1 || w.shape.length !== 2 || w.shape[0] !== counts[j] || w.shape[1] !== I)) return null;
    const f16 = dtype === 'f16', bytes = Math.ceil((J * I * eb) / 4) * 4;
    const buf0 = ws[0].store.buffers[0];
    const adjacent = ws.every((w, j) => w.store.buffers[0] === buf0 && w.store.offset === ws[0].store.offset + eb * I * (j === 0 ? 0 : j === 1 ? R : R + N));
    if (adjacent && ws[0].store.offset + bytes <= buf0.size) return { binding: { buffer: buf0, size: bytes, offset: ws[0].store.offset }, J, f16 };
    if (counts.some((c) => (c * I * eb) % 4 !== 0)) return null; // copies go in whole words
    let p = this.xProjPacked.get(ws[0]);
    if (!p || p.parts[1] !== ws[1] || p.parts[2] !== ws[2]) {
      const buffer = this.device.createBuffer({ label: 'x_proj dt ++ B ++ C', size: Math.max(256, bytes), usage: USAGE.STORAGE | USAGE.COPY_DST });
      this.packed.push(buffer);
      let at = 0;
      ws.forEach((w, j) => {
        const size = counts[j] * I * eb;
        this.recordOnce({ kind: 'copy', src: w.store.buffers[0], srcOffset: w.store.offset, dst: buffer, dstOffset: at, size });
        at += size;
      });
      p = { parts: ws, binding: { buffer, size: bytes } };
      this.xProjPacked.set(ws[0], p);
    }
    return { binding: p.binding, J, f16 };
  }

  /** Per Mamba-2 layer, dt_bias, A and D packed as one [3, H] buffer for mamba2_scan_step (built on first use). */
  private packHeads(dtBias: Tensor, A: Tensor, D: Tensor, H: number): Binding {
    let p = this.biasD.get(dtBias);
    if (!p || p.D !== D) {
      const buffer = this.device.createBuffer({ label: 'dt bias ++ A ++ D', size: Math.max(256, 12 * H), usage: USAGE.STORAGE | USAGE.COPY_DST });
      this.packed.push(buffer);
      [dtBias, A, D].forEach((t, j) => this.recordOnce({ kind: 'copy', src: this.f32(t).buffer, dst: buffer, dstOffset: 4 * j * H, size: 4 * H }));
      p = { D, buffer };
      this.biasD.set(dtBias, p);
    }
    return { buffer: p.buffer, size: 12 * H };
  }

  /** y = x·Wᵀ + add, `add` [rows, M] per row (matvec kernels' bias slot with a row stride). */
  private matvecPlus(x: Tensor, w: GpuTensor, add: Tensor, M: number): Tensor {
    const { rows, inner: K } = checkMatmul(x, w, null);
    const out = this.tensor([...x.shape.slice(0, -1), M]);
    const loader = this.loader(w);
    const [kernel, variant] = loader === 'f32' && K % 4 === 0 ? ['matvec_f32x4', {}]
      : loader === 'f16' && K % 8 === 0 ? ['matvec_f16x8', {}] : ['matvec', { weights: loader }];
    this.dispatch(kernel, variant, [this.bind(x), this.part(w, 0), this.bind(add), out.buffer],
      [rows, K, M, 0, 1, M, M, 0, 0, 0, 0, this.q8Offset(w, M * K)], [], M);
    return out;
  }

  private packBiasD(dtBias: Tensor, D: Tensor, I: number): Binding {
    let p = this.biasD.get(dtBias);
    if (!p || p.D !== D) {
      const buffer = this.device.createBuffer({ label: 'dt bias ++ D', size: Math.max(256, 8 * I), usage: USAGE.STORAGE | USAGE.COPY_DST });
      this.packed.push(buffer);
      this.recordOnce({ kind: 'copy', src: this.f32(dtBias).buffer, dst: buffer, dstOffset: 0, size: 4 * I });
      this.recordOnce({ kind: 'copy', src: this.f32(D).buffer, dst: buffer, dstOffset: 4 * I, size: 4 * I });
      p = { D, buffer };
      this.biasD.set(dtBias, p);
    }
    return { buffer: p.buffer, size: 8 * I };
  }

  // ---- attention family (issue 8): rope, causal GQA attention over a GPU KV cache, SwiGLU, relu² ----

  override createKvCache(batch: number, kvHeads: number, headDim: number, opts: { maxTokens?: number; capacity?: number } = {}): KvCache {
    this.assertUsable();
    const c = new GpuKvCache(batch, kvHeads, headDim, opts.maxTokens ?? Infinity);
    this.reserveKv(c, Math.min(opts.capacity ?? 0, c.maxTokens));
    return c;
  }

  private kv(cache: KvCache): GpuKvCache {
    const c = cache as GpuKvCache;
    if (!(c instanceof GpuKvCache)) throw fail('E_ARGUMENT', 'webgpu: a KV cache from another backend');
    if (c.freed) throw fail('E_ARGUMENT', 'webgpu: a KV cache was used after free');
    return c;
  }

  /** Room for `needed` tokens: new blocks of the grown capacity, the held rows copied once (recorded copies). */
  private reserveKv(c: GpuKvCache, needed: number): void {
    if (needed <= c.capacity) return;
    const cap = grownCapacity(c.capacity, needed, c.maxTokens);
    const { batch: B, kvHeads: G, headDim: Dh } = c;
    const bytes = 4 * B * G * cap * Dh;
    const next = [this.allocBuffer(bytes, 'KV cache K'), this.allocBuffer(bytes, 'KV cache V')];
    const old = [c.k, c.v];
    old.forEach((src, j) => {
      if (!src || c.length === 0) return;
      for (let bg = 0; bg < B * G; bg++) {
        this.record({ kind: 'copy', src, srcOffset: 4 * bg * c.capacity * Dh, dst: next[j], dstOffset: 4 * bg * cap * Dh, size: 4 * c.length * Dh });
      }
    });
    for (const b of old) if (b) this.release(b);
    [c.k, c.v] = next;
    c.capacity = cap;
  }

  override async readKvCache(cache: KvCache): Promise<{ k: Float32Array; v: Float32Array }> {
    const c = this.kv(cache);
    const { batch: B, kvHeads: G, headDim: Dh, length: L, capacity: cap } = c;
    const k = new Float32Array(B * G * L * Dh), v = new Float32Array(k.length);
    if (L === 0) return { k, v };
    const n = B * G * cap * Dh;
    for (const [buf, out] of [[c.k!, k], [c.v!, v]] as const) {
      const all = await this.read(new GpuTensor([n], 'f32', new Store([buf], 1, [4 * n])));
      for (let bg = 0; bg < B * G; bg++) out.set(all.subarray(bg * cap * Dh, (bg * cap + L) * Dh), bg * L * Dh);
    }
    return { k, v };
  }

  override writeKvCache(cache: KvCache, k: Float32Array, v: Float32Array, length: number): void {
    this.assertUsable();
    const c = this.kv(cache);
    checkKvData(c, k, v, length);
    c.length = 0;
    this.reserveKv(c, length);
    c.length = length;
    if (length === 0) return;
    const { batch: B, kvHeads: G, headDim: Dh, capacity: cap } = c;
    for (const [buf, data] of [[c.k!, k], [c.v!, v]] as const) {
      const block = new Float32Array(B * G * cap * Dh);
      for (let bg = 0; bg < B * G; bg++) block.set(data.subarray(bg * length * Dh, (bg + 1) * length * Dh), bg * cap * Dh);
      this.writeWords(buf, block);
    }
  }

  override truncateKvCache(cache: KvCache, length: number): void {
    const c = this.kv(cache);
    if (!Number.isInteger(length) || length < 0 || length > c.length) throw fail('E_ARGUMENT', `truncateKvCache: ${length} is not in [0, ${c.length}]`);
    c.length = length;
  }

  override freeKvCache(cache: KvCache): void {
    const c = cache as GpuKvCache;
    if (c.freed) return;
    c.freed = true;
    for (const b of [c.k, c.v]) if (b) this.release(b);
    c.k = c.v = null;
  }

  override rope(args: RopeArgs): Tensor {
    this.assertUsable();
    const { pairs: R } = checkRope(args);
    const [, T] = args.x.shape;
    const n = numel(args.x.shape);
    const out = this.tensor(args.x.shape);
    if (R === 0) {
      this.dispatch('copy', {}, [this.bind(args.x), out.buffer], [n, 0], [], Math.ceil(n / 256));
      return out;
    }
    const { cos, sin } = ropeTables(args.invFreq, args.position, T);
    const cs = this.allocBuffer(4 * 2 * T * R, 'rope cos/sin');
    const table = new Float32Array(2 * T * R);
    table.set(cos, 0);
    table.set(sin, T * R);
    this.writeWords(cs, table);
    this.dispatch('rope', {}, [this.bind(args.x), cs, out.buffer], [n, args.headDim, args.numHeads, T, R], [], Math.ceil(n / 256));
    this.release(cs);
    return out;
  }

  override attention(args: AttentionArgs): Tensor {
    this.assertUsable();
    if (this.rec) throw new NotRecordable('attention (its KV cache position moves every step)');
    const { batch: B, seq: T, past: P } = checkAttention(args);
    const c = this.kv(args.cache);
    const { numHeads: H, numKvHeads: G, headDim: Dh } = args;
    this.reserveKv(c, P + T);
    const nKv = B * T * G * Dh;
    this.dispatch('kv_append', {}, [this.bind(args.k), this.bind(args.v), c.k!, c.v!], [B, T, G, Dh, c.capacity, P], [], Math.ceil(nKv / 256));
    c.length = P + T;
    const y = this.tensor([B, T, H * Dh]);
    const u = [B, T, H, G, Dh, c.capacity, P];
    const plan = this.attentionPlan(B * T * H, P + T, Dh);
    if (!plan) {
      this.dispatch('attention', {}, [this.bind(args.q), c.k!, c.v!, y.buffer], u, [args.scale], Math.ceil((B * T * H) / 64));
      return y;
    }
    const { splits: S, keysPerSplit: C } = plan;
    const rows = B * T * H;
    const part = this.allocBuffer(4 * rows * S * (Dh + 2), 'attention split partials');
    this.dispatch('attention_split', {}, [this.bind(args.q), c.k!, c.v!, part], [...u, S, C], [args.scale], rows * S);
    this.dispatch('attention_combine', {}, [part, y.buffer], [rows, Dh, S], [], Math.ceil((rows * Dh) / 64));
    this.release(part);
    return y;
  }

  /**
   * Which attention kernel runs, for tests and the old-vs-new comparison in bench: 'auto' (the rule
   * in attentionPlan), 'serial' (attention.wgsl: a thread per query row walking every key) or
   * 'split' (attention_split.wgsl + attention_combine.wgsl). `attentionKeysPerSplit` overrides the
   * split length C (a multiple of 64) so tests can force many splits on short caches.
   */
  attentionKernel: 'auto' | 'serial' | 'split' = 'auto';
  attentionKeysPerSplit: number | undefined = undefined;

  /**
   * The split-K plan for `rows` query rows over at most `keys` keys, or null for the serial kernel.
   * Rule: the serial kernel when the whole cache is at most SERIAL_MAX_KEYS keys (half a 64-key tile:
   * a row's walk is then shorter than the split kernel's second dispatch is worth — a reasoned
   * threshold, to be checked on a real GPU with bench/attention-split.ts; on lavapipe, a CPU, the
   * serial kernel wins at every length because there is no parallelism to gain) or head_dim exceeds the split kernel's
   * 256 register lanes; otherwise splits of C = 256 keys (four 64-key tiles per workgroup), C growing
   * (in steps of 64) only when the partials buffer [rows, S, Dh + 2] would pass 32 MiB — which only long
   * prefills reach, and they have parallelism across rows already (when even one split per row would
   * overflow a binding, the serial kernel runs).
   */
  private attentionPlan(rows: number, keys: number, Dh: number): { splits: number; keysPerSplit: number } | null {
    const SERIAL_MAX_KEYS = 32, MAX_DH = 256, PART_BYTES = 32 << 20;
    const mode = this.attentionKernel;
    if (mode === 'serial' || Dh > MAX_DH || (mode === 'auto' && keys <= SERIAL_MAX_KEYS)) return null;
    let C = this.attentionKeysPerSplit ?? 256;
    if (C <= 0 || C % 64 !== 0) throw fail('E_BACKEND', `webgpu: attentionKeysPerSplit must be a positive multiple of 64, got ${C}`);
    const maxSplits = Math.max(1, Math.floor(Math.min(PART_BYTES, this.maxBinding) / (4 * rows * (Dh + 2))));
    if (Math.ceil(keys / C) > maxSplits) C = 64 * Math.ceil(keys / (64 * maxSplits));
    const splits = Math.ceil(keys / C);
    // Even one split per row may not fit one binding (a very long prefill): the serial kernel needs no partials.
    if (4 * rows * splits * (Dh + 2) > this.maxBinding) return null;
    return { splits, keysPerSplit: C };
  }

  override attentionStep(args: AttentionArgs): Tensor {
    if (args.q.shape[1] !== 1) throw fail('E_SHAPE', `attentionStep takes one token, got T=${args.q.shape[1]}`);
    return this.attention(args);
  }

  override swiglu(gate: Tensor, up: Tensor): Tensor {
    this.assertUsable();
    checkSameShape('swiglu', gate, up);
    const n = numel(gate.shape);
    const out = this.tensor(gate.shape);
    this.dispatch('swiglu', {}, [this.bind(gate), this.bind(up), out.buffer], [n, 0], [], Math.ceil(n / 256));
    return out;
  }

  override relu2(x: Tensor): Tensor {
    this.assertUsable();
    const n = numel(x.shape);
    const out = this.tensor(x.shape);
    this.dispatch('swiglu', {}, [this.bind(x), this.dummy, out.buffer], [n, 1], [], Math.ceil(n / 256));
    return out;
  }

  /**
   * The sparse mixture of SwiGLU experts, all on the device — the host never learns the routes, so
   * neither decode nor prefill waits on a read-back (WebGPU has no synchronous one):
   *   1. router logits (matmul), 2. moe_route: softmax and top-k per row → (expert, weight) per slot
   *      r·K + k, 3. moe_bucket: the slots grouped by expert (offsets + lists, on the device),
   *   4. per expert, gate and up over its slots' rows (moe_matvec for ≤ 8 tokens, moe_matmul's 64×64
   *      tiles above; workgroups past the expert's row count return at once), into [rows·K, I] blocks
   *      every slot of which exactly one expert writes, 5. swiglu over the whole block, 6. per expert,
   *      down the same way into [rows·K, D], 7. moe_combine: Σ_k weight · y in top-k order.
   * 3E + 5 dispatches per call whatever the routes. Expert weights split across bindings run a
   * dispatch per part; inputs whose [rows·K, I] block would pass one binding run in groups of rows.
   */
  override mixtureOfExperts(a: MoeArgs): Tensor {
    this.assertUsable();
    const { rows, dim: D, experts: E, inner: I } = checkMoe(a);
    if (E > MOE_MAX_EXPERTS) throw fail('E_SHAPE', `webgpu: mixtureOfExperts: ${E} experts are above moe_bucket.wgsl's ${MOE_MAX_EXPERTS}`, { field: 'experts' });
    const K = a.topK;
    const x2 = this.reshape(a.x, [rows, D]);
    this.f32(x2);
    const out = this.tensor(a.x.shape);
    // Rows per group: the largest count whose [n·K, max(I, D, E)] blocks fit one binding.
    const group = Math.floor(this.maxBinding / (4 * K * Math.max(I, D, E)));
    if (group < 1) throw fail('E_MEMORY', `webgpu: mixtureOfExperts: one token's ${K} × ${Math.max(I, D)} expert activations do not fit a ${this.maxBinding}-byte binding`);
    for (let r0 = 0; r0 < rows; r0 += group) {
      const n = Math.min(group, rows - r0);
      const xs = n === rows ? x2 : this.sliceRows(x2, r0, n);
      this.moeRows(a, xs, n, r0, out);
      if (xs !== x2) this.free(xs);
    }
    return out;
  }

  /** mixtureOfExperts over n rows `x` [n, D], written to rows r0.. of `out`. */
  private moeRows(a: MoeArgs, x: Tensor, n: number, r0: number, out: GpuTensor): void {
    const E = a.router.shape[0], D = x.shape[1], I = a.gate[0].shape[0], K = a.topK, S = n * K;
    const logits = this.matmul(x, a.router); // [n, E]
    const idx = this.scratch(S, 'expert routes'), weight = this.scratch(S, 'expert weights');
    this.dispatch('moe_route', {}, [this.bind(logits), idx, weight], [n, E, K, a.normalize ? 1 : 0], [], Math.ceil(n / 64));
    const offsets = this.scratch(E + 1, 'expert offsets'), slots = this.scratch(S, 'expert slots');
    this.dispatch('moe_bucket', {}, [idx, offsets, slots], [S, E], [], 1);
    const g = this.tensor([S, I]), u = this.tensor([S, I]);
    for (let e = 0; e < E; e++) {
      this.expertProduct(x, a.gate[e], e, K, n, offsets, slots, g);
      this.expertProduct(x, a.up[e], e, K, n, offsets, slots, u);
    }
    const h = this.swiglu(g, u);
    const y = this.tensor([S, D]);
    for (let e = 0; e < E; e++) this.expertProduct(h, a.down[e], e, 1, n, offsets, slots, y);
    this.dispatch('moe_combine', {}, [{ buffer: weight, size: 4 * S }, this.bind(y), out.buffer], [n, K, D, r0], [], Math.ceil((n * D) / 256));
    this.free(logits, g, u, h, y);
    this.release(idx, weight, offsets, slots);
  }

  /**
   * y[slot] = x[slot / div] · W_eᵀ for expert e's slots (moe_bucket's lists): moe_matvec when at most
   * MATVEC_ROWS tokens (an expert then has at most that many slots), moe_matmul's tiles otherwise,
   * a dispatch per binding part of W_e (its output columns col0..).
   */
  private expertProduct(x: Tensor, w: Tensor, e: number, div: number, tokens: number, offsets: GPUBuffer, slots: GPUBuffer, y: GpuTensor): void {
    const wt = w as GpuTensor;
    const [M, K] = wt.shape;
    const loader = this.loader(wt);
    const few = tokens <= MATVEC_ROWS;
    wt.store.buffers.forEach((buf, p) => {
      const col0 = p * wt.store.partRows;
      const m = Math.min(wt.store.partRows, M - col0);
      const u = [0, K, m, col0, e, M, div, 0, 0, 0, 0, this.q8Offset(wt, m * K)];
      const bindings: Binding[] = [this.bind(x), this.part(wt, p), offsets, slots, y.buffer];
      if (few) this.dispatch('moe_matvec', { weights: loader }, bindings, u, [], m);
      else this.dispatch('moe_matmul', { weights: loader }, bindings, u, [], Math.ceil(tokens / 64) * Math.ceil(m / 64));
    });
  }
}
