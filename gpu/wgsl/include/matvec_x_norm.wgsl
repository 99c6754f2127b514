// (matvec_multi_norm kernels) The RMSNorm before a projection folded into it: every workgroup
// computes its rows' 1/sqrt(mean(x²) + eps) (K floats from cache: less than the weight row it
// streams) and reads x as weight ⊙ (x · inv), rms_norm.wgsl's formula; workgroup 0 also writes the
// normed rows to xn, so the norm's output exists for any later reader, as if rms_norm had run.
//   g: [K] the norm's weight   xn: [rows, K] the normed x   f0 eps
@group(0) @binding(8) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> xn: array<vec4<f32>>;
var<workgroup> inv: array<f32, 8>;

fn xv(r: u32, i: u32, K4: u32) -> vec4<f32> { return g[i] * (x[r * K4 + i] * inv[r]); }

// Call from workgroup-uniform control flow (barriers).
fn prologue(rows: u32, K4: u32, lid: u32, wg: u32) {
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
