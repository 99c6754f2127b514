// (the weight half of mamba1_in_proj_f32x4.wgsl and mamba1_in_proj_xp_f32x4.wgsl, through //#include)
// f32 weights with D % 4 == 0: one vec4 (16 bytes) of W per step.
@group(0) @binding(2) var<storage, read> w0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w1: array<vec4<f32>>;

const PER: u32 = 4u; // weights per loaded word
alias WWord = vec4<f32>;
// The k-th loaded word of row m of W_x (seg 0) or W_z (seg 1).
fn wword(seg: u32, m: u32, k: u32, K4: u32) -> WWord {
  if (seg == 0u) { return w0[m * K4 + k]; }
  return w1[m * K4 + k];
}
// Row r's dot product of the k-th word wv with x, x read through xvg() with the norm weight's word ga
// (gb: the f16 layout's second word, unused here).
fn wdot(wv: WWord, r: u32, k: u32, K4: u32, ga: vec4<f32>, gb: vec4<f32>) -> f32 {
  return dot(wv, xvg(r, k, K4, ga));
}
