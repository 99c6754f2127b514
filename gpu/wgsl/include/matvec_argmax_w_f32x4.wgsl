// The argmax head kernels' input x, weight w and dot products (matvec_argmax_f32x4.wgsl and
// matvec_argmax_norm_f32x4.wgsl; xv() comes from include/matvec_x_plain.wgsl or matvec_x_norm.wgsl): f32 weights, K % 4 == 0.
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
const PER: u32 = 4u; // weights a load
fn partial(m: u32, k: u32, K4: u32) -> f32 { return dot(w[m * K4 + k], xv(0u, k, K4)); }
