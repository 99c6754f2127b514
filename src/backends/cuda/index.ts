/**
 * The cuda backend: the Backend ops mapped onto the addon's kernels (gpu/cuda). Tensors are device
 * allocations held by this class; the addon sees only pointers (BigInts) and sizes.
 *
 * Memory: plain cudaMalloc blocks, pooled by size so decode's per-op outputs reuse the blocks freed
 * by the previous step instead of paying cudaMalloc/cudaFree (which synchronises) per op. Reuse is
 * safe because every op runs on one stream in call order. `dispose` returns every block, pooled or
 * live. Out of device memory: the pool is emptied and the allocation tried once more, then E_MEMORY.
 *
 * Errors from the addon carry a code (E_MEMORY, E_BACKEND, E_SHAPE, E_DTYPE) and become a
 * MambaEdgeError from the call that failed; a kernel that faults while running is reported by the
 * next `read` (the first call that waits for the GPU).
 */
import type { BackendInfo } from '../../api/types.js';
import { PartialBackend } from '../partial.js';
import { fail, MambaEdgeError, type ErrorCode } from '../../errors.js';
import {
  numel,
  type Backend, type Conv1dArgs, type DeviceSampling, type DeviceToken, type LtiScanArgs, type OpName, type RecordedStep, type RecurrentScanArgs, type SelectiveScanArgs,
  type SampledStep, type SsdScanArgs, type Tensor, type WeightDType,
  DeviceKvCache, grownCapacity, type AttentionArgs, type KvCache, type MoeArgs, type RopeArgs,
} from '../backend.js';
import {
  checkConv1d, checkMatmul, checkOneToken, checkRowWeight, checkSameShape, checkSelectiveScan, checkSsdScan,
  checkAttention, checkKvData, checkMoe, checkRope,
} from '../shape-checks.js';
import { ADDON_ENV, type CudaAttentionApi, type CudaDevice } from './addon.js';
import { checkEnv, envValue, parseSwitch, type EnvSpec } from '../env.js';
import type { SamplerParams } from '../../api/sampler.js';

/** One device allocation; views made by `reshape` share it, and freeing any of them frees it once. */
interface Block {
  readonly ptr: bigint;
  readonly bytes: number;
  live: boolean;
  /** Held by a recorded step (its intermediates and output): `free` leaves it alone, the step's release returns it. */
  recorded?: boolean;
  /** A part of a zerosBlock allocation: freeing it frees the allocation once its last part is freed. */
  parent?: SharedBlock;
}

/** One allocation holding several tensors (zerosBlock: a session's state), so that a copy of all of them is one copy. */
interface SharedBlock extends Block {
  readonly members: Block[];
  liveMembers: number;
}

/**
 * A token sampled on the device (DeviceSampling): `t` holds topKSample's words — count, ids[k], value
 * bits[k], the chosen id, the id an embedding reads — whose read-back into `words` was enqueued right
 * behind the sampling kernel, so reading it waits for this step only, not for steps submitted after it.
 */
class CudaDeviceToken implements DeviceToken {
  readonly deviceToken = true as const;
  released = false;
  read = false;
  /** The words live in a run-ahead step graph's buffer (recordSampled), not one of the token's own: release leaves them. */
  shared = false;
  /** A later run of that graph has overwritten the words on the device (the read-back still holds them). */
  stale = false;
  constructor(
    readonly t: CudaTensor, readonly k: number, readonly V: number, readonly words: Float32Array, readonly done: Promise<void>,
    readonly ids: Int32Array,
  ) {}
  /** Where the id the next step embeds lives. */
  get idPtr(): bigint {
    return this.t.ptr + BigInt(4 * (2 + 2 * this.k));
  }
}

/** What `recordStep` collects while a capture is open. */
interface Capture {
  /** Blocks freed during the capture, reused by later allocations of the same capture. */
  pool: Map<number, bigint[]>;
  /** Every block the recording uses (allocated or freed during the capture), plus its id buffer. */
  blocks: Block[];
  idsPtr: bigint;
  n: number;
  /** Rows of the embedding table the recorded step looks ids up in (checked on every run). */
  vocab: number;
  /** recordSampled: every kernel that writes a member of the state block first saves it to the undo point (or, ping-pong, writes it to the other block). */
  snap?: SnapPlan;
}

/**
 * The undo point of a run-ahead step graph (recordSampled): each member of the session's state block is saved
 * at `ptr + delta` (a block laid out alike) by the first kernel of the step that writes it — in that kernel
 * where it can (conv1dStepBatch, ssdStep, scanDtStep: the pass that reads the old values anyway), else by a
 * stateCopy kernel just before it; members no kernel wrote are copied at the end.
 */
interface SnapPlan {
  members: Block[];
  /** Undo mode (`from` absent): the undo block's offset. Ping-pong: the offset of the block this graph writes the state to. */
  delta: bigint;
  /** Members already saved (undo) or already moved to the written block (ping-pong). */
  done: Set<bigint>;
  /**
   * Ping-pong (MAMBA_EDGE_CUDA_PINGPONG, the default): the offset of the block this graph reads the state from. Each member is
   * read at `ptr + from` by the first kernel writing it, which writes it at `ptr + delta` (kernels taking a separate
   * source: conv1dStepBatch, the conv epilogues, convShift, scanDtStep, ssdStep); other writers get a stateCopy of it
   * first and work in place on the written block; later kernels of the step read it there. No undo copy: the
   * previous state stays in the read block.
   */
  from?: bigint;
}

/**
 * Ops held back to be launched fused with the next one (`CudaBackend.flush`): GEMVs over the same input
 * become one launch (gemvBatch), and a residual add followed by the RMSNorm of its sum becomes one
 * (addRmsNorm) — a decode step is bound by how many kernels it runs one after the other, not their bytes.
 */
type Pending =
  | {
    kind: 'gemv'; x: bigint; rows: number; K: number; dtype: number; outs: bigint[]; ws: bigint[]; biases: (bigint | null)[]; Ms: number[]; pro?: Prologue;
    /** T = 1 convs of whole outputs, done by the decode GEMV as it writes them (decode.cu convEpilogue): all of one K and silu. */
    convs?: ConvEpilogueArg[]; convK?: number; convSilu?: boolean;
    /** The greedy draw done by this GEMV (the head's, in a step graph): decode.cu's argmax epilogue (kernels.h ArgmaxEpilogue). */
    argmax?: { scratch: bigint; out: bigint; idOut: bigint | null };
  }
  | { kind: 'norm'; out: bigint; pro: Prologue }
  | { kind: 'add'; out: bigint; a: bigint; b: bigint; n: number }
  | { kind: 'conv'; B: number; K: number; silu: boolean; outs: bigint[]; xs: bigint[]; ws: bigint[]; biases: (bigint | null)[]; states: bigint[]; Cs: number[] };

/**
 * How a one-row decode GEMV forms its input (gpu/cuda/src/kernels.h RowPrologue): kind 1 = rmsnorm(a (+ b)) · w with
 * a + b written to `sum`; kind 2 = gated rmsnorm(a · silu(b)) · w over groups of `group`. The formed row goes to `normed`.
 */
interface Prologue {
  kind: 1 | 2 | 3; a: bigint; b: bigint | null; w: bigint; sum: bigint | null; normed: bigint; dim: number; eps: number; group: number;
  /** kind 3: a T = 1 conv (a = its input, w its weights, b its bias) whose state the GEMV only reads; its shift is left to a later kernel. */
  conv?: { state: bigint; K: number; silu: boolean };
}

/** A T = 1 conv the decode GEMV producing its input does as an epilogue (gpu/cuda/src/kernels.h ConvEpilogue). */
interface ConvEpilogueArg { item: number; w: bigint; bias: bigint | null; state: bigint; out: bigint; snap: bigint | null; src: bigint | null }

/** A conv state shift owed by a conv folded into a GEMV (decode.cu, kind 3): launched before any later kernel, or inside scanDtStep. */
interface ConvShift { state: bigint; x: bigint; C: number; K: number }

/** Every MAMBA_EDGE_CUDA_* variable and what it takes (checkEnv runs over them when a CudaBackend is made; the addon's C++ reads SCAN, SCAN_CHUNK and SSD). */
export const CUDA_ENV: Readonly<Record<string, EnvSpec>> = {
  ...Object.fromEntries(['FUSE', 'DECODEGEMV', 'NORMGEMV', 'SCANDT', 'CONVGEMV', 'CONVEPI', 'SSDSTEP', 'PDL', 'RUNAHEAD', 'STEPGRAPH', 'SNAPFOLD',
    'ARGMAXGEMV', 'SSDHOLD', 'GRAPHS', 'PINGPONG', 'READKERNEL'].map((k) => [`MAMBA_EDGE_CUDA_${k}`, { kind: 'switch' } as const])),
  MAMBA_EDGE_CUDA_SPLITK: { kind: 'choice', choices: ['on', 'auto', 'off', '2', '4', '8'] },
  MAMBA_EDGE_CUDA_SCAN: { kind: 'choice', choices: ['warp', 'warp8', 'lanes', 'tile', 'tile1', 'mma', 'mma1', 'tiled3', 'tiled3one'] },
  MAMBA_EDGE_CUDA_SCAN_CHUNK: { kind: 'int', min: 32, max: 4096, multipleOf: 32 },
  MAMBA_EDGE_CUDA_SSD: { kind: 'choice', choices: ['tiled', 'tiled128', 'mma'] },
  [ADDON_ENV]: { kind: 'text' },
};
const off = (name: string): boolean => parseSwitch(envValue(name)) === false;
const on = (name: string): boolean => parseSwitch(envValue(name)) === true;
/** MAMBA_EDGE_CUDA_FUSE=off launches every op as it is called (an escape hatch, and for A/B benchmarks). */
const FUSE_OFF = off('MAMBA_EDGE_CUDA_FUSE');
/** MAMBA_EDGE_CUDA_DECODEGEMV=off: one-row GEMVs through matmul.cu's gemv instead of decode.cu's (A/B). */
const DECODE_GEMV_OFF = FUSE_OFF || off('MAMBA_EDGE_CUDA_DECODEGEMV');
/** MAMBA_EDGE_CUDA_NORMGEMV=off: a one-row (gated) RMSNorm runs as its own kernel, not folded into the GEMV after it (A/B). */
const NORM_GEMV_OFF = DECODE_GEMV_OFF || off('MAMBA_EDGE_CUDA_NORMGEMV');
/** MAMBA_EDGE_CUDA_SCANDT=off: Mamba-1's dt_proj GEMV stays its own kernel instead of being folded into the scan step (A/B). */
const SCAN_DT_OFF = FUSE_OFF || off('MAMBA_EDGE_CUDA_SCANDT');
/**
 * MAMBA_EDGE_CUDA_CONVGEMV=on: a one-row T = 1 conv is folded into the GEMV that reads its output (Mamba-1's x_proj) or into
 * the SSD step that does (Mamba-2's x, B, C convs) instead of running as its own kernel. Off by default: on an H100 it was
 * slower (BENCHMARKS.md, CUDA decode at the 130M shapes): 24 kernels fewer, but every block of the folded kernel recomputes
 * all the convs it reads (x_proj has 10 blocks for 1,536 channels), which costs more latency than the launch it saves.
 */
const CONV_FOLD = !DECODE_GEMV_OFF && on('MAMBA_EDGE_CUDA_CONVGEMV');
/**
 * MAMBA_EDGE_CUDA_CONVEPI=off: a one-row T = 1 conv of a decode GEMV's output runs as its own kernel instead of as that GEMV's
 * epilogue (decode.cu convEpilogue: the lane writing in_proj's output c computes channel c's conv; Mamba-1's x conv, Mamba-2's
 * x, B and C convs: one kernel a layer fewer, nothing computed twice, unlike CONVGEMV's folds into the conv's reader) (A/B).
 */
const CONV_EPI_OFF = FUSE_OFF || off('MAMBA_EDGE_CUDA_CONVEPI');
/** MAMBA_EDGE_CUDA_SSDSTEP=off: Mamba-2's decode step through scan.cu's general kernel instead of decode.cu's ssdStep (A/B). */
const SSD_STEP_OFF = off('MAMBA_EDGE_CUDA_SSDSTEP');
/** MAMBA_EDGE_CUDA_PDL=off: no programmatic dependent launch for the decode kernels (A/B). */
const PDL_OFF = off('MAMBA_EDGE_CUDA_PDL');
/**
 * A sampled token's read-back (1 + 2k words) is copied into page-locked memory by a kernel instead of the copy engine
 * (elementwise.cu copyWordsToHost says why); MAMBA_EDGE_CUDA_READKERNEL=off goes back to cudaMemcpyAsync (A/B). On an
 * H100 it lifted mamba2-130m's greedy decode from 1,660-1,727 to 1,728-1,746 tok/s in the same calls, mamba-130m's
 * 1,993-1,997 to 2,003-2,010 (BENCHMARKS.md, eighth session).
 */
const READ_KERNEL = !off('MAMBA_EDGE_CUDA_READKERNEL');
/** MAMBA_EDGE_CUDA_RUNAHEAD=off: no deviceSampling, so sessions decode one read-back at a time (A/B). */
const RUNAHEAD_OFF = off('MAMBA_EDGE_CUDA_RUNAHEAD');
/**
 * MAMBA_EDGE_CUDA_STEPGRAPH=off: no deviceSampling.recordSampled, so a run-ahead token is the recorded step plus
 * separate launches (the id copy, the logits row copy, topKSample, the state snapshot copy) instead of one graph (A/B).
 */
const STEP_GRAPH_OFF = off('MAMBA_EDGE_CUDA_STEPGRAPH');
/**
 * MAMBA_EDGE_CUDA_SNAPFOLD=off: the step graph saves its undo point with one stateCopy kernel of the whole state
 * at its start, instead of in the kernels that write the state (A/B).
 */
const SNAP_FOLD_OFF = off('MAMBA_EDGE_CUDA_SNAPFOLD');
/**
 * MAMBA_EDGE_CUDA_ARGMAXGEMV=off: a greedy step graph draws with topKSampleFrom (one block reading the row the head
 * wrote) instead of in the head GEMV's epilogue (each block's best column, one 64-bit atomicMax, the last block writes) (A/B).
 */
const ARGMAX_GEMV_OFF = off('MAMBA_EDGE_CUDA_ARGMAXGEMV');
/**
 * MAMBA_EDGE_CUDA_SPLITK (default on = auto): decode.cu's one-row GEMV gives a matrix with few rows several warps
 * per output column over slices of K (split-K; out_proj's 768 rows of the 130M models: 4 warps a column on an H100),
 * the warps per column chosen per launch; =2 / 4 / 8 forces that many for every launch (tests); =off: one warp a
 * column (A/B). On since the H100 A/B of 2026-12-06 (with SSDHOLD: mamba2-130m's recorded step 0.640 → 0.588 ms).
 */
const SPLIT_K_MODE = ((v) => (v === 'off' ? 0 : v === '2' || v === '4' || v === '8' ? Number(v) : -1))(envValue('MAMBA_EDGE_CUDA_SPLITK'));
/**
 * MAMBA_EDGE_CUDA_SSDHOLD (default on; =off for A/B): decode.cu's Mamba-2 ssdStep loads each lane's state entries
 * (and B, C) before its first store — one DRAM round trip instead of one per entry; the same results bit for bit.
 */
const SSD_HOLD = !off('MAMBA_EDGE_CUDA_SSDHOLD');
/**
 * MAMBA_EDGE_CUDA_PINGPONG (default on; =off for A/B): the step graph's two captures read the state from one block and write it to the other
 * (A: the session's block → the second block; B: back), so a run-ahead step needs no undo copy of the state (Mamba-2
 * 130M: ~19 MB of writes a token): undoing a run is "the state is that run's input block". Control returns to the
 * session with the state in its own block (SampledStep.settle: one copy when an odd number of runs stand, once a
 * generate). On by default since the H100 A/B of 2026-12-06 (mamba2-130m's step graph 0.655 → 0.629 ms a token;
 * =off keeps the undo copy). Read when a backend is made, so tests can compare both in one process.
 */
const pingPongOn = (): boolean => !off('MAMBA_EDGE_CUDA_PINGPONG');
/** Largest row decode.cu's GEMV holds in shared memory (kernels.h kDecodeGemvMaxK). */
const DECODE_GEMV_MAX_K = 12288;
/** Largest G·N whose B and C decode.cu's ssdStep with its convs holds in shared memory (kernels.h kSsdConvMaxGN). */
const SSD_CONV_MAX_GN = 2048;
/** Largest k topKSample ranks (kernels.h kSampleMaxK). */
const SAMPLE_MAX_K = 1024;
/** The most GEMVs one gemvBatch launch takes (gpu/cuda/src/kernels.h kGemvBatchMax). */
const GEMV_BATCH_MAX = 6;
/** The most T = 1 convs one conv1dStepBatch launch takes (kConvBatchMax). */
const CONV_BATCH_MAX = 4;

/** MAMBA_EDGE_CUDA_GRAPHS=off turns recorded steps off (an escape hatch, and for A/B benchmarks). */
const GRAPHS_OFF = off('MAMBA_EDGE_CUDA_GRAPHS');

class CudaTensor implements Tensor {
  constructor(
    readonly shape: readonly number[],
    readonly dtype: WeightDType,
    readonly block: Block,
  ) {}
  get ptr(): bigint {
    if (!this.block.live) throw fail('E_ARGUMENT', `cuda: a [${this.shape}] tensor was used after it was freed`);
    return this.block.ptr;
  }
}

/** The ops this backend implements: everything the Mamba-1 and Mamba-2 graphs need. */
const SUPPORTED: ReadonlySet<OpName> = new Set<OpName>([
  'embedding', 'rmsNorm', 'gatedRmsNorm', 'matmul', 'add', 'glu',
  'conv1dCausal', 'conv1dCausalStep', 'selectiveScan', 'selectiveScanStep', 'ssdChunkScan', 'ssdStep',
]);
/** The attention family (issue 8), supported when the addon has its kernels (gpu/cuda/src/attention_api.cc). */
const ATTENTION_OPS: ReadonlySet<OpName> = new Set<OpName>(['rope', 'attention', 'attentionStep', 'swiglu', 'relu2', 'mixtureOfExperts']);
/** Rows up to which the mixture of experts runs its fused few-row kernels (decode) instead of per-expert GEMMs. */
const MOE_FEW_ROWS = 8;
/** Query rows per attention block (gpu/cuda/src/attention.h kAttnRowTile) and keys per tile (kAttnKeyTile). */
const ATTN_ROW_TILE = 16;
const ATTN_KEY_TILE = 32;

/** K and V blocks [B, Hkv, capacity, Dh] in this backend's CudaTensors (DeviceKvCache). */
class CudaKvCache extends DeviceKvCache<CudaTensor> {}

const DTYPE_CODE: Partial<Record<WeightDType, number>> = { f32: 0, f16: 1, bf16: 2 };
const ALIGN = 512;
const CODES: ReadonlySet<string> = new Set(['E_MEMORY', 'E_BACKEND', 'E_SHAPE', 'E_DTYPE', 'E_ARGUMENT']);

/** Run an addon call; its errors become MambaEdgeErrors with the addon's code. */
function guarded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MambaEdgeError) throw e;
    const err = e as { code?: string; message?: string };
    const code = (err.code && CODES.has(err.code) ? err.code : 'E_BACKEND') as ErrorCode;
    throw fail(code, `${what}: ${err.message ?? String(e)}`, { cause: e });
  }
}

export class CudaBackend extends PartialBackend implements Backend {
  readonly name = 'cuda' as const;
  readonly info: BackendInfo;
  readonly capacityBytes: number;
  private readonly pool = new Map<number, bigint[]>();
  private readonly blocks = new Set<Block>();
  private disposed = false;
  private capture: Capture | null = null;
  private pending: Pending | null = null;
  /** The state shift a folded conv left (see ConvShift): every kernel launched later goes after it. */
  private convShift: ConvShift | null = null;
  private readonly recordings = new Set<{ blocks: Block[]; release(): void }>();
  /** Chunks the last prefill scan was split into (for tests and benchmarks). */
  lastScanChunks = 0;
  /**
   * Prefill runs 16 of the graph's 256-token chunks at once (4,096 tokens) where the GPU has room: wider
   * GEMMs, scans long enough to split over every SM, and the per-op host cost paid 16× less often. The
   * activations of such a chunk are ~1 GB for a 130M model (ModelImpl lowers the multiple under maxMemoryBytes).
   */
  readonly prefillChunkMultiple: number;

  /** Fold one-row T = 1 convs into the kernel reading their output (MAMBA_EDGE_CUDA_CONVGEMV=on; off by default, see CONV_FOLD). */
  convFold = CONV_FOLD;
  /** Run a one-row T = 1 conv as the epilogue of the decode GEMV producing its input (MAMBA_EDGE_CUDA_CONVEPI; not with convFold). */
  convEpilogue = !CONV_EPI_OFF;
  /** The step graph ping-pongs the state between two blocks instead of saving an undo copy (MAMBA_EDGE_CUDA_PINGPONG, on by default; builds with stateSources). */
  readonly pingPong: boolean;
  /** Whether the decode kernels use programmatic dependent launch (gpu/cuda/src/pdl.cuh: sm_90+, MAMBA_EDGE_CUDA_PDL). */
  readonly pdl: boolean;
  /** decode.cu decodeGemv's warps per column mode (MAMBA_EDGE_CUDA_SPLITK): 0 one, 2 / 4 / 8 forced, −1 chosen per launch. */
  readonly decodeSplit: number;
  /** Sampling on the device for the session's run-ahead decode (absent in addon builds before it, or with MAMBA_EDGE_CUDA_RUNAHEAD=off). */
  readonly deviceSampling?: DeviceSampling;
  /** Id arrays standing for device-sampled tokens (DeviceSampling.ids): embedding and recorded steps read these ids on the device. */
  private readonly deviceIds = new WeakMap<Int32Array, CudaDeviceToken>();

  /** The attention kernels (null in builds before them); each call first launches what fusion held back. */
  private readonly attn: CudaAttentionApi | null;

  constructor(private readonly dev: CudaDevice, info: Omit<BackendInfo, 'name'>, attn: CudaAttentionApi | null = null) {
    super();
    checkEnv('MAMBA_EDGE_CUDA_', CUDA_ENV);
    this.info = { name: 'cuda', ...info };
    this.attn = attn && new Proxy(attn, {
      get: (target, key) => {
        const v = Reflect.get(target, key);
        return typeof v === 'function' ? (...args: unknown[]) => { this.flush(); return (v as (...a: unknown[]) => unknown).apply(target, args); } : v;
      },
    });
    this.capacityBytes = dev.info.totalBytes;
    this.pingPong = pingPongOn() && dev.stateSources === true && dev.stateCopy !== undefined;
    this.pdl = dev.setPdl?.(!PDL_OFF) ?? false;
    this.decodeSplit = dev.setDecodeSplit?.(SPLIT_K_MODE) ?? 0;
    dev.setSsdHold?.(SSD_HOLD);
    this.deviceSampling = dev.topKSample && dev.replayFrom && !RUNAHEAD_OFF ? this.makeDeviceSampling() : undefined;
    // 16 on a GPU of ≥ 16 GiB, fewer on smaller ones (at least 1): the chunk's activations stay a small share.
    this.prefillChunkMultiple = Math.max(1, Math.min(16, 2 ** Math.floor(Math.log2(this.capacityBytes / 2 ** 30))));
  }

  /** The device, after launching what fusion held back: every device call but the fusing ones goes through here. */
  private get d(): CudaDevice {
    this.flush();
    this.flushShift();
    return this.dev;
  }

  /** Launches the conv state shift a folded conv left, if any. */
  private flushShift(): void {
    const c = this.convShift;
    if (!c) return;
    this.convShift = null;
    const st = this.stateWrite(c.state, false);
    guarded('conv1dCausalStep (state shift)', () => this.dev.convShift!(st.dst, c.x, c.C, c.K, st.src));
  }

  /**
   * In a capture that saves an undo point (Capture.snap): where the kernel about to write the state member at
   * `state` saves its old values, the first time one does (null otherwise, or when `state` is not a member).
   * `inKernel` false: that kernel cannot, so a stateCopy kernel is launched here, before it (call it after
   * launching what fusion held back, right before the kernel).
   */
  private snapOf(state: bigint, inKernel: boolean): bigint | null {
    const plan = this.capture?.snap;
    if (!plan) return null;
    const m = plan.members.find((b) => b.ptr === state);
    if (!m || plan.done.has(m.ptr)) return null;
    plan.done.add(m.ptr);
    const dst = m.ptr + plan.delta;
    if (inKernel) return dst;
    guarded('state undo point', () => this.dev.stateCopy!(dst, m.ptr, m.bytes));
    return null;
  }

  /** The member of the capture's state block at `state`, if any. */
  private memberAt(plan: SnapPlan, state: bigint): Block | undefined {
    return plan.members.find((b) => b.ptr === state);
  }

  /**
   * A kernel about to write the state at `state` in place (it takes no separate source): undo mode, its undo point
   * saved first (snapOf); ping-pong, the member copied from the read block to the written block the first time and
   * the written block's address returned, to work on in place; else `state`. Call it right before the kernel.
   */
  private stateInPlace(state: bigint): bigint {
    const st = this.stateWrite(state, false);
    if (st.src !== null) guarded('state (ping-pong copy)', () => this.dev.stateCopy!(st.dst, st.src!, st.bytes));
    return st.dst;
  }

  /**
   * A kernel about to write the state at `state` that takes its source apart (`src`, null: in place) and, when
   * `takesSnap`, an undo point (`snap`): where it reads, writes and saves (`bytes`: the member's size, ping-pong). Undo mode: in place, the undo point in
   * the kernel (or, not `takesSnap`, a stateCopy before it); ping-pong: the first writer reads the read block and
   * writes the written block, later ones work in place on the written block.
   */
  private stateWrite(state: bigint, takesSnap: boolean): { dst: bigint; src: bigint | null; snap: bigint | null; bytes: number } {
    const plan = this.capture?.snap;
    if (!plan) return { dst: state, src: null, snap: null, bytes: 0 };
    if (plan.from === undefined) {
      if (!takesSnap) this.snapOf(state, false);
      return { dst: state, src: null, snap: takesSnap ? this.snapOf(state, true) : null, bytes: 0 };
    }
    const m = this.memberAt(plan, state);
    if (!m) return { dst: state, src: null, snap: null, bytes: 0 };
    const dst = m.ptr + plan.delta;
    if (plan.done.has(m.ptr)) return { dst, src: null, snap: null, bytes: m.bytes };
    plan.done.add(m.ptr);
    return { dst, src: m.ptr + plan.from, snap: null, bytes: m.bytes };
  }

  /** Where a kernel that only reads the state at `state` reads it: ping-pong, the block holding its latest values; else `state`. */
  private stateRead(state: bigint): bigint {
    const plan = this.capture?.snap;
    const m = plan?.from === undefined ? undefined : this.memberAt(plan, state);
    if (!plan || !m) return state;
    return m.ptr + (plan.done.has(m.ptr) ? plan.delta : plan.from!);
  }

  /** Launches the op held back for fusion, if any (its launch errors surface here, at the next op). */
  private flush(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.flushShift(); // owed by a kernel launched before p's: it goes first
    if (p.kind === 'add') {
      guarded('add', () => this.dev.add(p.out, p.a, p.b, p.n));
    } else if (p.kind === 'norm') { // no GEMV read it next: the norm on its own
      const q = p.pro;
      if (q.kind === 2) guarded('gatedRmsNorm', () => this.dev.gatedRmsNorm(q.normed, q.a, q.b!, q.w, q.dim / q.group, q.group, q.dim, q.eps));
      else if (q.b !== null) guarded('add + rmsNorm', () => this.dev.addRmsNorm(q.sum!, q.normed, q.a, q.b!, q.w, 1, q.dim, q.eps));
      else guarded('rmsNorm', () => this.dev.rmsNorm(q.normed, q.a, q.w, 1, q.dim, q.eps));
    } else if (p.kind === 'gemv' && this.decodeGemvTakes(p)) {
      // One row (decode): decode.cu's GEMV, with the norm before it folded in when there is one, and the convs of its outputs after.
      const q = p.pro;
      const convState = q?.conv ? this.stateRead(q.conv.state) : null; // only read here: its shift is owed (ping-pong: the read block)
      guarded('matmul (decode)', () => this.dev.decodeGemv!(q ? null : p.x, p.K, p.dtype, p.outs, p.ws, p.biases, p.Ms,
        q?.kind ?? 0, q?.a ?? null, q?.b ?? null, q?.w ?? null, q?.sum ?? null, q?.normed ?? null, q?.eps ?? 0, q?.group ?? 0,
        convState, q?.conv?.K ?? 0, q?.conv?.silu ?? false, p.convs, p.convK, p.convSilu, p.argmax));
      // A folded conv only read its state: the shift is owed, before the next kernel (or inside the scan step).
      if (q?.conv) this.convShift = { state: q.conv.state, x: q.a, C: q.dim, K: q.conv.K };
    } else if (p.kind === 'conv' && this.capture?.snap) { // a run-ahead step graph: the conv kernel saves its states' undo points (or ping-pongs them)
      const sts = p.states.map((st) => this.stateWrite(st, true));
      const srcs = sts.some((st) => st.src !== null) ? sts.map((st) => st.src) : undefined;
      guarded('conv1dCausalStep', () => this.dev.conv1dStepBatch(p.B, p.K, p.silu, p.outs, p.xs, p.ws, p.biases, sts.map((st) => st.dst), p.Cs,
        sts.map((st) => st.snap), srcs));
    } else if (p.kind === 'conv') {
      guarded('conv1dCausalStep', () => p.outs.length === 1
        ? this.dev.conv1d(p.outs[0], p.xs[0], p.ws[0], p.biases[0], p.states[0], p.B, 1, p.Cs[0], p.K, p.silu)
        : this.dev.conv1dStepBatch(p.B, p.K, p.silu, p.outs, p.xs, p.ws, p.biases, p.states, p.Cs));
    } else if (p.outs.length === 1) {
      guarded('matmul', () => this.dev.matmul(p.outs[0], p.x, p.ws[0], p.dtype, p.biases[0], p.rows, p.K, p.Ms[0]));
    } else {
      guarded('matmul', () => this.dev.gemvBatch(p.x, p.rows, p.K, p.dtype, p.outs, p.ws, p.biases, p.Ms));
    }
  }

  /** Whether `flush` launches this held-back GEMV as decode.cu's decodeGemv (one row; a norm folded in always is). */
  private decodeGemvTakes(p: Extract<Pending, { kind: 'gemv' }>): boolean {
    return !!p.pro || (!DECODE_GEMV_OFF && p.rows === 1 && p.K % 4 === 0 && p.K <= DECODE_GEMV_MAX_K && this.dev.decodeGemv !== undefined);
  }

  supportsOp(op: OpName): boolean {
    return SUPPORTED.has(op) || (this.attn !== null && ATTENTION_OPS.has(op));
  }

  supportsDType(dtype: WeightDType): boolean {
    return DTYPE_CODE[dtype] !== undefined;
  }

  // ---- buffers -------------------------------------------------------------

  bytesFor(shape: readonly number[], dtype: WeightDType): number {
    const n = numel(shape);
    if (dtype === 'f32') return n * 4;
    if (dtype === 'f16' || dtype === 'bf16') return n * 2;
    throw fail('E_DTYPE', `the cuda backend does not store ${dtype} weights (f32, f16, bf16)`);
  }

  /** Bytes held on the device: live tensors, the pool, and recorded steps' blocks. */
  get deviceBytes(): number {
    let n = 0;
    for (const b of this.blocks) n += b.bytes;
    for (const [bytes, list] of this.pool) n += bytes * list.length;
    for (const r of this.recordings) for (const b of r.blocks) n += b.bytes;
    return n;
  }

  private alive(): void {
    if (this.disposed) throw fail('E_BACKEND', 'cuda: the backend was disposed');
  }

  private alloc(shape: readonly number[], dtype: WeightDType = 'f32'): CudaTensor {
    this.alive();
    const bytes = Math.max(ALIGN, Math.ceil(this.bytesFor(shape, dtype) / ALIGN) * ALIGN);
    if (this.capture) return this.allocRecorded(shape, dtype, bytes, this.capture);
    let ptr = this.pool.get(bytes)?.pop();
    if (ptr === undefined) {
      try {
        ptr = guarded(`allocating a [${shape}] ${dtype} tensor`, () => this.dev.malloc(bytes));
      } catch (e) {
        if ((e as MambaEdgeError).code !== 'E_MEMORY' || this.pool.size === 0) throw e;
        this.trim();
        ptr = guarded(`allocating a [${shape}] ${dtype} tensor (${bytes} bytes)`, () => this.d.malloc(bytes));
      }
    }
    const block: Block = { ptr, bytes, live: true };
    this.blocks.add(block);
    return new CudaTensor([...shape], dtype, block);
  }

  /** During a capture: a block the recording keeps (from the capture's own frees, then the pool, then the driver). */
  private allocRecorded(shape: readonly number[], dtype: WeightDType, bytes: number, cap: Capture): CudaTensor {
    const reused = cap.pool.get(bytes)?.pop();
    if (reused !== undefined) {
      const block = cap.blocks.find((b) => b.ptr === reused)!;
      block.live = true;
      return new CudaTensor([...shape], dtype, block);
    }
    const ptr = this.pool.get(bytes)?.pop() ?? guarded(`allocating a [${shape}] ${dtype} tensor (recording)`, () => this.dev.malloc(bytes));
    const block: Block = { ptr, bytes, live: true, recorded: true };
    cap.blocks.push(block);
    return new CudaTensor([...shape], dtype, block);
  }

  /** The driver's view of device memory (cudaMemGetInfo), for benchmarks and soak runs. */
  memInfo(): { free: number; total: number } {
    this.alive();
    return guarded('memInfo', () => this.d.memInfo());
  }

  /** Return pooled blocks to the driver. */
  trim(): void {
    for (const list of this.pool.values()) for (const p of list) this.d.free(p);
    this.pool.clear();
  }

  private t(x: Tensor, what = 'tensor'): CudaTensor {
    if (!(x instanceof CudaTensor)) throw fail('E_ARGUMENT', `cuda: ${what} is not a tensor of this backend`);
    return x;
  }

  /** An f32 activation's pointer (weights in f16/bf16 go only to matmul and embedding). */
  private f32(x: Tensor, what: string): bigint {
    const ct = this.t(x, what);
    if (ct.dtype !== 'f32') throw fail('E_DTYPE', `cuda: ${what} must be an f32 tensor, got ${ct.dtype}`, { field: what });
    return ct.ptr;
  }

  upload(data: Float32Array, shape: readonly number[], dtype: WeightDType = 'f32'): Tensor {
    if (data.length !== numel(shape)) throw fail('E_SHAPE', `upload: ${data.length} values for shape [${shape}]`);
    const code = DTYPE_CODE[dtype];
    if (code === undefined) throw fail('E_DTYPE', `the cuda backend does not store ${dtype} weights (f32, f16, bf16)`);
    const out = this.alloc(shape, dtype);
    guarded('upload', () => this.d.upload(out.ptr, data, code));
    return out;
  }

  zeros(shape: readonly number[]): Tensor {
    const out = this.alloc(shape);
    guarded('zeros', () => this.d.memsetZero(out.ptr, out.block.bytes));
    return out;
  }

  /**
   * Zero-filled f32 tensors in one allocation, each at a 512-byte boundary (a session's state: the
   * run-ahead snapshot, deviceSampling.copy of the whole set, is then one device copy, not one per tensor).
   */
  zerosBlock(shapes: readonly (readonly number[])[]): Tensor[] {
    if (shapes.length < 2 || this.capture) return shapes.map((sh) => this.zeros(sh));
    const sizes = shapes.map((sh) => Math.max(ALIGN, Math.ceil((4 * numel(sh)) / ALIGN) * ALIGN));
    const total = sizes.reduce((a, b) => a + b, 0);
    const whole = this.alloc([total / 4]);
    guarded('zeros', () => this.d.memsetZero(whole.ptr, whole.block.bytes));
    const members: Block[] = [];
    const parent = Object.assign(whole.block, { members, liveMembers: shapes.length }) as SharedBlock;
    let at = 0;
    return shapes.map((sh, i) => {
      const part: Block = { ptr: parent.ptr + BigInt(at), bytes: sizes[i], live: true, parent };
      members.push(part);
      at += sizes[i];
      return new CudaTensor([...sh], 'f32', part);
    });
  }

  write(t: Tensor, data: Float32Array): void {
    const ptr = this.f32(t, 'write target');
    if (data.length !== numel(t.shape)) throw fail('E_SHAPE', `write: ${data.length} values into [${t.shape}]`);
    guarded('write', () => this.d.upload(ptr, data, 0));
  }

  /** Enqueued now (later ops cannot change what it reads); waits off the event loop. */
  async read(t: Tensor): Promise<Float32Array> {
    const ct = this.t(t);
    const out = new Float32Array(numel(ct.shape));
    const what = 'read (waits for the GPU; reports kernels that failed)';
    const done = guarded(what, () => this.d.downloadAsync(ct.ptr, out, DTYPE_CODE[ct.dtype]!));
    await done.catch((e) => guarded(what, () => { throw e; }));
    return out;
  }

  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const ct = this.t(t);
    if (numel(shape) !== numel(ct.shape)) throw fail('E_SHAPE', `reshape [${ct.shape}] → [${shape}] changes the element count`);
    return new CudaTensor([...shape], ct.dtype, ct.block);
  }

  sliceRows(t: Tensor, start: number, count: number): Tensor {
    const ct = this.t(t);
    const rows = ct.shape[0];
    if (start < 0 || count < 0 || start + count > rows) throw fail('E_SHAPE', `sliceRows ${start}+${count} of ${rows}`);
    const rowBytes = this.bytesFor(ct.shape.slice(1), ct.dtype);
    const out = this.alloc([count, ...ct.shape.slice(1)], ct.dtype);
    if (count > 0) guarded('sliceRows', () => this.d.copy(out.ptr, ct.ptr + BigInt(start * rowBytes), count * rowBytes));
    return out;
  }

  free(...ts: (Tensor | null | undefined)[]): void {
    for (const x of ts) {
      if (!(x instanceof CudaTensor) || !x.block.live) continue;
      const parent = x.block.parent;
      if (parent) { // a zerosBlock part: the allocation goes with its last part
        x.block.live = false;
        if (--parent.liveMembers === 0) this.free(new CudaTensor([parent.bytes / 4], 'f32', parent));
        continue;
      }
      if (this.capture) { // the recording reuses it (and keeps it, whoever allocated it: the recorded ops use it)
        const cap = this.capture;
        x.block.live = false;
        if (!x.block.recorded) {
          this.blocks.delete(x.block);
          const block: Block = { ptr: x.block.ptr, bytes: x.block.bytes, live: false, recorded: true };
          cap.blocks.push(block);
        }
        const list = cap.pool.get(x.block.bytes);
        if (list) list.push(x.block.ptr);
        else cap.pool.set(x.block.bytes, [x.block.ptr]);
        continue;
      }
      if (x.block.recorded) continue; // a recorded step's output: its release frees it
      x.block.live = false;
      this.blocks.delete(x.block);
      if (this.disposed) continue;
      const list = this.pool.get(x.block.bytes);
      if (list) list.push(x.block.ptr);
      else this.pool.set(x.block.bytes, [x.block.ptr]);
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.pending = null; // nothing will read what it would compute
    this.convShift = null;
    for (const r of [...this.recordings]) r.release();
    this.trim();
    for (const b of this.blocks) {
      b.live = false;
      this.d.free(b.ptr);
    }
    this.blocks.clear();
    this.disposed = true;
    this.d.dispose();
  }

  /** The k best entries of one row, found on the GPU (gpu/cuda/src/topk.cu): 1 + 2k words read back. */
  async readTopK(t: Tensor, row: number, k: number): Promise<{ ids: Int32Array; values: Float32Array }> {
    const ct = this.t(t);
    if (ct.dtype !== 'f32' || ct.shape.length !== 2 || !Number.isInteger(row) || row < 0 || row >= ct.shape[0]) {
      throw fail('E_SHAPE', `readTopK: row ${row} of a [${ct.shape}] ${ct.dtype} tensor (a 2-D f32 tensor)`);
    }
    if (!Number.isInteger(k) || k < 1) throw fail('E_ARGUMENT', `readTopK: k must be a positive integer, got ${k}`);
    const V = ct.shape[1];
    k = Math.min(k, V);
    const out = this.alloc([1 + 2 * k]);
    try {
      guarded('readTopK', () => this.d.topK(out.ptr, ct.ptr + BigInt(row * V * 4), V, k));
      const words = new Uint32Array((await this.read(out)).buffer);
      const n = words[0];
      return { ids: Int32Array.from(words.subarray(1, 1 + n)), values: new Float32Array(words.slice(1 + k, 1 + k + n).buffer) };
    } finally {
      this.free(out);
    }
  }

  /**
   * Sampling on the device for the session's run-ahead decode (SessionImpl.decodeAhead): topKSample
   * (gpu/cuda/src/topk.cu: the top-k, then src/api/sampler.ts's rule) into a small buffer whose chosen id
   * the next step's embedding (or recorded step) reads in device memory, and its read-back enqueued right
   * behind it, so the host waits for this step only.
   */
  private makeDeviceSampling(): DeviceSampling {
    return {
      supports: (p: SamplerParams) => p.temperature === 0 || (p.topK >= 1 && p.topK <= SAMPLE_MAX_K),
      sample: (logits, p, u) => this.sampleOnDevice(logits, p, u),
      ids: (t) => this.token(t).ids,
      read: (t) => this.readDeviceToken(this.token(t)),
      release: (t) => {
        const c = this.token(t);
        if (c.released) return;
        c.released = true;
        if (!c.shared) this.free(c.t); // stream order: a run-ahead step still to read its id is enqueued before any reuse
      },
      copy: (src, dst) => this.copyTensors(src, dst),
      ...(!STEP_GRAPH_OFF && !GRAPHS_OFF && this.dev.topKSampleFrom && this.dev.launchGraph && this.dev.writeAsync && this.dev.stateCopy
        ? { recordSampled: (state: Tensor[], ids: Int32Array, body: (ids: Int32Array) => Tensor, p: SamplerParams) => this.recordSampled(state, ids, body, p) }
        : {}),
    };
  }

  private token(t: DeviceToken): CudaDeviceToken {
    if (!(t instanceof CudaDeviceToken)) throw fail('E_ARGUMENT', 'cuda: a device token from another backend');
    return t;
  }

  private sampleOnDevice(logits: Tensor, p: SamplerParams, u: number): CudaDeviceToken {
    const lt = this.t(logits, 'logits');
    const lp = this.f32(logits, 'logits');
    if (lt.shape.length !== 2 || lt.shape[0] !== 1) throw fail('E_SHAPE', `deviceSampling.sample: logits must be [1, V], got [${lt.shape}]`);
    if (!this.deviceSampling!.supports(p)) throw fail('E_ARGUMENT', `deviceSampling.sample: topK ${p.topK} is not in [1, ${SAMPLE_MAX_K}]`);
    const V = lt.shape[1];
    const greedy = p.temperature === 0;
    const k = Math.min(greedy ? 1 : p.topK, V);
    const buf = this.alloc([3 + 2 * k]);
    const words = new Float32Array(3 + 2 * k); // raw u32 bits (only ever read through a Uint32Array)
    let done: Promise<void>;
    try {
      guarded('deviceSampling.sample', () => this.d.topKSample!(buf.ptr, lp, V, k, greedy, greedy ? 1 : p.temperature, p.topP, u));
      done = guarded('deviceSampling.sample (read-back)', () => this.d.downloadAsync(buf.ptr, words, 0, READ_KERNEL));
    } catch (e) {
      this.free(buf);
      throw e;
    }
    done.catch(() => undefined); // a dropped run-ahead step is released unread; its failure is reported by the next read
    const token = new CudaDeviceToken(buf, k, V, words, done, new Int32Array(1));
    this.deviceIds.set(token.ids, token);
    return token;
  }

  private async readDeviceToken(t: CudaDeviceToken): Promise<{ id: number; ids: Int32Array; values: Float32Array }> {
    if (t.released || t.read) throw fail('E_ARGUMENT', 'cuda: a device-sampled token was read twice or after release');
    t.read = true;
    const what = 'reading a sampled token (waits for the GPU; reports kernels that failed)';
    await t.done.catch((e) => guarded(what, () => { throw e; }));
    const w = new Uint32Array(t.words.buffer);
    const k = t.k;
    const n = Math.min(w[0], k);
    return { id: w[1 + 2 * k] | 0, ids: Int32Array.from(w.subarray(1, 1 + n)), values: new Float32Array(w.slice(1 + k, 1 + k + n).buffer) };
  }

  /** deviceSampling.copy: src[i] → dst[i] in stream order; two whole zerosBlock sets laid out alike are one copy. */
  private copyTensors(src: readonly Tensor[], dst: readonly Tensor[]): void {
    if (src.length !== dst.length) throw fail('E_ARGUMENT', `cuda copy: ${src.length} sources for ${dst.length} destinations`);
    const from = src.map((t, i) => this.t(t, `copy source ${i}`)), to = dst.map((t, i) => this.t(t, `copy destination ${i}`));
    from.forEach((t, i) => {
      if (numel(t.shape) !== numel(to[i].shape)) throw fail('E_SHAPE', `cuda copy: [${t.shape}] into [${to[i].shape}]`);
      this.f32(t, `copy source ${i}`);
      this.f32(to[i], `copy destination ${i}`);
    });
    const whole = (ts: CudaTensor[]) => {
      const p = ts[0]?.block.parent;
      return p && p.members.length === ts.length && ts.every((t, i) => t.block === p.members[i]) ? p : null;
    };
    const [a, b] = [whole(from), whole(to)];
    if (a && b && a.members.every((m, i) => m.bytes === b.members[i].bytes)) {
      guarded('copy', () => this.d.copy(b.ptr, a.ptr, a.members.reduce((n, m) => n + m.bytes, 0)));
      return;
    }
    from.forEach((t, i) => {
      const bytes = 4 * numel(t.shape);
      if (bytes > 0) guarded('copy', () => this.d.copy(to[i].ptr, t.ptr, bytes));
    });
  }

  /**
   * Records `body`'s ops as a CUDA graph (stream capture; gpu/cuda/src/addon.cc) that each `run` replays
   * with one launch after copying in the new ids. Tensors allocated during the capture stay with the
   * recording (the graph holds their addresses); those freed during it are reused within it, as the
   * pool would. Null when an op cannot be recorded (it needs host data, a read or new scratch memory):
   * nothing has run then, and the caller runs `body` the ordinary way.
   */
  recordStep(ids: Int32Array, body: (ids: Int32Array) => Tensor): RecordedStep | null {
    this.alive();
    if (GRAPHS_OFF || this.capture) return null;
    const idsBlock = this.alloc([Math.max(1, ids.length)]);
    this.blocks.delete(idsBlock.block);
    idsBlock.block.recorded = true;
    const cap: Capture = { pool: new Map(), blocks: [idsBlock.block], idsPtr: idsBlock.block.ptr, n: ids.length, vocab: -1 };
    const got = this.captureGraph(cap, () => this.t(body(ids), 'the recorded output'));
    if (!got) return null;
    const { graph, ops, out } = got;
    const dev = this.dev;
    const vocab = cap.vocab;
    const blocks = cap.blocks;
    const output = out;
    let released = false;
    const recording = {
      blocks,
      release: () => {
        if (released) return;
        released = true;
        this.recordings.delete(recording);
        if (this.disposed) return;
        dev.releaseGraph(graph);
        for (const b of blocks) this.giveBack(b);
      },
    };
    this.recordings.add(recording);
    return {
      ops,
      run: (next: Int32Array) => {
        if (released) throw fail('E_ARGUMENT', 'cuda: this recorded step was released');
        this.alive();
        if (next.length !== cap.n) throw fail('E_ARGUMENT', `cuda: a recorded step takes ${cap.n} ids, got ${next.length}`);
        const onDevice = this.checkIds(next, vocab); // (a recording that embeds nothing ignores its ids: vocab stays −1)
        if (onDevice) { // a device-sampled token (deviceSampling.ids): its id is copied in on the device
          guarded('running a recorded step', () => this.d.replayFrom!(graph, cap.idsPtr, onDevice.idPtr, 4));
          return output;
        }
        guarded('running a recorded step', () => this.d.replay(graph, cap.idsPtr, next));
        return output;
      },
      release: recording.release,
    };
  }

  /**
   * `body` under stream capture, instantiated as a graph (recordStep, recordSampled); null when an op cannot be
   * recorded: nothing has run then, and the capture's blocks are back in the pool.
   */
  private captureGraph(cap: Capture, body: () => CudaTensor): { graph: bigint; ops: number; out: CudaTensor } | null {
    let graph: bigint;
    let ops: number;
    let out: CudaTensor;
    this.capture = cap;
    try {
      guarded('recording a step', () => this.d.beginCapture());
      try {
        out = body();
        if (!out.block.recorded) throw fail('E_ARGUMENT', 'cuda: a recorded step must return a tensor it created');
      } finally {
        this.capture = null;
      }
      ({ graph, nodes: ops } = guarded('recording a step', () => this.d.endCapture()));
    } catch {
      this.capture = null;
      this.pending = null; // held back during the capture: part of what is dropped
      this.convShift = null;
      this.dev.abortCapture();
      for (const b of cap.blocks) this.giveBack(b); // nothing ran: the blocks are free
      return null;
    }
    return { graph, ops, out };
  }

  /**
   * deviceSampling.recordSampled: a run-ahead token as one graph launch and one read-back. The step (embed the
   * id in the graph's id word, the layers, the head) and topKSampleFrom (its draw, which also writes the next id
   * into the id word) are captured together, and every kernel that writes the session's state first saves the
   * old values in an undo block laid out like the state (SnapPlan), so a step run ahead needs no snapshot copy
   * of its own and `undo` is one copy back. The draw's temperature, top-p and u are read from a small device
   * buffer written before each launch (sampled decoding only; greedy reads none); k and greediness are the
   * recorded shape. The step is captured twice, each capture with its own intermediates, and the runs
   * alternate between the two: a run's logits row stays intact through the next run (the one run ahead),
   * which is what an abort reads (SessionImpl.decodeAhead's settle) — no per-token copy of the row.
   * Ping-pong (MAMBA_EDGE_CUDA_PINGPONG, the default; SnapPlan.from): the undo block is the state's second block instead;
   * capture 0 reads the session's block and writes the second, capture 1 the reverse, and a run is always the
   * capture reading the block the state is in (so the runs still alternate). Undoing the latest run is then no
   * copy: the state is back in that run's input block, and the next run is that capture again (its logits row
   * belongs to the undone step). `settle` puts the state back in the session's block (one copy after an odd
   * number of standing runs) before control returns to the session.
   * Null (nothing run) where the state is not one zerosBlock, the sampler is not supported, or a capture fails.
   */
  private recordSampled(state: Tensor[], ids: Int32Array, body: (ids: Int32Array) => Tensor, p: SamplerParams): SampledStep | null {
    this.alive();
    if (this.capture || ids.length !== 1 || !this.deviceSampling?.supports(p)) return null;
    const parts = state.map((t, i) => this.t(t, `state ${i}`));
    const whole = parts[0]?.block.parent;
    if (!whole || !whole.live || whole.members.length !== parts.length || !parts.every((t, i) => t.block === whole.members[i])) return null;
    const dev = this.dev;
    const greedy = p.temperature === 0;
    // Made before the captures (a memset cannot be recorded), held by the unit: the id word, the draw's
    // parameters, the undo block.
    const idWord = this.zeros([1]) as CudaTensor;
    const params = this.zeros([4]) as CudaTensor; // and, greedy, the argmax epilogue's two zeroed u64 words
    const undoBlock = this.alloc([whole.bytes / 4]); // ping-pong: the state's second block
    const pingPong = this.pingPong;
    const other = undoBlock.ptr - whole.ptr;
    const shared = [idWord, params, undoBlock].map((t) => {
      this.blocks.delete(t.block);
      t.block.recorded = true;
      return t.block;
    });
    let words: CudaTensor | null = null; // [3 + 2k], allocated in the first capture, once V is known
    let k = 0, V = 0, vocab = -1;
    const graphs: { graph: bigint; logits: CudaTensor; ops: number }[] = [];
    const blocks: Block[] = [...shared];
    const dropAll = () => {
      for (const g of graphs) dev.releaseGraph(g.graph);
      for (const b of blocks) this.giveBack(b);
    };
    for (let n = 0; n < 2; n++) {
      const plan: SnapPlan = pingPong
        ? { members: whole.members, from: n === 0 ? 0n : other, delta: n === 0 ? other : 0n, done: new Set() }
        : { members: whole.members, delta: other, done: new Set() };
      const cap: Capture = { pool: new Map(), blocks: [], idsPtr: idWord.ptr, n: 1, vocab: -1, snap: plan };
      const got = this.captureGraph(cap, () => {
        if (SNAP_FOLD_OFF && !pingPong) { // A/B: the whole undo point first, one kernel
          guarded('state undo point', () => dev.stateCopy!(undoBlock.ptr, whole.ptr, whole.bytes));
          for (const m of whole.members) plan.done.add(m.ptr);
        }
        const logits = this.t(body(ids), 'the recorded logits');
        if (logits.dtype !== 'f32' || logits.shape.length !== 2 || logits.shape[0] !== 1) throw fail('E_SHAPE', `recordSampled: logits must be [1, V], got [${logits.shape}]`);
        if (!words) {
          V = logits.shape[1];
          k = Math.min(greedy ? 1 : p.topK, V);
          words = this.alloc([3 + 2 * k]); // held by the first recording
        }
        if (logits.shape[1] !== V || (cap.vocab >= 0 && V > cap.vocab)) throw fail('E_TOKEN', `recordSampled: ${V} logits cannot index a table of ${cap.vocab} rows`);
        const w = words;
        // Greedy, with the head GEMV still held back: the draw is that GEMV's epilogue, no kernel of its own.
        const head = this.pending;
        const inHead = greedy && !ARGMAX_GEMV_OFF && this.dev.convEpilogues !== undefined && head?.kind === 'gemv' && head.outs.length === 1
          && head.outs[0] === logits.ptr && !head.convs && this.decodeGemvTakes(head) && head.K <= DECODE_GEMV_MAX_K - 32; // (its 72 bytes of shared words beside the row)
        if (inHead) head.argmax = { scratch: params.ptr, out: w.ptr, idOut: idWord.ptr };
        const d = this.d; // what fusion held back (the head GEMV) goes first
        for (const m of whole.members) this.stateInPlace(m.ptr); // members no kernel of the step wrote: saved, or (ping-pong) carried over
        if (!inHead) guarded('deviceSampling.sample (recorded)', () => d.topKSampleFrom!(w.ptr, logits.ptr, V, k, greedy, greedy ? null : params.ptr, idWord.ptr));
        return logits;
      });
      if (!got) {
        dropAll();
        return null;
      }
      blocks.push(...cap.blocks);
      vocab = cap.vocab;
      graphs.push({ graph: got.graph, logits: got.out, ops: got.ops });
    }
    const buf = words as CudaTensor | null;
    if (!buf) {
      dropAll();
      return null;
    }
    let released = false;
    let runs = 0;
    let latest: CudaDeviceToken | null = null;
    /** Ping-pong: the block the state is in (0 the session's, 1 the second), and the one the latest run read. */
    let parity = 0, latestFrom = 0;
    /** Ping-pong: whether the latest run can be undone (not once settled: the copy may have overwritten its input block). */
    let undoable = false;
    /** Ping-pong: the state back in the session's block (SampledStep.settle). */
    const settle = () => {
      if (parity === 1 && whole.live && !this.disposed) guarded('settling a step', () => this.d.copy(whole.ptr, undoBlock.ptr, whole.bytes));
      parity = 0;
      undoable = false;
    };
    const hostParams = new Float32Array(4);
    const recording = {
      blocks,
      release: () => {
        if (released) return;
        if (pingPong) settle(); // (a unit released mid-run keeps the session's state)
        released = true;
        if (latest) latest.stale = true;
        this.recordings.delete(recording);
        if (this.disposed) return;
        dropAll();
      },
    };
    this.recordings.add(recording);
    return {
      ops: graphs[0].ops,
      run: (next: Int32Array, q: SamplerParams, u: number) => {
        if (released) throw fail('E_ARGUMENT', 'cuda: this recorded step was released');
        this.alive();
        if ((q.temperature === 0) !== greedy || (!greedy && q.topK !== p.topK)) {
          throw fail('E_ARGUMENT', `cuda: this step was recorded for ${greedy ? 'greedy decoding' : `top-k ${p.topK}`}, not ${q.temperature === 0 ? 'greedy decoding' : `top-k ${q.topK}`}`);
        }
        if (next.length !== 1) throw fail('E_ARGUMENT', `cuda: a recorded step takes 1 id, got ${next.length}`);
        const onDevice = this.checkIds(next, vocab);
        const g = graphs[pingPong ? parity : runs % 2]; // ping-pong: the capture reading the block the state is in
        const d = this.d; // ops held back go first
        if (!greedy) {
          hostParams[0] = q.temperature; hostParams[1] = q.topP; hostParams[2] = u;
          guarded('deviceSampling.sample (parameters)', () => d.writeAsync!(params.ptr, hostParams));
        }
        guarded('running a recorded step', () => {
          if (onDevice === latest && onDevice) d.launchGraph!(g.graph); // the last run's draw left its id in the id word
          else if (onDevice) d.replayFrom!(g.graph, idWord.ptr, onDevice.idPtr, 4);
          else d.replay(g.graph, idWord.ptr, next);
        });
        runs++;
        if (pingPong) {
          latestFrom = parity;
          parity ^= 1;
          undoable = true;
        }
        if (latest) latest.stale = true; // this run's draw overwrites the words
        const out = new Float32Array(3 + 2 * k); // raw u32 bits (only ever read through a Uint32Array)
        const done = guarded('deviceSampling.sample (read-back)', () => d.downloadAsync(buf.ptr, out, 0, READ_KERNEL));
        done.catch(() => undefined); // a dropped run-ahead step is released unread; its failure is reported by the next read
        const token = new CudaDeviceToken(buf, k, V, out, done, new Int32Array(1));
        token.shared = true;
        this.deviceIds.set(token.ids, token);
        latest = token;
        return { token, logits: g.logits };
      },
      undo: (t: DeviceToken) => {
        if (released) throw fail('E_ARGUMENT', 'cuda: this recorded step was released');
        if (t !== latest) throw fail('E_ARGUMENT', 'cuda: only the latest run of a recorded step can be undone');
        if (pingPong && !undoable) throw fail('E_ARGUMENT', 'cuda: a run settled into the session\'s state cannot be undone');
        if (pingPong) parity = latestFrom; // the state before that run is still in the block it read
        else guarded('undoing a step', () => this.d.copy(whole.ptr, undoBlock.ptr, whole.bytes));
      },
      ...(pingPong ? { settle: () => {
        if (released) throw fail('E_ARGUMENT', 'cuda: this recorded step was released');
        settle();
      } } : {}),
      release: recording.release,
    };
  }

  /** A block no tensor uses any more, back into the pool. */
  private giveBack(b: Block): void {
    b.live = false;
    b.recorded = false;
    const list = this.pool.get(b.bytes);
    if (list) list.push(b.ptr);
    else this.pool.set(b.bytes, [b.ptr]);
  }

  /**
   * Ids for an embedding of `vocab` rows (vocab < 0: a recording that embeds nothing, no bound): host ids each in
   * [0, vocab), or a device-sampled token (deviceSampling.ids) still current and drawn from ≤ vocab logits, which is
   * returned (undefined for host ids).
   */
  private checkIds(ids: Int32Array, vocab: number): CudaDeviceToken | undefined {
    const onDevice = this.deviceIds.get(ids);
    if (onDevice) {
      if (onDevice.released || onDevice.stale) throw fail('E_ARGUMENT', `cuda: a device-sampled token was used after ${onDevice.released ? 'release' : 'a later step overwrote it'}`);
      if (vocab >= 0 && onDevice.V > vocab) throw fail('E_TOKEN', `a token sampled from ${onDevice.V} logits cannot index a table of ${vocab} rows`);
      return onDevice;
    }
    if (vocab >= 0) for (const id of ids) if (!(id >= 0 && id < vocab)) throw fail('E_TOKEN', `token id ${id} is outside the vocabulary [0, ${vocab})`);
    return undefined;
  }

  // ---- ops -----------------------------------------------------------------

  embedding(table: Tensor, ids: Int32Array): Tensor {
    const tt = this.t(table, 'table');
    const [vocab, dim] = tt.shape;
    const onDevice = this.checkIds(ids, vocab); // a device-sampled token: always a row of the [1, V] logits it was drawn from
    const out = this.alloc([ids.length, dim]);
    const cap = this.capture;
    if (cap) { // recorded: the ids are read from the recording's id buffer, which each run fills first
      if (ids.length !== cap.n) throw fail('E_ARGUMENT', `cuda: a recorded step embeds its ${cap.n} ids, not ${ids.length}`);
      cap.vocab = cap.vocab < 0 ? vocab : Math.min(cap.vocab, vocab);
      guarded('embedding', () => this.d.embeddingIds(out.ptr, tt.ptr, DTYPE_CODE[tt.dtype]!, cap.idsPtr, ids.length, dim));
      return out;
    }
    if (onDevice) guarded('embedding', () => this.d.embeddingIds(out.ptr, tt.ptr, DTYPE_CODE[tt.dtype]!, onDevice.idPtr, 1, dim));
    else guarded('embedding', () => this.d.embedding(out.ptr, tt.ptr, DTYPE_CODE[tt.dtype]!, ids, dim));
    return out;
  }

  rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const dim = checkRowWeight('rmsNorm', x, weight);
    const xp = this.f32(x, 'x'), wp = this.f32(weight, 'weight');
    const out = this.alloc(x.shape);
    const p = this.pending;
    const oneRow = !NORM_GEMV_OFF && numel(x.shape) === dim && dim % 4 === 0 && dim <= DECODE_GEMV_MAX_K && this.dev.decodeGemv !== undefined;
    if (oneRow) { // held back: the GEMV that reads it forms the row itself (decode.cu), with the residual add before it
      const add = p?.kind === 'add' && p.out === xp && p.n === dim ? p : null;
      if (!add) this.flush();
      this.pending = { kind: 'norm', out: out.ptr, pro: { kind: 1, a: add ? add.a : xp, b: add ? add.b : null, w: wp, sum: add ? add.out : null, normed: out.ptr, dim, eps, group: dim } };
      return out;
    }
    if (p?.kind === 'add' && p.out === xp && p.n === numel(x.shape)) { // the residual add and this norm: one launch
      this.pending = null;
      this.flushShift();
      guarded('add + rmsNorm', () => this.dev.addRmsNorm(p.out, out.ptr, p.a, p.b, wp, numel(x.shape) / dim, dim, eps));
      return out;
    }
    guarded('rmsNorm', () => this.d.rmsNorm(out.ptr, xp, wp, numel(x.shape) / dim, dim, eps));
    return out;
  }

  gatedRmsNorm(x: Tensor, gate: Tensor, weight: Tensor, eps: number, groupSize: number): Tensor {
    const dim = checkRowWeight('gatedRmsNorm', x, weight);
    checkSameShape('gatedRmsNorm', x, gate);
    if (!(groupSize > 0) || dim % groupSize !== 0) throw fail('E_SHAPE', `gatedRmsNorm: group size ${groupSize} does not divide ${dim}`);
    const xp = this.f32(x, 'x'), gp = this.f32(gate, 'gate'), wp = this.f32(weight, 'weight');
    const out = this.alloc(x.shape);
    if (!NORM_GEMV_OFF && numel(x.shape) === dim && dim % 4 === 0 && dim <= DECODE_GEMV_MAX_K && this.dev.decodeGemv) { // held back for the GEMV after it
      this.flush();
      this.pending = { kind: 'norm', out: out.ptr, pro: { kind: 2, a: xp, b: gp, w: wp, sum: null, normed: out.ptr, dim, eps, group: groupSize } };
      return out;
    }
    guarded('gatedRmsNorm', () => this.d.gatedRmsNorm(out.ptr, xp, gp, wp, numel(x.shape) / groupSize, groupSize, dim, eps));
    return out;
  }

  matmul(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
    const { rows, inner, outCols } = checkMatmul(x, w, bias);
    const xp = this.f32(x, 'x');
    const wt = this.t(w, 'weight');
    const bp = bias ? this.f32(bias, 'bias') : null;
    const out = this.alloc([...x.shape.slice(0, -1), outCols]);
    const dtype = DTYPE_CODE[wt.dtype]!;
    if (!FUSE_OFF && rows <= 8) { // a GEMV: held back, to share a launch with the next GEMVs over the same x
      const p = this.pending;
      if (p?.kind === 'norm' && p.out === xp && rows === 1 && inner === p.pro.dim) { // the norm before it, folded in
        this.pending = { kind: 'gemv', x: xp, rows, K: inner, dtype, outs: [out.ptr], ws: [wt.ptr], biases: [bp], Ms: [outCols], pro: p.pro };
        return out;
      }
      if (this.convFold && p?.kind === 'conv' && p.outs.length === 1 && p.B === 1 && p.outs[0] === xp && rows === 1 && inner === p.Cs[0]
        && inner % 4 === 0 && inner <= DECODE_GEMV_MAX_K && this.dev.decodeGemv && this.dev.convShift) {
        // One token's conv and the GEMV reading its output (Mamba-1's x_proj): one launch; the conv's state shift comes after.
        const pro: Prologue = {
          kind: 3, a: p.xs[0], b: p.biases[0], w: p.ws[0], sum: null, normed: xp, dim: inner, eps: 0, group: 0,
          conv: { state: p.states[0], K: p.K, silu: p.silu },
        };
        this.pending = { kind: 'gemv', x: xp, rows, K: inner, dtype, outs: [out.ptr], ws: [wt.ptr], biases: [bp], Ms: [outCols], pro };
        return out;
      }
      if (p?.kind === 'gemv' && p.x === xp && p.rows === rows && p.K === inner && p.dtype === dtype && p.outs.length < GEMV_BATCH_MAX) {
        p.outs.push(out.ptr); p.ws.push(wt.ptr); p.biases.push(bp); p.Ms.push(outCols);
      } else {
        this.flush();
        this.pending = { kind: 'gemv', x: xp, rows, K: inner, dtype, outs: [out.ptr], ws: [wt.ptr], biases: [bp], Ms: [outCols] };
      }
      return out;
    }
    guarded('matmul', () => this.d.matmul(out.ptr, xp, wt.ptr, dtype, bp, rows, inner, outCols));
    return out;
  }

  add(a: Tensor, b: Tensor): Tensor {
    checkSameShape('add', a, b);
    const ap = this.f32(a, 'a'), bp = this.f32(b, 'b');
    const out = this.alloc(a.shape);
    if (!FUSE_OFF) { // held back: a following rmsNorm of the sum runs in the same launch
      this.flush();
      this.pending = { kind: 'add', out: out.ptr, a: ap, b: bp, n: numel(a.shape) };
      return out;
    }
    guarded('add', () => this.d.add(out.ptr, ap, bp, numel(a.shape)));
    return out;
  }

  override glu(a: Tensor, gate: Tensor): Tensor {
    checkSameShape('glu', a, gate);
    const ap = this.f32(a, 'a'), gp = this.f32(gate, 'gate');
    const out = this.alloc(a.shape);
    guarded('glu', () => this.d.glu(out.ptr, ap, gp, numel(a.shape)));
    return out;
  }

  conv1dCausal(args: Conv1dArgs): Tensor {
    const { batch, seq, channels, kernel } = checkConv1d(args);
    const xp = this.f32(args.x, 'x'), wp = this.f32(args.weight, 'weight'), sp = this.f32(args.state, 'state');
    const bp = args.bias ? this.f32(args.bias, 'bias') : null;
    const out = this.alloc(args.x.shape);
    if (!FUSE_OFF && seq === 1) { // a step: held back, to share a launch with the next steps (Mamba-2's x, B, C convs)
      const p = this.pending;
      // Its input is a whole output of the decode GEMV held back (in_proj's x, B or C part): that GEMV does it as it writes it.
      const item = p?.kind === 'gemv' ? p.outs.indexOf(xp) : -1;
      if (p?.kind === 'gemv' && item >= 0 && this.convEpilogue && !this.convFold && batch === 1 && p.rows === 1 && p.Ms[item] === channels
        && !p.pro?.conv && this.decodeGemvTakes(p) && (p.convs?.length ?? 0) < (this.dev.convEpilogues ?? 0)
        && (!p.convs || (p.convK === kernel && p.convSilu === args.silu && p.convs.every((c) => c.item !== item && c.state !== sp && c.src !== sp)))) {
        // (ping-pong: sp, the member's address in the session's block, is either the source or the destination)
        const st = this.stateWrite(sp, true);
        (p.convs ??= []).push({ item, w: wp, bias: bp, state: st.dst, out: out.ptr, snap: st.snap, src: st.src });
        p.convK = kernel;
        p.convSilu = args.silu;
        return out;
      }
      // Never batch two convs of one state: each launch's threads own their channel's state.
      if (p?.kind === 'conv' && p.B === batch && p.K === kernel && p.silu === args.silu && p.outs.length < CONV_BATCH_MAX && !p.states.includes(sp)
        && !p.outs.includes(xp)) {
        p.outs.push(out.ptr); p.xs.push(xp); p.ws.push(wp); p.biases.push(bp); p.states.push(sp); p.Cs.push(channels);
      } else {
        this.flush();
        this.pending = { kind: 'conv', B: batch, K: kernel, silu: args.silu, outs: [out.ptr], xs: [xp], ws: [wp], biases: [bp], states: [sp], Cs: [channels] };
      }
      return out;
    }
    const d = this.d;
    const st = this.stateInPlace(sp);
    guarded('conv1dCausal', () => d.conv1d(out.ptr, xp, wp, bp, st, batch, seq, channels, kernel, args.silu));
    return out;
  }

  conv1dCausalStep(args: Conv1dArgs): Tensor {
    checkOneToken('conv1dCausalStep', args.x.shape[1]);
    return this.conv1dCausal(args);
  }

  selectiveScan(a: SelectiveScanArgs): Tensor {
    const { batch, seq, inner, stateSize } = checkSelectiveScan(a);
    const p = (t: Tensor, what: string) => this.f32(t, what);
    const args = [p(a.x, 'x'), p(a.dt, 'dt'), p(a.dtBias, 'dtBias'), p(a.A, 'A'), p(a.B, 'B'), p(a.C, 'C'), p(a.D, 'D'), p(a.z, 'z'), p(a.state, 'state')] as const;
    const y = this.alloc([batch, seq, inner]);
    const dtGemv = this.pending;
    if (!SCAN_DT_OFF && batch === 1 && seq === 1 && dtGemv?.kind === 'gemv' && !dtGemv.pro && !dtGemv.convs && !dtGemv.argmax && dtGemv.rows === 1 && dtGemv.outs.length === 1
      && dtGemv.outs[0] === args[1] && dtGemv.biases[0] === null && dtGemv.Ms[0] === inner && this.dev.scanDtStep) {
      // One decode token whose dt is the GEMV held back just before (dt_proj): computed inside the scan step
      // (decode.cu scanDtStep), which also writes dt, so anything reading it later sees the same values.
      this.pending = null;
      const shift = this.convShift; // owed by the conv folded into x_proj: done inside the scan step (after that GEMV read the state)
      this.convShift = null;
      const [x, dt, dtBias, A, B, C, D, z, state] = args;
      const sh = shift ? this.stateWrite(shift.state, false) : null;
      const h = this.stateWrite(state, true);
      guarded('selectiveScanStep (dt_proj folded in)', () =>
        this.dev.scanDtStep!(x, dtGemv.x, dtGemv.ws[0], dtGemv.dtype, dtBias, A, B, C, D, z, h.dst, y.ptr, dt, inner, stateSize, dtGemv.K,
          sh?.dst ?? null, shift?.x ?? null, shift?.K ?? 0, h.snap, h.src, sh?.src ?? null));
      this.lastScanChunks = 1;
      return y;
    }
    const d = this.d;
    const st = this.stateInPlace(args[8]);
    this.lastScanChunks = guarded('selectiveScan', () =>
      d.scan(false, y.ptr, ...args.slice(0, 8) as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint], st, batch, seq, inner, stateSize, 1, 1, 1, 0, Infinity));
    return y;
  }

  selectiveScanStep(a: SelectiveScanArgs): Tensor {
    checkOneToken('selectiveScanStep', a.x.shape[1]);
    return this.selectiveScan(a);
  }

  /**
   * Mamba-2 SSD. The result is the SSD of the reference backend's chunked matrix form; the kernel
   * computes it as a chunked scan whose chunk count it picks from the GPU's size (gpu/cuda/src/scan.cu),
   * so `chunkSize` changes nothing but f32 rounding, as in the reference.
   */
  ssdChunkScan(a: SsdScanArgs): Tensor {
    const { batch, seq, numHeads: H, headDim: P, stateSize: N, nGroups: G } = checkSsdScan(a);
    const p = (t: Tensor, what: string) => this.f32(t, what);
    const args = [p(a.x, 'x'), p(a.dt, 'dt'), p(a.dtBias, 'dtBias'), p(a.A, 'A'), p(a.B, 'B'), p(a.C, 'C'), p(a.D, 'D'), null, p(a.state, 'state')] as const;
    const y = this.alloc([batch, seq, H * P]);
    const convs = this.pending;
    if (!SSD_STEP_OFF && this.convFold && batch === 1 && seq === 1 && convs?.kind === 'conv' && convs.outs.length === 3 && convs.B === 1
      && G * N <= SSD_CONV_MAX_GN && this.dev.ssdConvStep) {
      // The three convs held back just before (Mamba-2's x, B, C) feeding this step: one launch (decode.cu ssdStep<true>).
      const [ix, iB, iC] = [args[0], args[4], args[5]].map((ptr) => convs.outs.indexOf(ptr));
      if (ix >= 0 && iB >= 0 && iC >= 0 && new Set([ix, iB, iC]).size === 3 && convs.Cs[ix] === H * P && convs.Cs[iB] === G * N && convs.Cs[iC] === G * N) {
        this.pending = null;
        this.flushShift();
        const [, dt, dtBias, A, , , D, , state] = args;
        const at = (i: number) => [convs.xs[i], convs.ws[i], convs.biases[i], convs.states[i], convs.outs[i]] as const;
        const [xi, xw, xb, xs, xo] = at(ix), [Bi, Bw, Bb, Bs, Bo] = at(iB), [Ci, Cw, Cb, Cs, Co] = at(iC);
        // Its threads shift states others read: saved before it (ping-pong: copied to the written block, then in place there).
        const [hs, xst, Bst, Cst] = [state, xs, Bs, Cs].map((st) => this.stateInPlace(st));
        guarded('ssdStep (convs folded in)', () => this.dev.ssdConvStep!(dt, dtBias, A, D, hs, y.ptr, H, P, G, N, a.dtMin, a.dtMax,
          xi, Bi, Ci, xw, Bw, Cw, xb, Bb, Cb, xst, Bst, Cst, xo, Bo, Co, convs.K, convs.silu));
        this.lastScanChunks = 1;
        return y;
      }
    }
    if (!SSD_STEP_OFF && batch === 1 && seq === 1 && this.dev.ssdStep) { // one decode token: decode.cu's step kernel
      const [x, dt, dtBias, A, B, C, D, , state] = args;
      const d = this.d;
      const h = this.stateWrite(state, true);
      guarded('ssdStep', () => d.ssdStep!(x, dt, dtBias, A, B, C, D, h.dst, y.ptr, H, P, G, N, a.dtMin, a.dtMax, h.snap, h.src));
      this.lastScanChunks = 1;
      return y;
    }
    const d = this.d;
    const st = this.stateInPlace(args[8]);
    this.lastScanChunks = guarded('ssdChunkScan', () =>
      d.scan(true, y.ptr, ...args.slice(0, 8) as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, null], st, batch, seq, H * P, N, H, P, G, a.dtMin, a.dtMax));
    return y;
  }

  ssdStep(a: SsdScanArgs): Tensor {
    checkOneToken('ssdStep', a.x.shape[1]);
    return this.ssdChunkScan(a);
  }

  // The lineage ops and Mamba-3 come from PartialBackend (not in the addon yet: 'auto' picks wasm).

  // ---- attention family (issue 8): rope, causal GQA attention over a device KV cache, SwiGLU, relu², MoE ----
  // Kernels: gpu/cuda/src/attention.cu (rope, KV append, tiled attention with key splits) and mlp.cu.

  /** The attention kernels, or the typed "not implemented" error for an addon built before them. */
  private api(op: OpName | 'kvCache'): CudaAttentionApi {
    if (!this.attn) throw this.unsupported(op);
    return this.attn;
  }

  override createKvCache(batch: number, kvHeads: number, headDim: number, opts: { maxTokens?: number; capacity?: number } = {}): KvCache {
    this.api('kvCache');
    this.alive();
    const c = new CudaKvCache(batch, kvHeads, headDim, opts.maxTokens ?? Infinity);
    this.reserveKv(c, Math.min(opts.capacity ?? 0, c.maxTokens));
    return c;
  }

  private kv(cache: KvCache): CudaKvCache {
    if (!(cache instanceof CudaKvCache)) throw fail('E_ARGUMENT', 'cuda: a KV cache from another backend');
    if (cache.freed) throw fail('E_ARGUMENT', 'cuda: a KV cache was used after free');
    return cache;
  }

  /**
   * Room for `needed` tokens: new blocks of the grown capacity (doubling, clamped to maxTokens), the held
   * rows copied once with a pitched copy, the old blocks back to the pool. Out of device memory is
   * E_MEMORY from here, before the cache changes.
   */
  private reserveKv(c: CudaKvCache, needed: number): void {
    if (needed <= c.capacity) return;
    const api = this.api('kvCache');
    const cap = grownCapacity(c.capacity, needed, c.maxTokens);
    const { batch: B, kvHeads: G, headDim: Dh } = c;
    const k = this.alloc([B, G, cap, Dh]);
    let v: CudaTensor;
    try {
      v = this.alloc([B, G, cap, Dh]);
    } catch (e) {
      this.free(k);
      throw e;
    }
    if (c.length > 0) {
      for (const [dst, src] of [[k, c.k!], [v, c.v!]] as const) {
        guarded('KV cache growth', () => api.copy2d(dst.ptr, 4 * cap * Dh, src.ptr, 4 * c.capacity * Dh, 4 * c.length * Dh, B * G));
      }
    }
    this.free(c.k, c.v);
    [c.k, c.v, c.capacity] = [k, v, cap];
  }

  override async readKvCache(cache: KvCache): Promise<{ k: Float32Array; v: Float32Array }> {
    const c = this.kv(cache);
    const api = this.api('kvCache');
    const { batch: B, kvHeads: G, headDim: Dh, length: L, capacity: cap } = c;
    if (L === 0) return { k: new Float32Array(0), v: new Float32Array(0) };
    const out: Float32Array[] = [];
    for (const src of [c.k!, c.v!]) {
      const dense = this.alloc([B, G, L, Dh]);
      guarded('readKvCache', () => api.copy2d(dense.ptr, 4 * L * Dh, src.ptr, 4 * cap * Dh, 4 * L * Dh, B * G));
      const pending = this.read(dense);
      this.free(dense);
      out.push(await pending);
    }
    return { k: out[0], v: out[1] };
  }

  override writeKvCache(cache: KvCache, k: Float32Array, v: Float32Array, length: number): void {
    const c = this.kv(cache);
    const api = this.api('kvCache');
    checkKvData(c, k, v, length);
    c.length = 0;
    this.reserveKv(c, length);
    c.length = length;
    if (length === 0) return;
    const { batch: B, kvHeads: G, headDim: Dh, capacity: cap } = c;
    for (const [dst, data] of [[c.k!, k], [c.v!, v]] as const) {
      const dense = this.upload(data, [B, G, length, Dh]) as CudaTensor;
      guarded('writeKvCache', () => api.copy2d(dst.ptr, 4 * cap * Dh, dense.ptr, 4 * length * Dh, 4 * length * Dh, B * G));
      this.free(dense);
    }
  }

  override truncateKvCache(cache: KvCache, length: number): void {
    const c = this.kv(cache);
    if (!Number.isInteger(length) || length < 0 || length > c.length) throw fail('E_ARGUMENT', `truncateKvCache: ${length} is not in [0, ${c.length}]`);
    c.length = length;
  }

  override freeKvCache(cache: KvCache): void {
    if (!(cache instanceof CudaKvCache) || cache.freed) return;
    cache.freed = true;
    this.free(cache.k, cache.v);
    cache.k = cache.v = null;
  }

  /** RoPE inverse frequencies on the device, uploaded once per array the graph holds (values checked on reuse). */
  private readonly invFreqs = new WeakMap<Float32Array, { values: Float32Array; t: CudaTensor }>();

  private invFreqOnDevice(invFreq: Float32Array): CudaTensor {
    const held = this.invFreqs.get(invFreq);
    if (held && held.t.block.live && held.values.every((v, i) => v === invFreq[i])) return held.t;
    if (held) this.free(held.t);
    const t = this.upload(invFreq, [invFreq.length]) as CudaTensor;
    this.invFreqs.set(invFreq, { values: invFreq.slice(), t });
    return t;
  }

  override rope(args: RopeArgs): Tensor {
    const api = this.api('rope');
    const { pairs: R } = checkRope(args);
    const [B, T] = args.x.shape;
    const xp = this.f32(args.x, 'x');
    const out = this.alloc(args.x.shape);
    if (R === 0) {
      guarded('rope', () => this.d.copy(out.ptr, xp, 4 * numel(args.x.shape)));
      return out;
    }
    const inv = this.invFreqOnDevice(args.invFreq);
    guarded('rope', () => api.rope(out.ptr, xp, inv.ptr, B, T, args.numHeads, args.headDim, R, args.position));
    return out;
  }

  /**
   * Forces the key-split length of the attention kernel (a positive multiple of 32), so tests can
   * split short caches; undefined: the rule in attentionPlan.
   */
  attentionKeysPerSplit: number | undefined = undefined;

  /**
   * How many key splits each tile of query rows gets. A block takes 16 query rows of one (batch, kv
   * head) — T·(H/Hkv) rows per group — so a prefill has blocks enough to fill the GPU, and one split
   * (the output written directly) is right. Decode has B·Hkv blocks or a few more: splitting the key
   * axis (Flash-Decoding) until there are about two blocks per multiprocessor keeps every SM streaming
   * K and V, at ≥ 64 keys a split so the combine pass stays small next to the walk.
   */
  private attentionPlan(B: number, T: number, H: number, G: number, keys: number): { splits: number; keysPerSplit: number } {
    const round = (n: number) => ATTN_KEY_TILE * Math.max(1, Math.ceil(n / ATTN_KEY_TILE));
    let C = this.attentionKeysPerSplit;
    if (C !== undefined && !(Number.isInteger(C) && C > 0 && C % ATTN_KEY_TILE === 0)) {
      throw fail('E_ARGUMENT', `cuda: attentionKeysPerSplit must be a positive multiple of ${ATTN_KEY_TILE}, got ${C}`);
    }
    if (C === undefined) {
      const blocks = Math.ceil((T * (H / G)) / ATTN_ROW_TILE) * B * G;
      const target = 2 * this.dev.info.multiprocessors;
      const splits = blocks >= target ? 1 : Math.max(1, Math.min(Math.ceil(target / blocks), Math.floor(keys / 64)));
      C = round(keys / splits);
    }
    return { splits: Math.max(1, Math.ceil(keys / C)), keysPerSplit: C };
  }

  override attention(args: AttentionArgs): Tensor {
    const api = this.api('attention');
    const { batch: B, seq: T, past: P } = checkAttention(args);
    const c = this.kv(args.cache);
    const { numHeads: H, numKvHeads: G, headDim: Dh } = args;
    if (Dh > api.maxHeadDim) throw fail('E_SHAPE', `cuda: head_dim ${Dh} is above the attention kernel's ${api.maxHeadDim}`, { field: 'headDim' });
    const q = this.f32(args.q, 'q'), k = this.f32(args.k, 'k'), v = this.f32(args.v, 'v');
    const { splits, keysPerSplit } = this.attentionPlan(B, T, H, G, P + T);
    this.reserveKv(c, P + T);
    guarded('attention (KV append)', () => api.kvAppend(c.k!.ptr, c.v!.ptr, k, v, B, T, G, Dh, c.capacity, P));
    c.length = P + T;
    const y = this.alloc([B, T, H * Dh]);
    const part = splits > 1 ? this.alloc([B * T * H, splits, Dh + 2]) : null;
    guarded('attention', () => api.attention(y.ptr, part?.ptr ?? null, q, c.k!.ptr, c.v!.ptr, B, T, H, G, Dh, c.capacity, P, splits, keysPerSplit, args.scale));
    this.free(part);
    this.lastAttentionSplits = splits;
    return y;
  }

  /** Key splits the last attention call used (tests). */
  lastAttentionSplits = 0;

  override attentionStep(args: AttentionArgs): Tensor {
    checkOneToken('attentionStep', args.q.shape[1]);
    return this.attention(args);
  }

  override swiglu(gate: Tensor, up: Tensor): Tensor {
    const api = this.api('swiglu');
    checkSameShape('swiglu', gate, up);
    const gp = this.f32(gate, 'gate'), upp = this.f32(up, 'up');
    const out = this.alloc(gate.shape);
    guarded('swiglu', () => api.swiglu(out.ptr, gp, upp, numel(gate.shape)));
    return out;
  }

  override relu2(x: Tensor): Tensor {
    const api = this.api('relu2');
    const xp = this.f32(x, 'x');
    const out = this.alloc(x.shape);
    guarded('relu2', () => api.relu2(out.ptr, xp, numel(x.shape)));
    return out;
  }

  /** Device tables of the experts' weight pointers [gate ×E, up ×E, down ×E], one per expert list the graph holds. */
  private readonly expertTables = new WeakMap<Tensor[], { ptrs: bigint[]; t: CudaTensor }>();

  private expertTable(a: MoeArgs): CudaTensor {
    const ptrs = [...a.gate, ...a.up, ...a.down].map((w, i) => this.t(w, `expert weight ${i}`).ptr);
    const held = this.expertTables.get(a.gate);
    if (held && held.t.block.live && held.ptrs.every((p, i) => p === ptrs[i])) return held.t;
    if (held) this.free(held.t);
    const t = this.alloc([ptrs.length * 2]); // 8 bytes a pointer
    guarded('mixtureOfExperts (expert table)', () => this.api('mixtureOfExperts').writeBytes(t.ptr, BigUint64Array.from(ptrs)));
    this.expertTables.set(a.gate, { ptrs, t });
    return t;
  }

  /**
   * The sparse mixture of SwiGLU experts. The router runs on the device (gpu/cuda/src/mlp.cu moeRoute:
   * softmax, top-k, weights). Few rows (decode): two fused kernels read each routed expert's weights
   * through a pointer table — no host round trip. More rows (prefill): the routes are read back (one
   * wait per MoE layer), each expert's tokens gathered, run through cuBLAS (gate, up, down) and
   * scatter-added with their weights, so each expert's weights stream once per prefill chunk.
   */
  override mixtureOfExperts(a: MoeArgs): Tensor {
    const api = this.api('mixtureOfExperts');
    const { rows, dim: D, experts: E, inner: I } = checkMoe(a);
    const K = a.topK;
    if (E > api.maxExperts) throw fail('E_SHAPE', `cuda: ${E} experts are above the router kernel's ${api.maxExperts}`, { field: 'experts' });
    const xp = this.f32(a.x, 'x');
    const x2 = this.reshape(a.x, [rows, D]);
    const logits = this.matmul(x2, a.router) as CudaTensor; // [rows, E]
    const idx = this.alloc([rows, K]); // int32 expert ids (bits in an f32 block)
    const w = this.alloc([rows, K]);
    guarded('mixtureOfExperts (router)', () => api.moeRoute(idx.ptr, w.ptr, logits.ptr, rows, E, K, a.normalize));
    this.free(logits);
    const dtypes = new Set([...a.gate, ...a.up, ...a.down].map((t) => this.t(t).dtype));
    if (rows <= MOE_FEW_ROWS && dtypes.size === 1) {
      const code = DTYPE_CODE[[...dtypes][0]]!;
      const table = this.expertTable(a);
      const h = this.alloc([rows, K, I]);
      const out = this.alloc(a.x.shape);
      const at = (j: number) => table.ptr + BigInt(8 * E * j);
      guarded('mixtureOfExperts', () => {
        api.moeGateUp(h.ptr, xp, at(0), at(1), idx.ptr, code, rows, K, D, I);
        api.moeDown(out.ptr, h.ptr, at(2), idx.ptr, w.ptr, code, rows, K, D, I);
      });
      this.free(h, idx, w);
      return out;
    }
    const ids = new Int32Array(rows * K), weights = new Float32Array(rows * K);
    guarded('mixtureOfExperts (reading the routes)', () => {
      api.readBytes(idx.ptr, ids);
      api.readBytes(w.ptr, weights);
    });
    // Each expert's (row, weight) pairs, experts in order, rows ascending within one.
    const start = new Int32Array(E + 1);
    for (const e of ids) start[e + 1]++;
    for (let e = 0; e < E; e++) start[e + 1] += start[e];
    const cursor = start.slice(0, E);
    const rowList = new Int32Array(rows * K), wList = new Float32Array(rows * K);
    for (let j = 0; j < rows * K; j++) {
      const at = cursor[ids[j]]++;
      rowList[at] = Math.floor(j / K);
      wList[at] = weights[j];
    }
    guarded('mixtureOfExperts (expert rows)', () => {
      api.writeBytes(idx.ptr, rowList);
      api.writeBytes(w.ptr, wList);
    });
    const out = this.zeros(a.x.shape) as CudaTensor;
    for (let e = 0; e < E; e++) {
      const n = start[e + 1] - start[e];
      if (n === 0) continue;
      const off = BigInt(4 * start[e]);
      const xs = this.alloc([n, D]);
      guarded('mixtureOfExperts (gather)', () => api.gatherRows(xs.ptr, xp, idx.ptr + off, n, D));
      const g = this.matmul(xs, a.gate[e]), u = this.matmul(xs, a.up[e]);
      const hh = this.swiglu(g, u);
      const y = this.matmul(hh, a.down[e]) as CudaTensor;
      guarded('mixtureOfExperts (scatter)', () => api.scatterAddRows(out.ptr, y.ptr, idx.ptr + off, w.ptr + off, n, D));
      this.free(xs, g, u, hh, y);
    }
    this.free(idx, w);
    return out;
  }
}
