// Mamba-1 selective scan, pass 3 of 3: thread per (b, chunk, i), rerun the chunk from the state
// that enters it and emit y = (C·h + D·x) · silu(z) (HF MambaMixer.slow_forward).
//   x, dt, z, y: [B, T, I]   dtBias, D: [I]   A: [I, N]   Bm, Cm: [B, T, N]   hc: [B, nC, I, N]
//   n0 B  n1 T  n2 I  n4 L  n5 nC
//#include "include/mamba1_scan_inputs.wgsl"
//#include "include/mamba1_scan_gate_inputs.wgsl"
@group(0) @binding(9) var<storage, read> hc: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 64u + lid;
  let T = prm.n1; let I = prm.n2; let L = prm.n4; let nC = prm.n5;
  if (g >= prm.n0 * nC * I) { return; }
  let i = g % I;
  let c = (g / I) % nC;
  let b = g / (I * nC);
  var h: array<f32, NS>;
  for (var n = 0u; n < NS; n++) { h[n] = hc[g * NS + n]; }
  let t1 = min(T, (c + 1u) * L);
  for (var t = c * L; t < t1; t++) {
    let row = b * T + t;
    let xv = x[row * I + i];
    let delta = softplus(dt[row * I + i] + dtBias[i]);
    var acc = 0.0;
    for (var n = 0u; n < NS; n++) {
      h[n] = exp(delta * A[i * NS + n]) * h[n] + delta * xv * Bm[row * NS + n];
      acc += h[n] * Cm[row * NS + n];
    }
    y[row * I + i] = (acc + D[i] * xv) * silu(z[row * I + i]);
  }
}
