// (shared by top_k.wgsl, top_k_sample.wgsl, the matvec_argmax kernels and argmax_sample.wgsl, through //#include)
// Logits as order-preserving u32 keys: a larger logit has a larger key, −0 ties with +0, and NaN (0) and
// −∞ (INVALID) are never candidates — src/api/sampler.ts's rule (`candidates`, `argmax`) on the bits.
const INVALID: u32 = 0x007fffffu; // key of −∞; NaN maps to 0: keys ≤ INVALID are never candidates

fn keyOf(v: f32) -> u32 {
  var b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; } // NaN, tested on the bits (compilers may fold v != v)
  if (b == 0x80000000u) { b = 0u; } // −0 ties with +0
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}
