// The mixture's output: out[r0 + r, d] = Σ_k weight[r, k] · y[r·K + k, d], summed in top-k order from 0
// as the reference backend does (JambaSparseMoeBlock's index_add_ of routing-weighted expert outputs).
//   weight: [rows, K] f32   y: [rows · K, D] f32   out: [r0 + rows, D]
//   n0 rows  n1 K  n2 D  n3 r0 (the first output row: long inputs run in groups of rows)
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  let K = prm.n1;
  let D = prm.n2;
  if (i >= prm.n0 * D) { return; }
  let r = i / D;
  let d = i % D;
  var v = 0.0;
  for (var k = 0u; k < K; k++) { v += weight[r * K + k] * y[(r * K + k) * D + d]; }
  out[prm.n3 * D + i] = v;
}
