// (the weight half of mamba1_in_proj_f16x8.wgsl and mamba1_in_proj_xp_f16x8.wgsl, through //#include)
// f16 weights (weights_f16.wgsl order) with D % 8 == 0: 8 halves (16 bytes) of W per step.
@group(0) @binding(2) var<storage, read> w0: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> w1: array<vec4<u32>>;

const PER: u32 = 8u; // weights per loaded word
fn partial(seg: u32, m: u32, k: u32, K4: u32, r: u32) -> f32 {
  var p: vec4<u32>;
  if (seg == 0u) { p = w0[m * (K4 / 2u) + k]; } else { p = w1[m * (K4 / 2u) + k]; }
  let a = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
  let b = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
  return dot(a, xv(r, 2u * k, K4)) + dot(b, xv(r, 2u * k + 1u, K4));
}
