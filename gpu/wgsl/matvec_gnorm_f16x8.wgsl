// out_proj over Mamba-2's gated RMSNorm, folded (include/matvec_gnorm_main.wgsl), f16 weights
// (weights_f16.wgsl order) with I % 8 == 0: 8 halves (16 bytes) of W per step.
@group(0) @binding(4) var<storage, read> w: array<vec4<u32>>;

const PER: u32 = 8u; // weights per loaded word
fn wdot(m: u32, k: u32, K4: u32, r: u32) -> f32 {
  let p = w[m * (K4 / 2u) + k];
  let a = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
  let b = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
  return dot(a, xv(r, 2u * k, K4)) + dot(b, xv(r, 2u * k + 1u, K4));
}

//#include "include/matvec_gnorm_main.wgsl"
