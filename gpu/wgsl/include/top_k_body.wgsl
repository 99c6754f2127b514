// (the body of top_k.wgsl and top_k_sample.wgsl, through //#include: see top_k.wgsl for what it computes)
// The including file declares logits (the rows) and cand ([1 + 2k] u32 = count, ids[k], value bits[k], …).
const WG: u32 = 256u;
//#include "include/logit_key.wgsl"
//#include "include/argmax_reduce.wgsl"
var<workgroup> total: atomic<u32>;
var<workgroup> gtCounts: array<u32, 256>;
var<workgroup> eqCounts: array<u32, 256>;

// Call from workgroup-uniform control flow (barriers); V, off and k are uniform.
fn topK(lid: u32, V: u32, off: u32, k: u32) {
  if (k == 1u) {
    var bestKey = 0u; // ≤ INVALID: no candidate yet
    var bestId = 0u;
    for (var i = lid; i < V; i += WG) { // ids grow along a thread's walk: only a larger key replaces
      let key = keyOf(logits[off + i]);
      if (key > INVALID && key > bestKey) { bestKey = key; bestId = i; }
    }
    reduceBest(lid, bestKey, bestId);
    if (lid == 0u) { writeBest(off); }
    return;
  }
  let per = (V + WG - 1u) / WG;
  let i0 = min(V, lid * per);
  let i1 = min(V, i0 + per);
  var prefix = 0u;
  for (var bit = 31; bit >= 0; bit--) {
    let probe = prefix | (1u << u32(bit));
    if (lid == 0u) { atomicStore(&total, 0u); }
    workgroupBarrier();
    var c = 0u;
    for (var i = lid; i < V; i += WG) { // strided: coalesced reads (order does not matter for counting)
      let key = keyOf(logits[off + i]);
      if (key > INVALID && key >= probe) { c++; }
    }
    atomicAdd(&total, c);
    workgroupBarrier();
    let n = atomicLoad(&total);
    workgroupBarrier();
    if (n >= k) { prefix = probe; }
  }
  // prefix is now the k-th largest key (0 when fewer than k entries are valid).
  var gt = 0u;
  var eq = 0u;
  for (var i = i0; i < i1; i++) {
    let key = keyOf(logits[off + i]);
    if (key <= INVALID) { continue; }
    if (key > prefix) { gt++; } else if (key == prefix) { eq++; }
  }
  gtCounts[lid] = gt;
  eqCounts[lid] = eq;
  workgroupBarrier();
  var gtBefore = 0u;
  var eqBefore = 0u;
  var gtTotal = 0u;
  for (var j = 0u; j < WG; j++) {
    if (j < lid) { gtBefore += gtCounts[j]; eqBefore += eqCounts[j]; }
    gtTotal += gtCounts[j];
  }
  var pg = gtBefore;
  var pe = gtTotal + eqBefore;
  for (var i = i0; i < i1; i++) {
    let v = logits[off + i];
    let key = keyOf(v);
    if (key <= INVALID) { continue; }
    var pos = k;
    if (key > prefix) { pos = pg; pg++; } else if (key == prefix) { pos = pe; pe++; }
    if (pos < k) {
      cand[1u + pos] = i;
      cand[1u + k + pos] = bitcast<u32>(v);
    }
  }
  if (lid == 0u) {
    var eqTotal = 0u;
    for (var j = 0u; j < WG; j++) { eqTotal += eqCounts[j]; }
    cand[0] = min(k, gtTotal + eqTotal);
  }
}
