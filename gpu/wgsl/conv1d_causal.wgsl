// Causal depthwise conv over s = state ++ x (HF: nn.Conv1d(groups=C, padding=K−1)(x)[..., :T]):
//   y[b, t, c] = bias[c] + Σ_k W[c, k] · s[b, c, t + k]   (then silu)
// One thread per output; the state is only read here (conv1d_state.wgsl advances it afterwards).
//   x, y: [B, T, C]   W: [C, K]   bias: [C]   state: [B, C, K−1]
//   n0 B  n1 T  n2 C  n3 K  n4 hasBias  n5 silu
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> state: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 256u + lid;
  let T = prm.n1; let C = prm.n2; let K = prm.n3;
  if (g >= prm.n0 * T * C) { return; }
  let c = g % C;
  let t = (g / C) % T;
  let b = g / (C * T);
  let hist = K - 1u;
  var acc = 0.0;
  if (prm.n4 != 0u) { acc = bias[c]; }
  for (var k = 0u; k < K; k++) {
    let j = t + k; // index into s = state ++ x
    var v: f32;
    if (j < hist) { v = state[(b * C + c) * hist + j]; } else { v = x[(b * T + j - hist) * C + c]; }
    acc += weight[c * K + k] * v;
  }
  if (prm.n5 != 0u) { acc = silu(acc); }
  y[g] = acc;
}
