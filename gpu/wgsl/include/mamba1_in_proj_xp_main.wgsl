// (the body of mamba1_in_proj_xp_f32x4.wgsl and mamba1_in_proj_xp_f16x8.wgsl, through //#include)
// Mamba-1 decode, the block's norm + in_proj + the conv step + x_proj's split-K partial sums in one
// dispatch, so x_proj needs no dispatch of its own (MambaMixer.slow_forward with T = 1;
// include/mamba1_in_proj_main.wgsl is the same without x_proj, a workgroup a row).
// A workgroup takes a block of CH channels, LANES threads a channel: blocks 0..nb−1 (nb = ⌈I / CH⌉)
// compute in_proj's x rows c0..c0+CH−1, each channel followed by its causal conv step (conv1d_step.wgsl's
// sum in its order; silu; the window shifted), then x_proj's partial sums over the block's channels,
//   partial[r, blk, j] = Σ_{c in the block, in order} W_xproj[j, c] · u[r, c]   for the J = R + 2N rows j
// (dt_rank R, B, C): mamba1_scan_step adds the nb blocks up in a fixed order instead of reading
// x_proj's outputs. Blocks nb..2nb−1 compute z's rows. The partials are rows × nb × J floats (30 KB a
// sequence for mamba-130m: I = 1536, CH = 16, J = 80), read back from L2 by the scan step; CH = 16
// halves them against CH = 8 and still gives 2·I / 16 = 192 workgroups of 256 threads a layer there.
// With n4 = 1 the layer's RMSNorm is folded in (x is the block input; include/norm_fold.wgsl, xn gets
// the normed rows). The including file declares w0 (x rows), w1 (z rows), PER, WWord, wword() and wdot().
// One output buffer holds u, z and the partials (their offsets 256-byte aligned, so each is a
// binding of its own for the scan step): ten storage bindings, as in_proj without x_proj.
//   x: [rows, D]   W_x, W_z: [I, D]   convW: [I, K]   convB: [I]   state: [rows, I, K−1]
//   W_xproj: [J, I] f32 or f16 (weights_f16.wgsl order)
//   out: u [rows, I] at word 0, z [rows, I] at word n6, partials [rows, nb, J] at word n7
//   n0 rows (≤ 8)  n1 D  n2 I  n3 K  n4 fold the norm  n5 conv bias  n6, n7 offsets  n8 W_xproj is f16
//   n9 J  f0 the norm's eps
//#include "include/mamba1_in_proj_inputs.wgsl"
@group(0) @binding(9) var<storage, read_write> out: array<f32>;
@group(0) @binding(10) var<storage, read> wxp: array<u32>;

const LANES: u32 = 16u; // threads a channel
const CH: u32 = 16u;    // channels a workgroup (the partials' block)
const WG: u32 = 256u;   // = LANES · CH
//#include "include/row_sums.wgsl"
//#include "include/norm_fold.wgsl"
//#include "include/conv_step.wgsl"
//#include "include/mamba1_in_proj_x.wgsl"

var<workgroup> us: array<f32, 8u * CH>; // the block's u[r, c0 + cs] at r·CH + cs

// Element i of W_xproj.
fn xpAt(i: u32) -> f32 {
  if (prm.n8 == 0u) { return bitcast<f32>(wxp[i]); }
  let p = unpack2x16float(wxp[i >> 1u]);
  return select(p.x, p.y, (i & 1u) == 1u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let I = prm.n2;
  let nb = (I + CH - 1u) / CH;
  let m = wgIndex(wid, nwg);
  if (m >= 2u * nb) { return; }
  var seg = 0u;
  var blk = m;
  if (m >= nb) { blk = m - nb; seg = 1u; }
  let rows = prm.n0;
  let K4 = prm.n1 / 4u;
  if (prm.n4 != 0u) { foldedNorm(rows, K4, lid, m); } // the norm (uniform: a parameter)
  let lane = lid % LANES;
  let cs = lid / LANES;
  let c0 = blk * CH;
  let c = c0 + cs;
  let live = c < I;
  let steps = prm.n1 / PER;
  var acc = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  // A lane's 16-byte loads four at a time (independent, so in flight together): with a quarter of the
  // threads of the row-per-workgroup kernel (16 lanes a row instead of 64), each thread must keep about
  // 4× the bytes in flight for the same memory parallelism (mamba-130m, f32: 12 loads a lane, 3 rounds).
  // The four words (and the norm weight's words for them) are loaded before the rows' loop, once for all
  // rows: in the loop only x's loads (include/row_sums.wgsl: lavapipe's compile time).
  if (live) {
    for (var k0 = lane; k0 < steps; k0 += 4u * LANES) {
      var wq: array<WWord, 4>;
      var gaq: array<vec4<f32>, 4>;
      var gbq: array<vec4<f32>, 4>;
      for (var q = 0u; q < 4u; q++) {
        let k = k0 + q * LANES;
        if (k < steps) { // (k0 < steps: word 0 always)
          wq[q] = wword(seg, c, k, K4);
          gaq[q] = gword(k * (PER / 4u));
          if (PER == 8u) { gbq[q] = gword(2u * k + 1u); }
        }
      }
      for (var r = 0u; r < 8u; r++) {
        if (r < rows) {
          var s = wdot(wq[0], r, k0, K4, gaq[0], gbq[0]);
          for (var q = 1u; q < 4u; q++) {
            if (k0 + q * LANES < steps) { s += wdot(wq[q], r, k0 + q * LANES, K4, gaq[q], gbq[q]); }
          }
          acc[r] += s;
        }
      }
    }
  }
  // Σ over the channel's LANES threads (a tree in red over each channel's lanes: treeSums)
  for (var r = 0u; r < 8u; r++) { red[r * WG + lid] = acc[r]; }
  workgroupBarrier();
  treeSums(rows, lid, LANES);
  let own = live && lane < rows; // lane r of a channel takes sequence r
  let v = red[min(lane, 7u) * WG + lid - lane];
  if (seg == 1u) { // z rows (a workgroup-uniform branch)
    if (own) { out[prm.n6 + lane * I + c] = v; }
    return;
  }
  if (own) {
    // conv step of channel c, sequence lane (conv1d_step.wgsl)
    let K = prm.n3;
    let uv = silu(convStep(c, (lane * I + c) * (K - 1u), K, v, prm.n5 != 0u));
    out[lane * I + c] = uv;
    us[lane * CH + cs] = uv;
  }
  workgroupBarrier();
  // x_proj's partial sums over this block's channels, a thread a row j of W_xproj (its CH weights in a run)
  let J = prm.n9;
  let cn = min(CH, I - c0);
  for (var j = lid; j < J; j += WG) {
    var p = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var k = 0u; k < cn; k++) {
      let w = xpAt(j * I + c0 + k);
      for (var r = 0u; r < 8u; r++) {
        if (r < rows) { p[r] += w * us[r * CH + k]; }
      }
    }
    for (var r = 0u; r < rows; r++) { out[prm.n7 + (r * nb + blk) * J + j] = p[r]; }
  }
}
