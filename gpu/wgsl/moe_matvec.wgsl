// One expert's product over the rows routed to it, few rows (decode): as moe_matmul.wgsl, with
// one workgroup per output column m as matvec.wgsl — W_e's row is streamed once for all the
// expert's slots (at most 8: a token picks an expert at most once, and this path runs for ≤ 8 tokens).
// A workgroup of an expert no token picked returns before reading any weight.
//   x: [.., K] f32   W_e: [M, K] (wAt)   offsets: [E + 1] u32   slots: [S] u32   y: [S, Mtotal]
//   n0 unused  n1 K  n2 M (this part's rows of W)  n3 colOffset  n4 e  n5 Mtotal  n6 div  n11 q8_0 scales
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
//#include "include/matvec_reduce.wgsl"

var<workgroup> listStart: u32;
var<workgroup> listLen: u32;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m = wgIndex(wid, nwg);
  if (lid == 0u) {
    listStart = offsets[prm.n4];
    listLen = min(offsets[prm.n4 + 1u] - listStart, 8u);
  }
  let n = workgroupUniformLoad(&listLen);
  if (m >= prm.n2 || n == 0u) { return; }
  let K = prm.n1;
  var src: array<u32, 8>;
  for (var j = 0u; j < n; j++) { src[j] = (slots[listStart + j] / prm.n6) * K; }
  var acc: array<f32, 8>;
  for (var k = lid; k < K; k += WG) {
    let wv = wAt(m * K + k);
    for (var j = 0u; j < 8u; j++) {
      if (j < n) { acc[j] += wv * x[src[j] + k]; }
    }
  }
  let v = rowSums(acc, n, lid);
  if (lid < n) { y[slots[listStart + lid] * prm.n5 + prm.n3 + m] = v; }
}
