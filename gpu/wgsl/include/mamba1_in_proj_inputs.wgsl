// Mamba-1's fused decode in_proj (include/mamba1_in_proj_main.wgsl, include/mamba1_in_proj_xp_main.wgsl):
// the block input x, the folded norm's weight g and normed output xn, the conv's weights, bias and state.
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> xn: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> convW: array<f32>;
@group(0) @binding(7) var<storage, read> convB: array<f32>;
@group(0) @binding(8) var<storage, read_write> convState: array<f32>;
