// (the body of sample_top_k.wgsl and top_k_sample.wgsl, through //#include: see sample_top_k.wgsl)
// The including file declares cand. Call from workgroup-uniform control flow, last (threads but 0 return).

var<workgroup> rid: array<u32, 256>;
var<workgroup> rval: array<f32, 256>;

fn ahead(va: f32, ia: u32, vb: f32, ib: u32) -> bool { return va > vb || (va == vb && ia < ib); }

fn sampleTopK(lid: u32, k: u32, greedy: bool, temperature: f32, topP: f32, u: f32) {
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
  if (greedy) { cand[at] = rid[0]; return; }
  // +∞ logits (compared on the bits: compilers may assume finite math) are equally likely and
  // everything else impossible, as in the host rule.
  let maxInf = bitcast<u32>(rval[0]) == 0x7f800000u;
  let top = rval[0];
  var weightSum = 0.0;
  for (var i = 0u; i < n; i++) {
    var w: f32;
    if (maxInf) { w = select(0.0, 1.0, bitcast<u32>(rval[i]) == 0x7f800000u); }
    else { w = exp((rval[i] - top) / temperature); }
    rval[i] = w; // the logits are not needed past here: keep the weights in their place
    weightSum += w;
  }
  var kept = n;
  var keptWeight = weightSum;
  if (topP < 1.0) {
    var cum = 0.0;
    for (var i = 0u; i < n; i++) {
      cum += rval[i];
      if (cum / weightSum >= topP) { kept = i + 1u; keptWeight = cum; break; }
    }
  }
  let r = u * keptWeight;
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
