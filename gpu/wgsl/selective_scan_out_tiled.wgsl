// Mamba-1 selective scan, pass 3 of 3, tiled: rerun each chunk from the state entering it (pass 2)
// and emit y = (C·h + D·x) · silu(z) (HF MambaMixer.slow_forward). Same tiling as
// selective_scan_chunk_tiled.wgsl: B and C staged in workgroup memory, x / dt / z loaded U tokens ahead.
//   x, dt, z, y: [B, T, I]   dtBias, D: [I]   A: [I, N]   Bm, Cm: [B, T, N]   hc: [B, nC, N, I]
//   n0 B  n1 T  n2 I  n4 L  n5 nC  n6 ⌈I/64⌉
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> dtBias: array<f32>;
@group(0) @binding(4) var<storage, read> A: array<f32>;
@group(0) @binding(5) var<storage, read> Bm: array<f32>;
@group(0) @binding(6) var<storage, read> Cm: array<f32>;
@group(0) @binding(7) var<storage, read> D: array<f32>;
@group(0) @binding(8) var<storage, read> z: array<f32>;
@group(0) @binding(9) var<storage, read> hc: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;
//#include "include/scan_stage.wgsl"
var<workgroup> Bs: array<f32, TB * NS>;
var<workgroup> Cs: array<f32, TB * NS>;

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
  var a2: array<f32, NS>;
  var h: array<f32, NS>;
  let g = b * nC + c;
  for (var n = 0u; n < NS; n++) { a2[n] = A[ic * NS + n] * LOG2E; h[n] = hc[(g * NS + n) * I + ic]; }
  let bias = dtBias[ic];
  let dSkip = D[ic];
  let t1 = min(T, (c + 1u) * L);
  for (var t0 = c * L; t0 < t1; t0 += TB) {
    let nt = min(TB, t1 - t0);
    workgroupBarrier();
    for (var k = lid; k < nt * NS; k += 64u) { let src = (b * T + t0) * NS + k; Bs[k] = Bm[src]; Cs[k] = Cm[src]; }
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
          let row = (u0 + u) * NS;
          var acc = vec4<f32>(0.0); // four partial sums: C·h is not one chain of NS dependent adds
          for (var n = 0u; n < NS; n++) {
            h[n] = exp2(delta * a2[n]) * h[n] + dx * Bs[row + n];
            acc[n % 4u] += h[n] * Cs[row + n];
          }
          let ch = (acc.x + acc.y) + (acc.z + acc.w);
          if (on) { y[(b * T + t0 + u0 + u) * I + i] = (ch + dSkip * xs[u]) * silu(zs[u]); }
        }
      }
    }
  }
}
