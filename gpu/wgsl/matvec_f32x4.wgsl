// matvec.wgsl for f32 weights with K % 4 == 0: 16-byte loads (four times the bytes in flight per
// thread, which is what a decode step's weight streaming is bound by), rows unrolled into registers.
//   x: [rows, K] f32   W: [M, K] f32   bias: [Mtotal]   y: [rows, Mtotal]
//   n0 rows (≤ 8)  n1 K  n2 M  n3 colOffset  n4 hasBias  n5 Mtotal  n6 bias row stride (0: one bias row; Mtotal: a per-row addend, e.g. the residual)
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
//#include "include/matvec_out.wgsl"
//#include "include/matvec_reduce.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m = wgIndex(wid, nwg);
  if (m >= prm.n2) { return; }
  let rows = prm.n0;
  let K4 = prm.n1 / 4u;
  var acc: array<f32, 8>;
  for (var k = lid; k < K4; k += WG) {
    let wv = w[m * K4 + k];
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { acc[r] += dot(wv, x[r * K4 + k]); }
    }
  }
  let v = rowSums(acc, rows, lid);
  if (lid < rows) { storeOut(lid, m, v); }
}
