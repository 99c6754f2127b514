// The head's matrix-vector product over RMSNorm(x), the final norm folded in (as matvec_multi_norm_f32x4.wgsl), with each workgroup's best row for a greedy draw (see
// include/matvec_argmax_main.wgsl), f32 weights with K % 4 == 0: matvec_f32x4.wgsl's dot products.
//   x: [1, K] f32   W: [M, K] f32   y: [M]   best: [⌈M / 8⌉] (key, row) u32 pairs   n0 1  n1 K  n2 M
//   g: [K] the norm's weight   xn: [1, K] the normed x (workgroup 0 writes it)   f0 the norm's eps   (x: the norm's input)
//#include "include/matvec_argmax_w_f32x4.wgsl"
@group(0) @binding(5) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> xn: array<vec4<f32>>;
//#include "include/matvec_x_norm.wgsl"
//#include "include/matvec_argmax_main.wgsl"
