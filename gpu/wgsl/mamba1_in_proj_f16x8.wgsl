// Mamba-1 decode: norm + in_proj + conv step in one dispatch (include/mamba1_in_proj_main.wgsl), f16 weights.
//#include "include/mamba1_in_proj_w_f16x8.wgsl"
//#include "include/mamba1_in_proj_main.wgsl"
