// (shared by include/top_k_body.wgsl's k = 1 shortcut and argmax_sample.wgsl, through //#include)
// The workgroup's best (key, row) from each thread's own best: the largest key (include/logit_key.wgsl),
// ties to the lower row; keys ≤ INVALID are never candidates. The including file declares WG (threads a
// workgroup), logits and cand ([count, id, value bits, …] u32), and includes logit_key.wgsl.
var<workgroup> bestKeys: array<u32, WG>;
var<workgroup> bestRows: array<u32, WG>;

// The winner lands in bestKeys[0] / bestRows[0]. Has barriers: call it from workgroup-uniform control flow.
fn reduceBest(lid: u32, key: u32, row: u32) {
  bestKeys[lid] = key;
  bestRows[lid] = row;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ok = bestKeys[lid + s];
      let oi = bestRows[lid + s];
      if (ok > bestKeys[lid] || (ok == bestKeys[lid] && ok > INVALID && oi < bestRows[lid])) { bestKeys[lid] = ok; bestRows[lid] = oi; }
    }
    workgroupBarrier();
  }
}

// Thread 0, after reduceBest: the k = 1 candidate words (count, id, the chosen logit's exact bits, read at
// logits[off + id]); returns whether there was a candidate.
fn writeBest(off: u32) -> bool {
  let found = bestKeys[0] > INVALID;
  cand[0] = select(0u, 1u, found);
  if (found) {
    cand[1] = bestRows[0];
    cand[2] = bitcast<u32>(logits[off + bestRows[0]]);
  }
  return found;
}
