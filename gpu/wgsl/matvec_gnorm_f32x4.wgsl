// out_proj over Mamba-2's gated RMSNorm, folded (include/matvec_gnorm_main.wgsl), f32 weights with
// I % 4 == 0: one vec4 (16 bytes) of W per step.
@group(0) @binding(4) var<storage, read> w: array<vec4<f32>>;

const PER: u32 = 4u; // weights per loaded word
fn wdot(m: u32, k: u32, K4: u32, r: u32) -> f32 { return dot(w[m * K4 + k], xv(r, k, K4)); }

//#include "include/matvec_gnorm_main.wgsl"
