// The argmax head kernels' input x, weight w and dot products (matvec_argmax_f16x8.wgsl and
// matvec_argmax_norm_f16x8.wgsl; xv() comes from include/matvec_x_plain.wgsl or matvec_x_norm.wgsl): f16 weights (weights_f16.wgsl order), K % 8 == 0.
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
const PER: u32 = 8u; // weights a load
fn partial(m: u32, k: u32, K4: u32) -> f32 {
  let p = w[m * (K4 / 2u) + k];
  let a = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
  let b = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
  return dot(a, xv(0u, 2u * k, K4)) + dot(b, xv(0u, 2u * k + 1u, K4));
}
