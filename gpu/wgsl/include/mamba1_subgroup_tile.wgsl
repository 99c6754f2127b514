// One tile of S·K steps of the subgroup Mamba-1 scan, shared by selective_scan_subgroup (a workgroup
// walks all T) and selective_scan_subgroup_chain (a workgroup takes one time tile, the state chained
// between tiles): the workgroup arrays, the staging of x / Δ and B / C, the lane fold + subgroup scan of
// one state quad, and the gated write of y. Each kernel's header says how it carries the state h.
// Needs mamba1_scan_inputs + mamba1_scan_gate_inputs, `y`, and the constants NS, SMAX, QS.
const WG: u32 = 256u;
const K: u32 = 8u;                 // consecutive steps a lane
const KP: u32 = K + 1u;            // a lane's run of x / Δ in workgroup memory, padded
const NS4: u32 = (NS + 3u) / 4u;
const BROW: u32 = K * QS + 1u;     // a lane's run of B / C quads, padded
const LOG2E: f32 = 1.4426950408889634;
var<workgroup> xs: array<f32, WG * KP>;   // [channel][lane][K + 1]: x, then y
var<workgroup> ds: array<f32, WG * KP>;   // Δ
var<workgroup> Bs: array<vec4<f32>, SMAX * BROW>; // [lane][step][quad]
var<workgroup> Cs: array<vec4<f32>, SMAX * BROW>;
var<workgroup> nextSubgroup: atomic<u32>;

// Which channel of the workgroup's CH this subgroup takes: numbered by an atomic, so nothing assumes
// how the driver groups local_invocation_index into subgroups.
fn subgroupChannel(l: u32) -> u32 {
  var mine = 0u;
  if (l == 0u) { mine = atomicAdd(&nextSubgroup, 1u); }
  return subgroupBroadcast(mine, 0u);
}

// x and Δ = softplus(dt + bias) of steps t0 .. t0 + nt, channels i0 .. i0 + CH, into xs / ds in rows
// (consecutive invocations, consecutive channels). Steps past T (and channels past I) get Δ = 0, x = 0:
// the pair (1, 0), which leaves h as it is.
fn stageXD(b: u32, t0: u32, nt: u32, i0: u32, CH: u32, S: u32, lid: u32) {
  let T = prm.n1; let I = prm.n2;
  for (var e = lid; e < WG * K; e += WG) {
    let c = e % CH; let t = e / CH;
    var xv = 0.0; var dv = 0.0;
    if (t < nt && i0 + c < I) { let k = (b * T + t0 + t) * I + i0 + c; xv = x[k]; dv = softplus(dt[k] + dtBias[i0 + c]); }
    let s = c * S * KP + (t / K) * KP + t % K;
    xs[s] = xv; ds[s] = dv;
  }
}

// B and C of state quads q0 .. q0 + QS, steps t0 .. t0 + nt of the tile's TT, into Bs / Cs.
fn stageBC(b: u32, t0: u32, nt: u32, TT: u32, q0: u32, lid: u32) {
  let T = prm.n1;
  for (var e = lid; e < TT * QS; e += WG) {
    let t = e / QS; let qq = e % QS; let q = q0 + qq;
    var bv = vec4<f32>(0.0); var cv = vec4<f32>(0.0);
    if (t < nt && q < NS4) {
      let at = (b * T + t0 + t) * NS + 4u * q;
      for (var r = 0u; r < 4u; r++) { if (4u * q + r < NS) { bv[r] = Bm[at + r]; cv[r] = Cm[at + r]; } }
    }
    let s = (t / K) * BROW + (t % K) * QS + qq;
    Bs[s] = bv; Cs[s] = cv;
  }
}

// The next QS state quads' B and C (q0 onward) into Bs / Cs, between barriers: the lanes done with the
// previous quads (or tile) before the writes, the staged tile visible to every lane after them.
fn stageQuadGroup(b: u32, t0: u32, nt: u32, TT: u32, q0: u32, lid: u32) {
  workgroupBarrier();
  stageBC(b, t0, nt, TT, q0, lid);
  workgroupBarrier();
}

// This lane's K steps of x and Δ from the staged tile (its run in xs / ds), and y's skip term D·x.
fn loadLaneRun(run: u32, dSkip: f32, xk: ptr<function, array<f32, K>>, dk: ptr<function, array<f32, K>>,
               yk: ptr<function, array<f32, K>>) {
  for (var k = 0u; k < K; k++) { (*xk)[k] = xs[run + k]; (*dk)[k] = ds[run + k]; (*yk)[k] = dSkip * (*xk)[k]; }
}

// The affine map (pa, pb): h ↦ pa·h + pb.
struct Affine { pa: vec4<f32>, pb: vec4<f32> }

// State quad qq of the staged ones, lane l's K steps: the lane-local fold of the pairs
// (a, b) = (exp(Δ·A_n), Δ·x·B_n), adding C·pb_k (the y term of a zero entering state) to yk and keeping
// C·pa_k in cpa (no re-fold: after step k the lane's h is pa_k·h_start + pb_k); then the
// inclusive scan of the lanes' folds with (a1, b1)∘(a2, b2) = (a1·a2, a2·b1 + b2) by subgroupShuffleUp
// log-steps. Returns the map from the tile's entering state to this lane's end state.
fn foldQuad(l: u32, S: u32, qq: u32, aq: vec4<f32>, dk: ptr<function, array<f32, K>>, xk: ptr<function, array<f32, K>>,
            yk: ptr<function, array<f32, K>>, cpa: ptr<function, array<vec4<f32>, K>>) -> Affine {
  var pa = vec4<f32>(1.0);
  var pb = vec4<f32>(0.0);
  for (var k = 0u; k < K; k++) {
    let s = l * BROW + k * QS + qq;
    let bq = Bs[s]; let cq = Cs[s];
    let a = exp2((*dk)[k] * aq);
    pb = a * pb + ((*dk)[k] * (*xk)[k]) * bq;
    pa = a * pa;
    (*yk)[k] += dot(cq, pb);
    (*cpa)[k] = cq * pa;
  }
  for (var d = 1u; d < S; d = d << 1u) {
    let ua = subgroupShuffleUp(pa, d);
    let ub = subgroupShuffleUp(pb, d);
    if (l >= d) { pb = pa * ub + pb; pa = pa * ua; }
  }
  return Affine(pa, pb);
}

// y = (C·h + D·x)·silu(z) of the tile, from this lane's yk through its x slots, written in rows.
fn writeY(b: u32, t0: u32, nt: u32, i0: u32, CH: u32, S: u32, lid: u32, run: u32, yk: ptr<function, array<f32, K>>) {
  let T = prm.n1; let I = prm.n2;
  for (var k = 0u; k < K; k++) { xs[run + k] = (*yk)[k]; } // only this lane read these slots
  workgroupBarrier();
  for (var e = lid; e < WG * K; e += WG) {
    let c = e % CH; let t = e / CH;
    if (t < nt && i0 + c < I) {
      let k = (b * T + t0 + t) * I + i0 + c;
      y[k] = xs[c * S * KP + (t / K) * KP + t % K] * silu(z[k]);
    }
  }
}
