// matvec_multi_{,norm_}f16x8.wgsl's weights: three f16 segments (weights_f16.wgsl order), 8 halves (16 bytes) a load.
@group(0) @binding(2) var<storage, read> w0: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> w1: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> w2: array<vec4<u32>>;

const PER: u32 = 8u; // weights per loaded word
fn wload(seg: u32, i: u32) -> vec4<u32> {
  if (seg == 0u) { return w0[i]; }
  if (seg == 1u) { return w1[i]; }
  return w2[i];
}
fn partial(seg: u32, m: u32, k: u32, K4: u32, r: u32) -> f32 {
  let p = wload(seg, m * (K4 / 2u) + k);
  let a = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
  let b = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
  return dot(a, xv(r, 2u * k, K4)) + dot(b, xv(r, 2u * k + 1u, K4));
}
