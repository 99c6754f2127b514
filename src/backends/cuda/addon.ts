/**
 * Finding and loading the CUDA addon (gpu/cuda, built by `npm run build:cuda`). The addon is optional
 * by construction: nothing imports it statically, the Node entry registers the backend, and every
 * way it can be missing or unusable (not built, built for another platform, no driver, no GPU, a GPU
 * too old) becomes a reason string that `backend: 'auto'` reports in `backendInfo.fallbackReason`.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build:cuda` writes the addon, relative to the package root. */
export const ADDON_PATH = 'gpu/cuda/build/Release/mamba_edge_cuda.node';
/** Environment variable naming another addon file (a build made elsewhere). */
export const ADDON_ENV = 'MAMBA_EDGE_CUDA_ADDON';
/** The addon's `abi`: bumped when the argument order of its methods changes. */
export const ADDON_ABI = 3;

/** The device the addon found (gpu/cuda/src/addon.cc `deviceInfo`). */
export interface CudaDeviceInfo {
  name: string;
  computeCapability: string;
  multiprocessors: number;
  totalBytes: number;
}

export type CudaProbe =
  | { available: true; device: CudaDeviceInfo; runtimeVersion: number }
  | { available: false; reason: string; runtimeVersion: number };

type Ptr = bigint;
type OptPtr = bigint | null;

/** One CUDA context's worth of state: scratch, cuBLAS handle (gpu/cuda/src/addon.cc `Device`). */
export interface CudaDevice {
  readonly info: CudaDeviceInfo & { cublas: string; cublasLoaded: boolean };
  malloc(bytes: number): Ptr;
  free(p: Ptr): void;
  memsetZero(p: Ptr, bytes: number): void;
  upload(dst: Ptr, data: Float32Array, dtype: number): void;
  /** The copy is enqueued in call order; the promise settles off the event loop once it is done. */
  /** byKernel (f32, ≤ 1,024 words): copied by a kernel into the page-locked buffer instead of the copy engine (READKERNEL). */
  downloadAsync(src: Ptr, out: Float32Array, dtype: number, byKernel?: boolean): Promise<void>;
  copy(dst: Ptr, src: Ptr, bytes: number): void;
  synchronize(): void;
  memInfo(): { free: number; total: number };
  dispose(): void;
  embedding(out: Ptr, table: Ptr, dtype: number, ids: Int32Array, dim: number): void;
  rmsNorm(out: Ptr, x: Ptr, w: Ptr, rows: number, dim: number, eps: number): void;
  gatedRmsNorm(out: Ptr, x: Ptr, gate: Ptr, w: Ptr, groups: number, groupSize: number, dim: number, eps: number): void;
  add(out: Ptr, a: Ptr, b: Ptr, n: number): void;
  glu(out: Ptr, a: Ptr, gate: Ptr, n: number): void;
  matmul(out: Ptr, x: Ptr, w: Ptr, dtype: number, bias: OptPtr, rows: number, K: number, M: number): void;
  conv1d(out: Ptr, x: Ptr, w: Ptr, bias: OptPtr, state: Ptr, B: number, T: number, C: number, K: number, silu: boolean): void;
  scan(
    ssd: boolean, y: Ptr, x: Ptr, dt: Ptr, dtBias: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: OptPtr, state: Ptr,
    batch: number, T: number, I: number, N: number, H: number, P: number, G: number, dtMin: number, dtMax: number,
  ): number;
  /** embedding with the ids already in device memory at `ids` (a recorded step's id buffer). */
  embeddingIds(out: Ptr, table: Ptr, dtype: number, ids: Ptr, n: number, dim: number): void;
  /** Several GEMVs over the same x (≤ 8 rows, ≤ 6 matrices of one dtype) in one launch. */
  gemvBatch(x: Ptr, rows: number, K: number, dtype: number, outs: Ptr[], ws: Ptr[], biases: OptPtr[], Ms: number[]): void;
  /** Several T = 1 convs with the same batch, kernel width and activation, in one launch. */
  /** `snaps` (builds with the run-ahead step graph): where each state's values before the shift are saved (null: not saved). */
  /** `srcs` (builds with `stateSources`): where each state is read from, `states` getting the shifted one (null: in place). */
  conv1dStepBatch(B: number, K: number, silu: boolean, outs: Ptr[], xs: Ptr[], ws: Ptr[], biases: OptPtr[], states: Ptr[], Cs: number[], snaps?: OptPtr[] | null, srcs?: OptPtr[]): void;
  /** sum = a + b; out = rmsnorm(sum) · w, in one launch. */
  addRmsNorm(sum: Ptr, out: Ptr, a: Ptr, b: Ptr, w: Ptr, rows: number, dim: number, eps: number): void;
  /** The k largest of x[0, V) → out [1 + 2k] u32 words: count, ids[k], value bits[k] (gpu/cuda/src/topk.cu). */
  topK(out: Ptr, x: Ptr, V: number, k: number): void;
  /** Ops from here to endCapture are recorded into a CUDA graph instead of run. */
  beginCapture(): void;
  endCapture(): { graph: Ptr; nodes: number };
  /** Ends a capture in progress, dropping what it recorded. */
  abortCapture(): void;
  /** Copies `ids` into the recording's id buffer, then launches the recording. */
  replay(graph: Ptr, idsPtr: Ptr, ids: Int32Array): void;
  /** Waits for launches in flight, then destroys the recording. */
  releaseGraph(graph: Ptr): void;
  // Batch-1 decode kernels (gpu/cuda/src/decode.cu) and device sampling; absent in builds from before them.
  /** Programmatic dependent launch on (where the GPU is sm_90+) or off for later launches; → whether it is on. */
  setPdl?(on: boolean): boolean;
  /** decodeGemv's warps per output column for later launches (split-K): 0 one, 2 / 4 / 8 that many, −1 chosen per launch; → the mode set. Process-wide. */
  setDecodeSplit?(mode: number): number;
  /** ssdStep loads each lane's state entries (and B, C) before its first store, or one at a time; → whether on. Process-wide. */
  setSsdHold?(on: boolean): boolean;
  /**
   * One row x [K] through ≤ 6 matrices of one dtype (K % 4 = 0, K ≤ 12,288), x formed first by the prologue:
   * kind 0 x as given; 1 rmsnorm(a (+ b)) · w, a + b written to `sum`; 2 gated rmsnorm(a · silu(b)) · w over
   * groups of `group`; 3 a T = 1 conv of a (weights w [K, convK], bias b, state only read, silu); the formed row
   * written to `normed` when given.
   */
  decodeGemv?(
    x: OptPtr, K: number, dtype: number, outs: Ptr[], ws: Ptr[], biases: OptPtr[], Ms: number[],
    kind: number, a: OptPtr, b: OptPtr, w: OptPtr, sum: OptPtr, normed: OptPtr, eps: number, group: number,
    state: OptPtr, convK: number, silu: boolean,
    convs?: readonly { item: number; w: Ptr; bias: OptPtr; state: Ptr; out: Ptr; snap: OptPtr; src?: OptPtr }[], convsK?: number, convsSilu?: boolean,
    argmax?: { scratch: Ptr; out: Ptr; idOut: OptPtr },
  ): void;
  /** How many conv epilogues decodeGemv takes (absent in builds without them): T = 1 convs of its outputs, done as it writes them. */
  readonly convEpilogues?: number;
  /**
   * True in builds whose state-writing decode kernels (conv1dStepBatch, the conv epilogues, convShift, scanDtStep,
   * ssdStep) take the state before the step apart from the one they write (`srcs`, `src`, `stateIn`, `convIn`; null: in
   * place): a ping-pong step graph (MAMBA_EDGE_CUDA_PINGPONG) reads one block and writes the other. Absent before them.
   */
  readonly stateSources?: boolean;
  /** Mamba-1's T = 1 scan (batch 1) with dt = dtLow · W_dtᵀ computed in it and written to dtOut. */
  scanDtStep?(
    x: Ptr, dtLow: Ptr, wDt: Ptr, dtype: number, dtBias: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, z: Ptr, state: Ptr, y: Ptr, dtOut: Ptr,
    I: number, N: number, R: number, convState: OptPtr, convX: OptPtr, convK: number, snap?: OptPtr, stateIn?: OptPtr, convIn?: OptPtr,
  ): void;
  /** state [C, K − 1] ← its last K − 2 entries ++ x: the shift of a conv whose output a GEMV computed (decodeGemv kind 3). */
  convShift?(state: Ptr, x: Ptr, C: number, K: number, src?: OptPtr): void;
  /** Mamba-2's T = 1 SSD step (batch 1): state updated in place, y written. */
  ssdStep?(
    x: Ptr, dt: Ptr, dtBias: Ptr, A: Ptr, B: Ptr, C: Ptr, D: Ptr, state: Ptr, y: Ptr, H: number, P: number, G: number, N: number, dtMin: number, dtMax: number,
    snap?: OptPtr, stateIn?: OptPtr,
  ): void;
  /**
   * Mamba-2's three T = 1 convs (x, B, C) and SSD step (batch 1) in one launch: the conv outputs written to
   * xOut / BOut / COut, the conv states shifted, the SSD state updated, y written.
   */
  ssdConvStep?(
    dt: Ptr, dtBias: Ptr, A: Ptr, D: Ptr, state: Ptr, y: Ptr, H: number, P: number, G: number, N: number, dtMin: number, dtMax: number,
    xin: Ptr, Bin: Ptr, Cin: Ptr, wx: Ptr, wB: Ptr, wC: Ptr, bx: OptPtr, bB: OptPtr, bC: OptPtr, sx: Ptr, sB: Ptr, sC: Ptr,
    xOut: Ptr, BOut: Ptr, COut: Ptr, K: number, silu: boolean,
  ): void;
  /** Copies `bytes` of ids from device memory at `src` into the recording's id buffer, then launches the recording. */
  replayFrom?(graph: Ptr, idsPtr: Ptr, src: Ptr, bytes: number): void;
  /** out [3 + 2k] u32: top-k (count, ids, value bits), the sampler's choice (0xffffffff: none), the id an embedding reads. */
  topKSample?(out: Ptr, x: Ptr, V: number, k: number, greedy: boolean, temperature: number, topP: number, u: number): void;
  // ---- the run-ahead step graph (CudaBackend's deviceSampling.recordSampled) ----
  /**
   * topKSample with [temperature, topP, u] read from `params` in device memory when it runs (null when greedy); PDL-launched;
   * the id the next embedding reads also written to `idOut` (an int32).
   */
  topKSampleFrom?(out: Ptr, x: Ptr, V: number, k: number, greedy: boolean, params: OptPtr, idOut: OptPtr): void;
  /** dst ← src by a kernel (bytes a multiple of 16): a state's undo point where the kernel writing it cannot save it. */
  stateCopy?(dst: Ptr, src: Ptr, bytes: number): void;
  /** Launches a recording as it is. */
  launchGraph?(graph: Ptr): void;
  /** Host bytes into device memory in stream order, without waiting (staged before it returns). */
  writeAsync?(dst: Ptr, data: ArrayBufferView): void;
}

export interface CudaAddon {
  abi: number;
  probe(): CudaProbe;
  Device: new () => CudaDevice;
  /** The attention family's kernels (gpu/cuda/src/attention_api.cc); absent in builds from before them. */
  attention?: CudaAttentionApi;
}

/**
 * The attention family's kernels (gpu/cuda/src/attention_api.cc, attention.h): functions over device
 * pointers, enqueued on the same stream as CudaDevice's ops. Buffers are allocated by the backend.
 */
export interface CudaAttentionApi {
  /** Largest head_dim the attention kernel takes; largest expert count the router takes. */
  readonly maxHeadDim: number;
  readonly maxExperts: number;
  rope(y: Ptr, x: Ptr, invFreq: Ptr, B: number, T: number, H: number, Dh: number, R: number, position: number): void;
  kvAppend(cacheK: Ptr, cacheV: Ptr, k: Ptr, v: Ptr, B: number, T: number, G: number, Dh: number, capacity: number, P: number): void;
  copy2d(dst: Ptr, dstPitch: number, src: Ptr, srcPitch: number, widthBytes: number, height: number): void;
  attention(
    y: Ptr, partials: OptPtr, q: Ptr, cacheK: Ptr, cacheV: Ptr,
    B: number, T: number, H: number, G: number, Dh: number, capacity: number, P: number, splits: number, keysPerSplit: number, scale: number,
  ): void;
  swiglu(y: Ptr, gate: Ptr, up: Ptr, n: number): void;
  relu2(y: Ptr, x: Ptr, n: number): void;
  moeRoute(idx: Ptr, weight: Ptr, logits: Ptr, rows: number, E: number, K: number, normalize: boolean): void;
  moeGateUp(h: Ptr, x: Ptr, gateTable: Ptr, upTable: Ptr, idx: Ptr, dtype: number, rows: number, K: number, D: number, I: number): void;
  moeDown(y: Ptr, h: Ptr, downTable: Ptr, idx: Ptr, weight: Ptr, dtype: number, rows: number, K: number, D: number, I: number): void;
  gatherRows(out: Ptr, x: Ptr, rows: Ptr, n: number, D: number): void;
  scatterAddRows(out: Ptr, y: Ptr, rows: Ptr, w: Ptr, n: number, D: number): void;
  /** Raw bytes host → device (synchronous copy, in stream order). */
  writeBytes(dst: Ptr, data: ArrayBufferView): void;
  /** Raw bytes device → host; waits for the ops enqueued before it. */
  readBytes(src: Ptr, out: ArrayBufferView): void;
}

/** Files to try, in order: $MAMBA_EDGE_CUDA_ADDON, then ADDON_PATH under each directory above this module. */
export function addonCandidates(): string[] {
  const out: string[] = [];
  const env = typeof process !== 'undefined' ? process.env[ADDON_ENV] : undefined;
  if (env) out.push(env);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    out.push(join(dir, ADDON_PATH));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return out;
}

/** The addon, or why it cannot be loaded. `paths` replaces the candidates (tests). */
export function loadAddon(paths: readonly string[] = addonCandidates()): { addon: CudaAddon; path: string } | { unavailable: string } {
  const path = paths.find((p) => existsSync(p));
  if (!path) {
    return { unavailable: `the CUDA addon is not built (no ${ADDON_PATH}; run \`npm run build:cuda\` on a machine with nvcc, or set ${ADDON_ENV})` };
  }
  let addon: CudaAddon;
  try {
    addon = createRequire(import.meta.url)(path) as CudaAddon;
  } catch (e) {
    return { unavailable: `the CUDA addon at ${path} did not load: ${(e as Error).message.split('\n')[0]}` };
  }
  if (addon?.abi !== ADDON_ABI || typeof addon.probe !== 'function') {
    return { unavailable: `the CUDA addon at ${path} is from another version (abi ${String(addon?.abi)}, expected ${ADDON_ABI}); rebuild it with \`npm run build:cuda\`` };
  }
  return { addon, path };
}
