// Mamba-2's norm before out_proj (transformers MambaRMSNormGated): g = x · silu(gate), then
// rmsnorm over groups of groupSize, · weight[(index) mod D]. One workgroup per group.
//   x, gate, y: [rows, D]   weight: [D]
//   n0 number of groups  n1 groupSize  n2 D  f0 eps
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let grp = wgIndex(wid, nwg);
  if (grp >= prm.n0) { return; }
  let S = prm.n1;
  let off = grp * S;
  var s = 0.0;
  for (var k = lid; k < S; k += WG) { let g = x[off + k] * silu(gate[off + k]); s += g * g; }
  red[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { red[lid] += red[lid + k]; }
    workgroupBarrier();
  }
  let inv = inverseSqrt(red[0] / f32(S) + prm.f0);
  for (var k = lid; k < S; k += WG) {
    let g = x[off + k] * silu(gate[off + k]);
    y[off + k] = weight[(off + k) % prm.n2] * (g * inv);
  }
}
