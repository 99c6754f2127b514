// Mamba-1 selective scan, one thread per (b, i) walking T tokens in order (T = 1: the decode step):
// Δ = softplus(dt + bias); h ← exp(Δ·A)·h + Δ·B·x; y = (C·h + D·x)·silu(z) (HF MambaMixer.slow_forward).
// The state row stays in registers for the walk. For T > 1 this is the plain sequential scan that the
// chunked one (selective_scan_chunk/carry/out) replaces; the backend runs it for prefill only when
// asked (WebGpuBackend.scanMode = 'sequential': benchmarks and a cross-check).
//   x, dt, z, y: [B, T, I]   dtBias, D: [I]   A: [I, N]   Bm, Cm: [B, T, N]   state: [B, I, N]
//   n0 B  n1 T  n2 I
//#include "include/mamba1_scan_inputs.wgsl"
//#include "include/mamba1_scan_gate_inputs.wgsl"
@group(0) @binding(9) var<storage, read_write> state: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 64u + lid;
  let T = prm.n1; let I = prm.n2;
  if (g >= prm.n0 * I) { return; }
  let i = g % I;
  let b = g / I;
  var h: array<f32, NS>;
  for (var n = 0u; n < NS; n++) { h[n] = state[g * NS + n]; }
  for (var t = 0u; t < T; t++) {
    let row = b * T + t;
    let k = row * I + i;
    let xv = x[k];
    let delta = softplus(dt[k] + dtBias[i]);
    var acc = 0.0;
    for (var n = 0u; n < NS; n++) {
      h[n] = exp(delta * A[i * NS + n]) * h[n] + delta * xv * Bm[row * NS + n];
      acc += h[n] * Cm[row * NS + n];
    }
    y[k] = (acc + D[i] * xv) * silu(z[k]);
  }
  for (var n = 0u; n < NS; n++) { state[g * NS + n] = h[n]; }
}
