// y[r, colOffset + m] = Σ_k x[r, k] · W[m, k] (+ bias[colOffset + m]) for few rows (decode).
// One workgroup per output column m: 64 threads stride over k (coalesced reads of W's row),
// then a tree reduction. W is read once for all rows.
//   x: [rows, K] f32   W: [M, K] (wAt)   bias: [Mtotal]   y: [rows, Mtotal]
//   n0 rows (≤ 8)  n1 K  n2 M (this part's rows of W)  n3 colOffset  n4 hasBias  n5 Mtotal  n6 bias row stride (0: one bias row; Mtotal: a per-row addend, e.g. the residual)
@group(0) @binding(1) var<storage, read> x: array<f32>;
//#include "include/matvec_out.wgsl"
//#include "include/matvec_reduce.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m = wgIndex(wid, nwg);
  if (m >= prm.n2) { return; }
  let rows = prm.n0;
  let K = prm.n1;
  var acc: array<f32, 8>;
  for (var k = lid; k < K; k += WG) {
    let wv = wAt(m * K + k);
    for (var r = 0u; r < rows; r++) { acc[r] += wv * x[r * K + k]; }
  }
  let v = rowSums(acc, rows, lid);
  if (lid < rows) { storeOut(lid, m, v); }
}
