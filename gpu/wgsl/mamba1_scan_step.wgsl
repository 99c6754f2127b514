// Mamba-1 decode, dt_proj + selective scan + gate in one kernel, 16 threads per channel (b, i):
//   dt_proj             dt = W_dt[i, :] · dt_low[b]           (R MACs; its bias goes in softplus)
//   selective scan      Δ = softplus(dt + dtBias); h ← exp(Δ·A)·h + Δ·B·u; y = C·h + D·u
//   gate                y · silu(z)
// replacing a dt_proj matrix-vector dispatch and selective_scan_step (whose equations it repeats).
// Lane l of a channel takes dt_proj's terms r ≡ l and the state entries n ≡ l (mod 16), so a warp's loads
// of W_dt, A and the state are runs of consecutive words; the two sums go through workgroup memory.
// (A thread per channel, as before, put mamba-130m's step on 1,536 threads loading at strides of R and
// N words; mamba2_scan_step.wgsl made the same change.)
// W_dt comes through the weight loader (binding 2, wAt: f32 / f16 / q8_0).
// With n4 = 1, x_proj's outputs come as split-K partial sums (mamba1_in_proj_xp_*: one per block of
// channels) bound at 3: a workgroup then holds channels of one sequence b and first adds the nb
// blocks up for the J = R + 2N values of x_dbl = (dt_low, B, C) into workgroup memory (stageXProj),
// in a fixed order, so a recorded replay gives the same bits every run. Every workgroup re-reads all
// nb·J partials (from L2): nb² · J · 4 bytes a sequence over the ⌈I / 16⌉ workgroups — 2.9 MB for
// mamba-130m, but 42 MB for mamba-1.4b (I = 4096, J = 160) — so there a workgroup takes G groups of
// 16 channels in turn (n7, the host keeps ≥ 64 workgroups a sequence): 10.5 MB at G = 4.
//   u, z, y: [B, I]   dt_low: [B, R]   Bm, Cm: [B, N]   W_dt: [I, R]   biasD: [2, I] = dtBias ++ D
//   A: [I, N]   ssm: [B, I, N]   (n4 = 1) partials: [B, nb, R + 2N] at binding 3, Bm and Cm unbound
//   n0 B  n2 I  n3 R  n4 partials  n5 nb  n6 S (splits of the block sum)  n7 G (channel groups a
//   workgroup takes in turn with partials)  n11 q8_0 offset
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read> dtLow: array<f32>;
@group(0) @binding(4) var<storage, read> Bm: array<f32>;
@group(0) @binding(5) var<storage, read> Cm: array<f32>;
@group(0) @binding(6) var<storage, read> biasD: array<f32>;
@group(0) @binding(7) var<storage, read> A: array<f32>;
@group(0) @binding(8) var<storage, read> z: array<f32>;
@group(0) @binding(9) var<storage, read_write> ssm: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

const LANES: u32 = 16u; // threads per channel
const CH: u32 = 16u;    // channels per workgroup
var<workgroup> red: array<f32, 256>;
const XS: u32 = 1024u;  // the most x_dbl values a sequence (R + 2N) partials mode takes
var<workgroup> xs: array<f32, XS>; // (n4 = 1) this workgroup's sequence's dt_low ++ B ++ C
var<workgroup> pt: array<f32, 256>; // (n4 = 1, S > 1) the S partial sums of each value

// (n4 = 1) xs[j] = Σ_blk partials[b, blk, j], j < J: S = prm.n6 threads a value (J·S ≤ 256 when S > 1)
// take blocks s, s + S, ... — eight running sums a thread, so eight loads are in flight at once (mamba-130m:
// 32 blocks a thread), added up in order — then one thread adds their S sums in order of s. A fixed order
// throughout: the same bits every run.
fn stageXProj(b: u32, lid: u32) {
  let J = prm.n3 + 2u * NS;
  let nb = prm.n5;
  let S = prm.n6;
  let base = b * nb * J;
  for (var t = lid; t < J * S; t += 256u) {
    let j = t % J;
    var a = array<f32, 8>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var k0 = t / J; k0 < nb; k0 += 8u * S) {
      for (var q = 0u; q < 8u; q++) {
        let k = k0 + q * S;
        if (k < nb) { a[q] += dtLow[base + k * J + j]; }
      }
    }
    let acc = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    if (S == 1u) { xs[j] = acc; } else { pt[t] = acc; }
  }
  workgroupBarrier();
  if (S > 1u) {
    for (var j = lid; j < J; j += 256u) {
      var acc = 0.0;
      for (var s = 0u; s < S; s++) { acc += pt[s * J + j]; }
      xs[j] = acc;
    }
    workgroupBarrier();
  }
}

fn dtLowAt(b: u32, r: u32) -> f32 { if (prm.n4 != 0u) { return xs[r]; } return dtLow[b * prm.n3 + r]; }
fn bAt(b: u32, n: u32) -> f32 { if (prm.n4 != 0u) { return xs[prm.n3 + n]; } return Bm[b * NS + n]; }
fn cAt(b: u32, n: u32) -> f32 { if (prm.n4 != 0u) { return xs[prm.n3 + NS + n]; } return Cm[b * NS + n]; }

// Σ of v over the LANES threads of this thread's channel, returned to all of them. Has barriers:
// call it from workgroup-uniform control flow.
fn channelSum(v: f32, lid: u32, lane: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var half = LANES / 2u; half > 0u; half >>= 1u) {
    if (lane < half) { red[lid] += red[lid + half]; }
    workgroupBarrier();
  }
  let total = red[lid - lane];
  workgroupBarrier(); // every lane has read it before red is written again
  return total;
}

// One channel's step: g = b·I + i; `live` false for a thread past the last channel (it still joins the
// barriers). Has barriers: call it from workgroup-uniform control flow.
fn channelStep(g: u32, live: bool, lid: u32, lane: u32) {
  let I = prm.n2; let R = prm.n3;
  let i = g % I;
  let b = g / I;
  var part = 0.0;
  if (live) {
    for (var r = lane; r < R; r += LANES) { part += wAt(i * R + r) * dtLowAt(b, r); }
  }
  let dt = channelSum(part, lid, lane);
  var acc = 0.0;
  var uv = 0.0;
  if (live) {
    let delta = softplus(dt + biasD[i]);
    uv = u[g];
    for (var n = lane; n < NS; n += LANES) {
      let h = exp(delta * A[i * NS + n]) * ssm[g * NS + n] + delta * uv * bAt(b, n);
      ssm[g * NS + n] = h;
      acc += h * cAt(b, n);
    }
  }
  let total = channelSum(acc, lid, lane);
  if (live && lane == 0u) { y[g] = (total + biasD[I + i] * uv) * silu(z[g]); }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let lane = lid % LANES;
  let I = prm.n2;
  let w = wgIndex(wid, nwg);
  if (prm.n4 == 0u) {
    let g = w * CH + lid / LANES; // = b·I + i
    channelStep(g, g < prm.n0 * I, lid, lane);
    return;
  }
  // partials: a workgroup takes G = n7 groups of CH channels of one sequence b in turn (⌈I / (CH·G)⌉
  // workgroups a sequence), after adding x_proj's blocks up once for all of them
  let G = prm.n7;
  let per = (I + CH * G - 1u) / (CH * G);
  let wb = w / per;
  stageXProj(min(wb, prm.n0 - 1u), lid);
  for (var q = 0u; q < G; q++) {
    let ch = ((w % per) * G + q) * CH + lid / LANES;
    channelStep(wb * I + ch, ch < I && wb < prm.n0, lid, lane);
  }
}
