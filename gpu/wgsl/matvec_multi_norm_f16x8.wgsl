// Up to three matrix-vector products over RMSNorm(x) in one dispatch, the norm folded in (include/matvec_x_norm.wgsl; otherwise matvec_multi_f16x8.wgsl) (see include/matvec_multi_main.wgsl),
// f16 weights (weights_f16.wgsl order) with K % 8 == 0: 8 halves (16 bytes) of W per step.
//   x: [rows, K] f32   W_i: [M_i, K] f16 packed   y_i: [rows, M_i]
//   n0 rows (≤ 8)  n1 K  n2 M0  n3 M1  n4 M2  f0 the norm's eps   (x: the norm's input)
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
//#include "include/matvec_multi_w_f16x8.wgsl"
@group(0) @binding(8) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> xn: array<vec4<f32>>;
//#include "include/matvec_x_norm.wgsl"
//#include "include/matvec_multi_main.wgsl"
