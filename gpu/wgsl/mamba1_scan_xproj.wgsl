// Mamba-1 decode, x_proj + dt_proj + selective scan + gate in one kernel (mamba1_scan_step.wgsl with
// x_proj folded in: WebGpuBackend.foldXProj). Every workgroup first computes the whole
// x_dbl = x_proj(u) = [dt_low: R | B: N | C: N] for its sequence into workgroup memory (8 rows at a
// time, its 64 threads striding over I, then a tree reduction) — each of the I / 64 workgroups
// recomputes it, reading x_proj's (R + 2N)·I weights from cache — then thread (b, i) runs
// mamba1_scan_step's equations: dt = W_dt[i, :] · dt_low; Δ = softplus(dt + dtBias);
// h ← exp(Δ·A)·h + Δ·B·u; y = (C·h + D·u) · silu(z). Saves the x_proj dispatch; the sums run in
// another order than the matrix-vector kernel's, so results equal the unfolded path within f32 rounding.
// W_dt comes through the weight loader (binding 2, wAt: f32 / f16 / q8_0); x_proj's blocks are f32.
//   u, z, y: [B, I] (I % 64 == 0)   W_xdt: [R, I]   W_xB, W_xC: [NS, I]   W_dt: [I, R]
//   biasD: [2, I] = dtBias ++ D   A: [I, NS]   ssm: [B, I, NS]
//   n0 B  n2 I  n3 R  n11 q8_0 offset
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read> wxDt: array<f32>;
@group(0) @binding(4) var<storage, read> wxB: array<f32>;
@group(0) @binding(5) var<storage, read> wxC: array<f32>;
@group(0) @binding(6) var<storage, read> biasD: array<f32>;
@group(0) @binding(7) var<storage, read> A: array<f32>;
@group(0) @binding(8) var<storage, read> z: array<f32>;
@group(0) @binding(9) var<storage, read_write> ssm: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

//#include "include/matvec_reduce.wgsl"
const XDBL_MAX: u32 = 512u; // R + 2·NS (the host checks)
var<workgroup> xdbl: array<f32, 512>;

fn xw(j: u32, k: u32, I: u32, R: u32) -> f32 {
  if (j < R) { return wxDt[j * I + k]; }
  if (j < R + NS) { return wxB[(j - R) * I + k]; }
  return wxC[(j - R - NS) * I + k];
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let I = prm.n2; let R = prm.n3;
  let g = wgIndex(wid, nwg) * 64u + lid; // = b·I + i
  let b = (wgIndex(wid, nwg) * 64u) / I;  // one sequence per workgroup (I % 64 == 0)
  let J = R + 2u * NS;
  for (var j0 = 0u; j0 < J; j0 += 8u) {
    // zeroed explicitly: lavapipe's compiled loop kept the previous iteration's sums with a bare `var acc`
    var acc = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var k = lid; k < I; k += WG) {
      let uv = u[b * I + k];
      for (var r = 0u; r < 8u; r++) {
        if (j0 + r < J) { acc[r] += xw(j0 + r, k, I, R) * uv; }
      }
    }
    let s = rowSums(acc, 8u, lid);
    if (lid < 8u && j0 + lid < J) { xdbl[j0 + lid] = s; }
    workgroupBarrier(); // every thread has read rowSums' result before the next one writes
  }
  if (g >= prm.n0 * I) { return; }
  let i = g % I;
  var dt = 0.0;
  for (var r = 0u; r < R; r++) { dt += wAt(i * R + r) * xdbl[r]; }
  let delta = softplus(dt + biasD[i]);
  let uv = u[g];
  var acc = 0.0;
  for (var n = 0u; n < NS; n++) {
    let h = exp(delta * A[i * NS + n]) * ssm[g * NS + n] + delta * uv * xdbl[R + n];
    ssm[g * NS + n] = h;
    acc += h * xdbl[R + NS + n];
  }
  y[g] = (acc + biasD[I + i] * uv) * silu(z[g]);
}
