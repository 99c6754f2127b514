// (shared by matvec_multi_norm and the in_proj decode kernels, through //#include)
// The RMSNorm before a projection folded into it: every workgroup computes its rows'
// 1/sqrt(mean(x²) + eps) into `inv` (K floats from cache: less than the weight row it streams), which the
// including file's xv() applies as weight ⊙ (x · inv), rms_norm.wgsl's formula; workgroup 0 also writes
// the normed rows to xn, so the norm's output exists for any later reader, as if rms_norm had run.
// The including file declares x, xn, xv() and rowSums (include/matvec_reduce.wgsl); eps is prm.f0.
var<workgroup> inv: array<f32, 8>;

// Call from workgroup-uniform control flow (barriers).
fn foldedNorm(rows: u32, K4: u32, lid: u32, wg: u32) {
  var acc: array<f32, 8>;
  for (var k = lid; k < K4; k += WG) {
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { let v = x[r * K4 + k]; acc[r] += dot(v, v); }
    }
  }
  let s = rowSums(acc, rows, lid);
  if (lid < rows) { inv[lid] = inverseSqrt(s / f32(4u * K4) + prm.f0); }
  workgroupBarrier(); // also: every thread has read rowSums' result before the next rowSums writes
  if (wg == 0u) {
    for (var i = lid; i < rows * K4; i += WG) { xn[i] = xv(i / K4, i % K4, K4); }
  }
}
