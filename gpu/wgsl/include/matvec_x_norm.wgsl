// (matvec_multi_norm and matvec_argmax_norm kernels) x read through the RMSNorm before the projection
// (include/norm_fold.wgsl). The including file declares the bindings (each kernel numbers its own):
//   g: array<vec4<f32>> [K] the norm's weight   xn: array<vec4<f32>> [rows, K] the normed x   f0 eps
//#include "include/norm_fold.wgsl"

fn xv(r: u32, i: u32, K4: u32) -> vec4<f32> { return g[i] * (x[r * K4 + i] * inv[r]); }

fn prologue(rows: u32, K4: u32, lid: u32, wg: u32) { foldedNorm(rows, K4, lid, wg); }
