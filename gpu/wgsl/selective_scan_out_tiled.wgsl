// Mamba-1 selective scan, pass 3 of 3, tiled: rerun each chunk from the state entering it (pass 2)
// and emit y = (C·h + D·x) · silu(z) (HF MambaMixer.slow_forward). Same tiling as
// selective_scan_chunk_tiled.wgsl: the state as vec4s, B and C staged in workgroup memory, x / dt / z
// loaded U tokens ahead.
//   x, dt, z, y: [B, T, I]   dtBias, D: [I]   A: [I, N]   Bm, Cm: [B, T, N]   hc: [B, nC, N, I]
//   n0 B  n1 T  n2 I  n4 L  n5 nC  n6 ⌈I/64⌉
//#include "include/mamba1_scan_inputs.wgsl"
//#include "include/mamba1_scan_gate_inputs.wgsl"
@group(0) @binding(9) var<storage, read> hc: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;
//#include "include/scan_stage.wgsl"
var<workgroup> Bs: array<vec4<f32>, TB * NS4>; // [token][n-quad]
var<workgroup> Cs: array<vec4<f32>, TB * NS4>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wgIndex(wid, nwg);
  let T = prm.n1; let I = prm.n2; let L = prm.n4; let nC = prm.n5;
  if (w >= prm.n0 * nC * prm.n6) { return; }
  let tile = scanTile(w);
  let b = tile.x; let c = tile.y; let i = tile.z + lid;
  let on = i < I;
  let ic = min(i, I - 1u);
  let g = b * nC + c;
  var a2: array<vec4<f32>, NS4>;
  var h: array<vec4<f32>, NS4>;
  for (var q = 0u; q < NS4; q++) {
    for (var r = 0u; r < 4u; r++) {
      let n = 4u * q + r;
      if (n < NS) { a2[q][r] = A[ic * NS + n] * LOG2E; h[q][r] = hc[(g * NS + n) * I + ic]; }
    }
  }
  let bias = dtBias[ic];
  let dSkip = D[ic];
  let t1 = min(T, (c + 1u) * L);
  for (var t0 = c * L; t0 < t1; t0 += TB) {
    let nt = min(TB, t1 - t0);
    workgroupBarrier();
    for (var k = lid; k < nt * NS4; k += 64u) {
      let at = (b * T + t0 + k / NS4) * NS; let q = k % NS4;
      var bv = vec4<f32>(0.0); var cv = vec4<f32>(0.0);
      for (var r = 0u; r < 4u; r++) { if (4u * q + r < NS) { bv[r] = Bm[at + 4u * q + r]; cv[r] = Cm[at + 4u * q + r]; } }
      Bs[k] = bv; Cs[k] = cv;
    }
    workgroupBarrier();
    for (var u0 = 0u; u0 < nt; u0 += U) {
      var xs: array<f32, U>;
      var ds: array<f32, U>;
      var zs: array<f32, U>;
      for (var u = 0u; u < U; u++) {
        if (u0 + u < nt) { let k = (b * T + t0 + u0 + u) * I + ic; xs[u] = x[k]; ds[u] = dt[k]; zs[u] = z[k]; }
      }
      for (var u = 0u; u < U; u++) {
        if (u0 + u < nt) {
          let delta = softplus(ds[u] + bias);
          let dx = delta * xs[u];
          let row = (u0 + u) * NS4;
          var acc = vec4<f32>(0.0); // four partial sums: C·h is not one chain of NS dependent adds
          for (var q = 0u; q < NS4; q++) {
            h[q] = exp2(delta * a2[q]) * h[q] + dx * Bs[row + q];
            acc += h[q] * Cs[row + q];
          }
          let ch = (acc.x + acc.y) + (acc.z + acc.w);
          if (on) { y[(b * T + t0 + u0 + u) * I + i] = (ch + dSkip * xs[u]) * silu(zs[u]); }
        }
      }
    }
  }
}
