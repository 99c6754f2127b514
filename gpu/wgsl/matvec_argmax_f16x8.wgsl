// The head's matrix-vector product with each workgroup's best row for a greedy draw (see
// include/matvec_argmax_main.wgsl), f16 weights (weights_f16.wgsl order) with K % 8 == 0: matvec_f16x8.wgsl's dot products.
//   x: [1, K] f32   W: [M, K] f16 packed   y: [M]   best: [⌈M / 8⌉] (key, row) u32 pairs   n0 1  n1 K  n2 M
//#include "include/matvec_argmax_w_f16x8.wgsl"
//#include "include/matvec_x_plain.wgsl"
//#include "include/matvec_argmax_main.wgsl"
