// Mamba-1 decode, the rest of the mixer before out_proj in one kernel, thread per (b, i):
//   conv window shift   state ← (state ++ x_in)[1:]          (conv1d_step.wgsl's update)
//   dt_proj             dt = W_dt[i, :] · dt_low[b]           (R MACs; its bias goes in softplus)
//   selective scan      Δ = softplus(dt + dtBias); h ← exp(Δ·A)·h + Δ·B·u; y = C·h + D·u
//   gate                y · silu(z)
// u (the conv output) comes from mamba1_xproj_step, dt_low/B/C packed per row as dbc.
//   u, x_in, z, y: [B, I]   convState: [B, I, K−1]   dbc: [B, R+2N]   W_dt: [I, R] f32
//   biasD: [2, I] = dtBias ++ D   A: [I, N]   ssm: [B, I, N]
//   n0 B  n2 I  n3 R  n5 K
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> xIn: array<f32>;
@group(0) @binding(3) var<storage, read_write> convState: array<f32>;
@group(0) @binding(4) var<storage, read> dbc: array<f32>;
@group(0) @binding(5) var<storage, read> wDt: array<f32>;
@group(0) @binding(6) var<storage, read> biasD: array<f32>;
@group(0) @binding(7) var<storage, read> A: array<f32>;
@group(0) @binding(8) var<storage, read> z: array<f32>;
@group(0) @binding(9) var<storage, read_write> ssm: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 64u + lid; // = b·I + i
  let I = prm.n2; let R = prm.n3; let K = prm.n5;
  if (g >= prm.n0 * I) { return; }
  let i = g % I;
  let b = g / I;
  let hist = K - 1u;
  let base = g * hist;
  for (var k = 0u; k + 1u < hist; k++) { convState[base + k] = convState[base + k + 1u]; }
  if (hist > 0u) { convState[base + hist - 1u] = xIn[g]; }
  let row = b * (R + 2u * NS);
  var dt = 0.0;
  for (var r = 0u; r < R; r++) { dt += wDt[i * R + r] * dbc[row + r]; }
  let delta = softplus(dt + biasD[i]);
  let uv = u[g];
  var acc = 0.0;
  for (var n = 0u; n < NS; n++) {
    let h = exp(delta * A[i * NS + n]) * ssm[g * NS + n] + delta * uv * dbc[row + R + n];
    ssm[g * NS + n] = h;
    acc += h * dbc[row + R + NS + n];
  }
  y[g] = (acc + biasD[I + i] * uv) * silu(z[g]);
}
