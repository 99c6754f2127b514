// Decode form of the causal depthwise conv, fused: one thread per (b, c) computes
// y = bias + Σ_k W[c, k] · s[k] over s = state ++ x (one token), applies silu, and shifts x into its
// own state row — one dispatch instead of conv1d_causal + conv1d_state.
//   x, y: [B, 1, C]   W: [C, K]   bias: [C]   state: [B, C, K−1]
//   n0 B  n2 C  n3 K  n4 hasBias  n5 silu
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 256u + lid; // = b·C + c
  let C = prm.n2; let K = prm.n3;
  if (g >= prm.n0 * C) { return; }
  let c = g % C;
  let hist = K - 1u;
  let base = g * hist;
  let xv = x[g];
  var acc = 0.0;
  if (prm.n4 != 0u) { acc = bias[c]; }
  for (var k = 0u; k < hist; k++) { acc += weight[c * K + k] * state[base + k]; }
  acc += weight[c * K + hist] * xv;
  for (var k = 0u; k + 1u < hist; k++) { state[base + k] = state[base + k + 1u]; }
  if (hist > 0u) { state[base + hist - 1u] = xv; }
  if (prm.n5 != 0u) { acc = silu(acc); }
  y[g] = acc;
}
