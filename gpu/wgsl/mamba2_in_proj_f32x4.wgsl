// Mamba-2 decode: norm + the whole in_proj + the x / B / C conv steps in one dispatch
// (include/mamba2_in_proj_main.wgsl), f32 weights with D % 4 == 0: one vec4 (16 bytes) of W per step.
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;

const PER: u32 = 4u; // weights per loaded word
fn partial(m: u32, k: u32, K4: u32, r: u32) -> f32 {
  return dot(w[m * K4 + k], xv(r, k, K4));
}

//#include "include/mamba2_in_proj_main.wgsl"
