// y = x / sqrt(mean(x²) + eps) · weight over the last dim; one workgroup per row.
//   x: [rows, D]   weight: [D]   y: [rows, D]
//   n0 rows  n1 D  f0 eps
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wgIndex(wid, nwg);
  if (row >= prm.n0) { return; }
  let D = prm.n1;
  let off = row * D;
  var s = 0.0;
  for (var d = lid; d < D; d += WG) { let v = x[off + d]; s += v * v; }
  red[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] += red[lid + k]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(red[0] / f32(D) + prm.f0);
  for (var d = lid; d < D; d += WG) { y[off + d] = weight[d] * (x[off + d] * inv); }
}
