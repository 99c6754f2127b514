// (the weight half of mamba1_in_proj_f32x4.wgsl and mamba1_in_proj_xp_f32x4.wgsl, through //#include)
// f32 weights with D % 4 == 0: one vec4 (16 bytes) of W per step.
@group(0) @binding(2) var<storage, read> w0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w1: array<vec4<f32>>;

const PER: u32 = 4u; // weights per loaded word
fn partial(seg: u32, m: u32, k: u32, K4: u32, r: u32) -> f32 {
  var wv: vec4<f32>;
  if (seg == 0u) { wv = w0[m * K4 + k]; } else { wv = w1[m * K4 + k]; }
  return dot(wv, xv(r, k, K4));
}
