// (matvec_multi_norm kernels) x read through the RMSNorm before the projection (include/norm_fold.wgsl).
//   g: [K] the norm's weight   xn: [rows, K] the normed x   f0 eps
@group(0) @binding(8) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> xn: array<vec4<f32>>;
//#include "include/norm_fold.wgsl"

fn xv(r: u32, i: u32, K4: u32) -> vec4<f32> { return g[i] * (x[r * K4 + i] * inv[r]); }

fn prologue(rows: u32, K4: u32, lid: u32, wg: u32) { foldedNorm(rows, K4, lid, wg); }
