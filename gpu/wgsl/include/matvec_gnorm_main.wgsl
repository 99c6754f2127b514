// (the body of matvec_gnorm_f32x4.wgsl and matvec_gnorm_f16x8.wgsl, through //#include)
// Mamba-2 decode: the gated RMSNorm before out_proj folded into out_proj (transformers
// MambaRMSNormGated, then the Linear, then the block's residual add), one workgroup per output
// column m: every workgroup first computes its rows' per-group 1/sqrt(mean(g²) + eps) over
// g = y · silu(z) (I floats of y and z from cache, less than the weight row it streams), then
// streams W's row m against weight ⊙ (g · inv) — gated_rms_norm.wgsl's formula — and adds the
// residual. One dispatch instead of gated_rms_norm + matvec.
// The including file declares w (binding 4), PER and wdot(m, k, r): row r's dot product of the
// k-th loaded word of W's row m with xv().
//   y, z: [rows, I]   weight: [I]   W: [M, I]   residual, out: [rows, M]
//   n0 rows (≤ 8)  n1 I  n2 M  n3 group size S (S % 4 == 0)  n4 groups per row G (rows · G ≤ 8)  f0 eps
@group(0) @binding(1) var<storage, read> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> z: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> residual: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

//#include "include/matvec_reduce.wgsl"
var<workgroup> inv: array<f32, 8>;

fn gated(r: u32, i: u32, K4: u32) -> vec4<f32> {
  let zv = z[r * K4 + i];
  return y[r * K4 + i] * (zv / (vec4<f32>(1.0) + exp(-zv)));
}
fn xv(r: u32, i: u32, K4: u32) -> vec4<f32> {
  return weight[i] * (gated(r, i, K4) * inv[r * prm.n4 + (4u * i) / prm.n3]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let m = wgIndex(wid, nwg);
  if (m >= prm.n2) { return; }
  let rows = prm.n0;
  let K4 = prm.n1 / 4u;
  let G = prm.n4;
  var sq: array<f32, 8>;
  for (var k = lid; k < K4; k += WG) {
    let grp = (4u * k) / prm.n3;
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { let v = gated(r, k, K4); sq[r * G + grp] += dot(v, v); }
    }
  }
  let s = rowSums(sq, rows * G, lid);
  if (lid < rows * G) { inv[lid] = inverseSqrt(s / f32(prm.n3) + prm.f0); }
  workgroupBarrier();
  let steps = prm.n1 / PER;
  var acc: array<f32, 8>;
  for (var k = lid; k < steps; k += WG) {
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { acc[r] += wdot(m, k, K4, r); }
    }
  }
  let v = rowSums(acc, rows, lid);
  if (lid < rows) { out[lid * prm.n2 + m] = v + residual[lid * prm.n2 + m]; }
}
