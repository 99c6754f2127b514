// matvec.wgsl for f16 weights with K % 8 == 0: each thread loads 8 halves (one 16-byte word) per step.
//   x: [rows, K] f32   W: [M, K] f16 packed (weights_f16.wgsl order)   bias: [Mtotal]   y: [rows, Mtotal]
//   n0 rows (≤ 8)  n1 K  n2 M  n3 colOffset  n4 hasBias  n5 Mtotal  n6 bias row stride (0: one bias row; Mtotal: a per-row addend, e.g. the residual)
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
//#include "include/matvec_out.wgsl"
//#include "include/matvec_reduce.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m = wgIndex(wid, nwg);
  if (m >= prm.n2) { return; }
  let rows = prm.n0;
  let K4 = prm.n1 / 4u;
  let K8 = prm.n1 / 8u;
  var acc: array<f32, 8>;
  for (var k = lid; k < K8; k += WG) {
    let p = w[m * K8 + k];
    let w0 = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
    let w1 = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { acc[r] += dot(w0, x[r * K4 + 2u * k]) + dot(w1, x[r * K4 + 2u * k + 1u]); }
    }
  }
  let v = rowSums(acc, rows, lid);
  if (lid < rows) { storeOut(lid, m, v); }
}
