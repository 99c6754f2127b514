// Mamba-1 decode: norm + in_proj + conv step + x_proj's split-K partial sums in one dispatch
// (include/mamba1_in_proj_xp_main.wgsl), f32 in_proj weights.
//#include "include/mamba1_in_proj_w_f32x4.wgsl"
//#include "include/mamba1_in_proj_xp_main.wgsl"
