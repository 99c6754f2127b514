// y = silu(gate) ⊙ up (the SwiGLU MLP), or with n1 = 1: y = relu(gate)² (NemotronH's relu2; up unused).
//   n0 elements  n1 mode
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let e = wgIndex(wid, nwg) * 256u + lid;
  if (e >= prm.n0) { return; }
  let g = gate[e];
  if (prm.n1 == 1u) { let r = max(g, 0.0); y[e] = r * r; } else { y[e] = silu(g) * up[e]; }
}
