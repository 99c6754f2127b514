// Mamba-1 selective scan, chunked prefill, pass 1 of 3, tiled (the 'chunked' scanMode; the first
// version is selective_scan_chunk.wgsl, 'chunked-v1'). Same recurrence (Gu & Dao 2023, Alg. 2):
// each chunk runs from h = 0, h ← exp(Δ·A) ⊙ h + Δ·x·B, and stores its end state and ΣΔ.
// What changed, for the H100 (BENCHMARKS.md, WebGPU scans): A·log2(e) held in registers (one exp2 per
// state instead of a strided reload of A and exp), the state as vec4s, B staged in workgroup memory,
// x / dt loaded U tokens ahead, and the chunk states stored n-major so every store and the carry's
// loads coalesce.
//   x, dt: [B, T, I]   dtBias: [I]   A: [I, N]   Bm: [B, T, N]   hc: [B, nC, N, I]   sd: [B, nC, I]
//   n0 B  n1 T  n2 I  n4 L (chunk)  n5 nC  n6 ⌈I/64⌉; one workgroup per (b, chunk, 64 channels)
//#include "include/mamba1_scan_inputs.wgsl"
@group(0) @binding(6) var<storage, read_write> hc: array<f32>;
@group(0) @binding(7) var<storage, read_write> sd: array<f32>;
//#include "include/scan_stage.wgsl"
var<workgroup> Bs: array<vec4<f32>, TB * NS4>; // [token][n-quad]

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
  var a2: array<vec4<f32>, NS4>;
  for (var q = 0u; q < NS4; q++) {
    for (var r = 0u; r < 4u; r++) { let n = 4u * q + r; if (n < NS) { a2[q][r] = A[ic * NS + n] * LOG2E; } }
  }
  let bias = dtBias[ic];
  var h: array<vec4<f32>, NS4>;
  var sumDelta = 0.0;
  let t1 = min(T, (c + 1u) * L);
  for (var t0 = c * L; t0 < t1; t0 += TB) {
    let nt = min(TB, t1 - t0);
    workgroupBarrier();
    for (var k = lid; k < nt * NS4; k += 64u) {
      let at = (b * T + t0 + k / NS4) * NS; let q = k % NS4;
      var v = vec4<f32>(0.0);
      for (var r = 0u; r < 4u; r++) { if (4u * q + r < NS) { v[r] = Bm[at + 4u * q + r]; } }
      Bs[k] = v;
    }
    workgroupBarrier();
    for (var u0 = 0u; u0 < nt; u0 += U) {
      var xs: array<f32, U>;
      var ds: array<f32, U>;
      for (var u = 0u; u < U; u++) {
        if (u0 + u < nt) { let k = (b * T + t0 + u0 + u) * I + ic; xs[u] = x[k]; ds[u] = dt[k]; }
      }
      for (var u = 0u; u < U; u++) {
        if (u0 + u < nt) {
          let delta = softplus(ds[u] + bias);
          let dx = delta * xs[u];
          sumDelta += delta;
          let row = (u0 + u) * NS4;
          for (var q = 0u; q < NS4; q++) { h[q] = exp2(delta * a2[q]) * h[q] + dx * Bs[row + q]; }
        }
      }
    }
  }
  if (on) {
    let g = b * nC + c;
    for (var q = 0u; q < NS4; q++) {
      for (var r = 0u; r < 4u; r++) { let n = 4u * q + r; if (n < NS) { hc[(g * NS + n) * I + i] = h[q][r]; } }
    }
    sd[g * I + i] = sumDelta;
  }
}
