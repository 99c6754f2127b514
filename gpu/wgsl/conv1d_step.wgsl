// Decode form of the causal depthwise conv, fused: one thread per (b, c) computes
// y = bias + Σ_k W[c, k] · s[k] over s = state ++ x (one token), applies silu, and shifts x into its
// own state row — one dispatch instead of conv1d_causal + conv1d_state.
//   x, y: [B, 1, C]   convW: [C, K]   convB: [C]   convState: [B, C, K−1]
//   n0 B  n2 C  n3 K  n4 hasBias  n5 silu
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> convW: array<f32>;
@group(0) @binding(3) var<storage, read> convB: array<f32>;
@group(0) @binding(4) var<storage, read_write> convState: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

//#include "include/conv_step.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 256u + lid; // = b·C + c
  let C = prm.n2; let K = prm.n3;
  if (g >= prm.n0 * C) { return; }
  var acc = convStep(g % C, g * (K - 1u), K, x[g], prm.n4 != 0u);
  if (prm.n5 != 0u) { acc = silu(acc); }
  y[g] = acc;
}
