// (the weight half of mamba1_in_proj_f16x8.wgsl and mamba1_in_proj_xp_f16x8.wgsl, through //#include)
// f16 weights (weights_f16.wgsl order) with D % 8 == 0: 8 halves (16 bytes) of W per step.
@group(0) @binding(2) var<storage, read> w0: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> w1: array<vec4<u32>>;

const PER: u32 = 8u; // weights per loaded word
alias WWord = vec4<u32>;
// The k-th loaded word of row m of W_x (seg 0) or W_z (seg 1).
fn wword(seg: u32, m: u32, k: u32, K4: u32) -> WWord {
  if (seg == 0u) { return w0[m * (K4 / 2u) + k]; }
  return w1[m * (K4 / 2u) + k];
}
// Row r's dot product of the k-th word wv (x's vec4s 2k and 2k + 1) with x, x read through xvg() with the
// norm weight's words ga (2k) and gb (2k + 1).
fn wdot(wv: WWord, r: u32, k: u32, K4: u32, ga: vec4<f32>, gb: vec4<f32>) -> f32 {
  let a = vec4<f32>(unpack2x16float(wv.x), unpack2x16float(wv.y));
  let b = vec4<f32>(unpack2x16float(wv.z), unpack2x16float(wv.w));
  return dot(a, xvg(r, 2u * k, K4, ga)) + dot(b, xvg(r, 2u * k + 1u, K4, gb));
}
