// (the body of mamba1_in_proj_f32x4.wgsl and mamba1_in_proj_f16x8.wgsl, through //#include)
// Mamba-1 decode, the block's norm + in_proj + the conv step in one dispatch (MambaMixer.slow_forward
// with T = 1): workgroups 0..I−1 compute in_proj's x rows, each followed by its channel's causal conv
// step (conv1d_step.wgsl's sum in its order: bias, the K−1 held inputs, the new one; silu; the window
// shifted), workgroups I..2I−1 compute z's rows. With n4 = 1 the layer's RMSNorm is folded in
// (x is the block input; include/norm_fold.wgsl, xn gets the normed rows).
// The including file declares the weight bindings w0 (x rows), w1 (z rows), PER, WWord, wword() and wdot().
//   x: [rows, D]   W_x, W_z: [I, D]   convW: [I, K]   convB: [I]   state: [rows, I, K−1]   u, z: [rows, I]
//   n0 rows (≤ 8)  n1 D  n2 I  n3 K  n4 fold the norm  n5 conv bias  f0 the norm's eps
//#include "include/mamba1_in_proj_inputs.wgsl"
@group(0) @binding(9) var<storage, read_write> u: array<f32>;
@group(0) @binding(10) var<storage, read_write> z: array<f32>;

//#include "include/matvec_reduce.wgsl"
//#include "include/norm_fold.wgsl"
//#include "include/conv_step.wgsl"
//#include "include/mamba1_in_proj_x.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let I = prm.n2;
  var m = wgIndex(wid, nwg);
  if (m >= 2u * I) { return; }
  var seg = 0u;
  if (m >= I) { m -= I; seg = 1u; }
  let rows = prm.n0;
  let K4 = prm.n1 / 4u;
  if (prm.n4 != 0u) { foldedNorm(rows, K4, lid, wgIndex(wid, nwg)); } // the norm (uniform: a parameter)
  let steps = prm.n1 / PER;
  var acc: array<f32, 8>;
  for (var k = lid; k < steps; k += WG) {
    // the weight word and the norm weight's words, loaded once for all rows (include/row_sums.wgsl: lavapipe)
    let wv = wword(seg, m, k, K4);
    let ga = gword(k * (PER / 4u));
    var gb = vec4<f32>();
    if (PER == 8u) { gb = gword(2u * k + 1u); }
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { acc[r] += wdot(wv, r, k, K4, ga, gb); }
    }
  }
  let v = rowSums(acc, rows, lid);
  if (lid >= rows) { return; }
  if (seg == 1u) { z[lid * I + m] = v; return; }
  // conv step of channel m, sequence lid (conv1d_step.wgsl)
  let K = prm.n3;
  u[lid * I + m] = silu(convStep(m, (lid * I + m) * (K - 1u), K, v, prm.n5 != 0u));
}
