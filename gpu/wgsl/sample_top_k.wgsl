// Picks one token from the k candidates top_k.wgsl wrote, on the device, so the next decode step's
// embedding can read it without a read-back (Backend.deviceSampling). The rule is
// src/api/sampler.ts's (`sampleToken`): candidates best first (logit descending, ties by lower id);
// greedy takes the first; otherwise weights exp((l − l_max) / temperature), the shortest prefix
// whose share of the total is ≥ topP, and the first candidate whose running weight exceeds
// u × (kept weight). The host computes the same in f64 and checks this f32 answer on every token
// (sampleFromCandidates): a disagreement (u within f32 rounding of a boundary) re-runs one step.
//   cand: [2 + 2k] u32 = count, ids[k], value bits[k] (top_k.wgsl's output), then the chosen id
//         (0xffffffff when there is no candidate)
//   n0 k  n1 greedy (1) or sampled (0)   f0 temperature  f1 topP  f2 u ∈ [0, 1)
// One workgroup of 256 threads (k ≤ 256): thread j ranks candidate j by counting the candidates
// ahead of it, then thread 0 walks the ≤ k ranked weights.
@group(0) @binding(1) var<storage, read_write> cand: array<u32>;

var<workgroup> rid: array<u32, 256>;
var<workgroup> rval: array<f32, 256>;

fn ahead(va: f32, ia: u32, vb: f32, ib: u32) -> bool { return va > vb || (va == vb && ia < ib); }

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let k = prm.n0;
  let n = min(cand[0], k);
  if (lid < n) {
    let id = cand[1u + lid];
    let v = bitcast<f32>(cand[1u + k + lid]);
    var rank = 0u;
    for (var j = 0u; j < n; j++) {
      if (ahead(bitcast<f32>(cand[1u + k + j]), cand[1u + j], v, id)) { rank++; }
    }
    rid[rank] = id;
    rval[rank] = v;
  }
  workgroupBarrier();
  if (lid != 0u) { return; }
  let at = 1u + 2u * k;
  if (n == 0u) { cand[at] = 0xffffffffu; return; }
  if (prm.n1 == 1u) { cand[at] = rid[0]; return; }
  // +∞ logits (compared on the bits: compilers may assume finite math) are equally likely and
  // everything else impossible, as in the host rule.
  let maxInf = bitcast<u32>(rval[0]) == 0x7f800000u;
  let top = rval[0];
  var total = 0.0;
  for (var i = 0u; i < n; i++) {
    var w: f32;
    if (maxInf) { w = select(0.0, 1.0, bitcast<u32>(rval[i]) == 0x7f800000u); }
    else { w = exp((rval[i] - top) / prm.f0); }
    rval[i] = w; // the logits are not needed past here: keep the weights in their place
    total += w;
  }
  var kept = n;
  var keptWeight = total;
  if (prm.f1 < 1.0) {
    var cum = 0.0;
    for (var i = 0u; i < n; i++) {
      cum += rval[i];
      if (cum / total >= prm.f1) { kept = i + 1u; keptWeight = cum; break; }
    }
  }
  let r = prm.f2 * keptWeight;
  var cum = 0.0;
  var last = 0u;
  for (var i = 0u; i < kept; i++) {
    if (rval[i] == 0.0) { continue; }
    cum += rval[i];
    last = i;
    if (cum > r) { cand[at] = rid[i]; return; }
  }
  cand[at] = rid[last];
}
