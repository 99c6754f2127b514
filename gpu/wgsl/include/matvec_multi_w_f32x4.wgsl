// matvec_multi_{,norm_}f32x4.wgsl's weights: three f32 segments, one vec4 (16 bytes) a load.
@group(0) @binding(2) var<storage, read> w0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> w2: array<vec4<f32>>;

const PER: u32 = 4u; // weights per loaded word
fn wload(seg: u32, i: u32) -> vec4<f32> {
  if (seg == 0u) { return w0[i]; }
  if (seg == 1u) { return w1[i]; }
  return w2[i];
}
fn partial(seg: u32, m: u32, k: u32, K4: u32, r: u32) -> f32 {
  return dot(wload(seg, m * K4 + k), xv(r, k, K4));
}
