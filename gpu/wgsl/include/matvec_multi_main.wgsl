// (the body of matvec_multi_f32x4.wgsl and matvec_multi_f16x8.wgsl, through //#include)
// Up to three matrix-vector products that share their input, in one dispatch (decode): the graph
// asks for in_proj / x_proj as separate row blocks, each a dispatch of its own; the backend merges
// consecutive ones over the same x (src/backends/webgpu/index.ts, matmul). Workgroups 0..M0−1
// compute y0, the next M1 compute y1, the next M2 compute y2 (the segment is uniform per workgroup).
// The including file declares x, w0..w2, PER (weights per loaded word) and
// partial(seg, m, k, K4, r): row r's dot product of the k-th loaded word of W_seg's row m with x,
// reading x through xv() and including one of include/matvec_x_plain.wgsl (x as given) or
// include/matvec_x_norm.wgsl (x RMS-normed on the fly: the norm before in_proj folded in).
//   n0 rows (≤ 8)  n1 K  n2 M0  n3 M1  n4 M2
@group(0) @binding(5) var<storage, read_write> y0: array<f32>;
@group(0) @binding(6) var<storage, read_write> y1: array<f32>;
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;

//#include "include/matvec_reduce.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let M0 = prm.n2; let M1 = prm.n3; let M2 = prm.n4;
  var m = wgIndex(wid, nwg);
  if (m >= M0 + M1 + M2) { return; }
  var seg = 0u;
  var M = M0;
  if (m >= M0) {
    m -= M0; seg = 1u; M = M1;
    if (m >= M1) { m -= M1; seg = 2u; M = M2; }
  }
  let rows = prm.n0;
  let K4 = prm.n1 / 4u;
  prologue(rows, K4, lid, wgIndex(wid, nwg));
  let steps = prm.n1 / PER;
  var acc: array<f32, 8>;
  for (var k = lid; k < steps; k += WG) {
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { acc[r] += partial(seg, m, k, K4, r); }
    }
  }
  let v = rowSums(acc, rows, lid);
  if (lid < rows) {
    if (seg == 0u) { y0[lid * M + m] = v; } else if (seg == 1u) { y1[lid * M + m] = v; } else { y2[lid * M + m] = v; }
  }
}
