/**
 * The op families a backend may leave to others: the lineage scans, Mamba-3 and the attention
 * family. A backend that implements only the Mamba-1/2 ops (webgpu, cuda) extends this class:
 * its `supportsOp` says no for these, so `backend: 'auto'` picks one that has them, and a direct
 * call fails with a typed error naming the op instead of a TypeError. A backend overrides the
 * methods of the families it does implement.
 */
import { fail, type MambaEdgeError } from '../errors.js';
import type {
  AttentionArgs, KvCache, LtiScanArgs, Mamba3ScanArgs, MoeArgs, OpName, RecurrentScanArgs, RopeArgs, Tensor,
} from './backend.js';

export abstract class PartialBackend {
  abstract readonly name: string;

  protected unsupported(op: OpName | 'kvCache'): MambaEdgeError {
    return fail('E_BACKEND', `the ${this.name} backend does not implement ${op} (supportsOp('${op}') is false; backend 'auto' picks one that does)`);
  }

  recurrentScan(_args: RecurrentScanArgs): Tensor { throw this.unsupported('recurrentScan'); }
  recurrentScanStep(_args: RecurrentScanArgs): Tensor { throw this.unsupported('recurrentScanStep'); }
  ltiScan(_args: LtiScanArgs): Tensor { throw this.unsupported('ltiScan'); }
  ltiScanStep(_args: LtiScanArgs): Tensor { throw this.unsupported('ltiScanStep'); }
  glu(_a: Tensor, _gate: Tensor): Tensor { throw this.unsupported('glu'); }
  mamba3Scan(_args: Mamba3ScanArgs): Tensor { throw this.unsupported('mamba3Scan'); }
  mamba3Step(_args: Mamba3ScanArgs): Tensor { throw this.unsupported('mamba3Step'); }
  rope(_args: RopeArgs): Tensor { throw this.unsupported('rope'); }
  attention(_args: AttentionArgs): Tensor { throw this.unsupported('attention'); }
  attentionStep(_args: AttentionArgs): Tensor { throw this.unsupported('attentionStep'); }
  swiglu(_gate: Tensor, _up: Tensor): Tensor { throw this.unsupported('swiglu'); }
  relu2(_x: Tensor): Tensor { throw this.unsupported('relu2'); }
  mixtureOfExperts(_args: MoeArgs): Tensor { throw this.unsupported('mixtureOfExperts'); }
  /** Bytes a KV cache of f32 K and V would take, for memory estimates even where caches are not implemented. */
  kvCacheBytes(batch: number, kvHeads: number, headDim: number, capacity: number): number {
    return 2 * 4 * batch * kvHeads * headDim * capacity;
  }
  createKvCache(_batch: number, _kvHeads: number, _headDim: number, _opts?: { maxTokens?: number; capacity?: number }): KvCache { throw this.unsupported('kvCache'); }
  readKvCache(_cache: KvCache): Promise<{ k: Float32Array; v: Float32Array }> { throw this.unsupported('kvCache'); }
  writeKvCache(_cache: KvCache, _k: Float32Array, _v: Float32Array, _length: number): void { throw this.unsupported('kvCache'); }
  truncateKvCache(_cache: KvCache, _length: number): void { throw this.unsupported('kvCache'); }
  freeKvCache(_cache: KvCache): void { throw this.unsupported('kvCache'); }
}
