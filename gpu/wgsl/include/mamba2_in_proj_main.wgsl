// (the body of mamba2_in_proj_f32x4.wgsl and mamba2_in_proj_f16x8.wgsl, through //#include)
// Mamba-2 decode, the block's norm + the whole in_proj + the conv steps of x, B and C in one dispatch
// (HF Mamba2Mixer's cached branch with T = 1): workgroup m computes in_proj's row m over the fused
// weight (rows [z: I][x: I][B: GN][C: GN][dt: H], the parts of Mamba2Layer as row views of one buffer);
// rows of x, B and C are each followed by their conv channel's step (conv1d_step.wgsl's sum in its
// order: bias, the K−1 held inputs, the new one; silu; the window shifted), z and dt rows are written
// as they are. With n6 = 1 the layer's RMSNorm is folded in (include/norm_fold.wgsl;
// xn gets the normed rows). Then mamba2_scan_step runs with n8 = 1 (x already convolved) and no
// conv1d_step_pair: two dispatches fewer a layer than in_proj + conv pair.
// The including file declares the weight binding w, PER and partial(m, k, K4, r).
//   x: [rows, D]   W: [2I + 2GN + H, D]   convW: [I + 2GN, K] (x, B, C channels)   convB: [I + 2GN]
//   states: one buffer with the x / B / C conv states [rows, I | GN | GN, K−1] at word offsets n8, n9, n10
//   out: [rows, 2I + 2GN + H] = z, silu(conv(x)), silu(conv(B)), silu(conv(C)), dt
//   n0 rows (≤ 8)  n1 D  n2 I  n3 GN  n4 H  n5 K  n6 fold the norm  n7 conv bias  n8..n10 state offsets  f0 eps
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> xn: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> convW: array<f32>;
@group(0) @binding(6) var<storage, read> convB: array<f32>;
@group(0) @binding(7) var<storage, read_write> convState: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;

//#include "include/matvec_reduce.wgsl"
//#include "include/norm_fold.wgsl"
//#include "include/conv_step.wgsl"

fn xv(r: u32, i: u32, K4: u32) -> vec4<f32> {
  if (prm.n6 == 0u) { return x[r * K4 + i]; }
  return g[i] * (x[r * K4 + i] * inv[r]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let I = prm.n2; let GN = prm.n3;
  let total = 2u * I + 2u * GN + prm.n4;
  let m = wgIndex(wid, nwg);
  if (m >= total) { return; }
  let rows = prm.n0;
  let K4 = prm.n1 / 4u;
  if (prm.n6 != 0u) { foldedNorm(rows, K4, lid, m); } // the norm (uniform: a parameter)
  let steps = prm.n1 / PER;
  var acc: array<f32, 8>;
  for (var k = lid; k < steps; k += WG) {
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { acc[r] += partial(m, k, K4, r); }
    }
  }
  let v = rowSums(acc, rows, lid);
  if (lid >= rows) { return; }
  if (m < I || m >= 2u * I + 2u * GN) { out[lid * total + m] = v; return; } // z, dt
  // conv step of channel ch (of x, B or C), sequence lid
  let ch = m - I; // in [0, I + 2GN): the conv weight's row
  var base: u32;
  let hist = prm.n5 - 1u;
  if (ch < I) { base = prm.n8 + (lid * I + ch) * hist; }
  else if (ch < I + GN) { base = prm.n9 + (lid * GN + ch - I) * hist; }
  else { base = prm.n10 + (lid * GN + ch - I - GN) * hist; }
  out[lid * total + m] = silu(convStep(ch, base, prm.n5, v, prm.n7 != 0u));
}
