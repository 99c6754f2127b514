/** RoPE settings from config.json, as transformers 5.x reads them (rope_parameters, or the older top-level rope_theta). */
import { fail } from '../errors.js';
import type { ConfigReader } from '../formats/hf-config.js';
import { ropeInvFreq } from '../backends/attention-math.js';

/**
 * invFreq for the default RoPE type. `partial`: the architecture's rotary embedding honours
 * rope_parameters.partial_rotary_factor (rotating int(head_dim · factor) dims, rounded up to pairs),
 * with this default when absent — Bamba's config hard-codes 0.5 (BambaConfig: kwargs
 * ["partial_rotary_factor"] = 0.5, which rope_parameters keeps unless it names its own); Llama's
 * default init ignores the factor (`partial` null).
 */
export function parseRope(r: ConfigReader, headDim: number, partial: { defaultFactor: number } | null): Float32Array {
  const raw = r.raw.rope_parameters ?? r.raw.rope_scaling;
  const rp = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, unknown>;
  const type = rp.rope_type ?? rp.type ?? 'default';
  if (type !== 'default') {
    throw fail('E_CONFIG', `${r.file}: field "rope_parameters.rope_type" is "${String(type)}"; only the default RoPE is supported`, { file: r.file, field: 'rope_parameters' });
  }
  const num = (v: unknown, field: string, def: number, ok: (x: number) => boolean) => {
    const x = v ?? def;
    if (typeof x !== 'number' || !ok(x)) throw fail('E_CONFIG', `${r.file}: field "${field}" must be a positive number, got ${JSON.stringify(x)}`, { file: r.file, field });
    return x;
  };
  const theta = num(rp.rope_theta ?? r.raw.rope_theta, 'rope_theta', 10000, (x) => x > 0 && Number.isFinite(x));
  const factor = partial ? num(rp.partial_rotary_factor, 'rope_parameters.partial_rotary_factor', partial.defaultFactor, (x) => x > 0 && x <= 1) : 1;
  return ropeInvFreq(headDim, theta, factor);
}
