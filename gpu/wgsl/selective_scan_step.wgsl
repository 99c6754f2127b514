// Mamba-1 decode step, fused: Δ = softplus(dt + bias); h ← exp(Δ·A)·h + Δ·B·x; y = (C·h + D·x)·silu(z).
// Thread per (b, i); the state row stays in registers for the step.
//   x, dt, z, y: [B, 1, I]   dtBias, D: [I]   A: [I, N]   Bm, Cm: [B, 1, N]   state: [B, I, N]
//   n0 B  n2 I
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> dtBias: array<f32>;
@group(0) @binding(4) var<storage, read> A: array<f32>;
@group(0) @binding(5) var<storage, read> Bm: array<f32>;
@group(0) @binding(6) var<storage, read> Cm: array<f32>;
@group(0) @binding(7) var<storage, read> D: array<f32>;
@group(0) @binding(8) var<storage, read> z: array<f32>;
@group(0) @binding(9) var<storage, read_write> state: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 64u + lid;
  let I = prm.n2;
  if (g >= prm.n0 * I) { return; }
  let i = g % I;
  let b = g / I;
  let xv = x[g];
  let delta = softplus(dt[g] + dtBias[i]);
  var acc = 0.0;
  for (var n = 0u; n < NS; n++) {
    let h = exp(delta * A[i * NS + n]) * state[g * NS + n] + delta * xv * Bm[b * NS + n];
    state[g * NS + n] = h;
    acc += h * Cm[b * NS + n];
  }
  y[g] = (acc + D[i] * xv) * silu(z[g]);
}
