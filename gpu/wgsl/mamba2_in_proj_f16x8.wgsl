// Mamba-2 decode: norm + the whole in_proj + the x / B / C conv steps in one dispatch
// (include/mamba2_in_proj_main.wgsl), f16 weights (weights_f16.wgsl order) with D % 8 == 0: 8 halves (16 bytes) of W per step.
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;

const PER: u32 = 8u; // weights per loaded word
fn partial(m: u32, k: u32, K4: u32, r: u32) -> f32 {
  let p = w[m * (K4 / 2u) + k];
  let a = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
  let b = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
  return dot(a, xv(r, 2u * k, K4)) + dot(b, xv(r, 2u * k + 1u, K4));
}

//#include "include/mamba2_in_proj_main.wgsl"
