// The greedy draw from the head's per-workgroup best (key, row) pairs (matvec_argmax_*.wgsl,
// WebGpuBackend.argmaxInHead) instead of the whole row of logits: the largest key, ties to the lower row
// — top_k.wgsl's k = 1 shortcut over ⌈V / 8⌉ pairs instead of V logits — written as the DeviceToken words
// top_k_sample.wgsl writes for k = 1, so the host's read, its check (sampleFromCandidates) and the next
// step's embedding (which reads the chosen id in place) are unchanged.
//   logits: [.., V] f32 (the head's output: the chosen logit's exact bits)   best: [G] (key, row) u32 pairs
//   cand: [4] u32 = count (0 or 1), id, value bits, the chosen id (0xffffffff when no logit is a candidate)
//   n0 G  n1 offset of the row in logits (elements)
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> best: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> cand: array<u32>;
//#include "include/logit_key.wgsl"
const WG: u32 = 256u;
//#include "include/argmax_reduce.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let G = prm.n0;
  var bestKey = 0u; // ≤ INVALID: no candidate yet
  var bestRow = 0u;
  for (var i = lid; i < G; i += WG) { // rows grow along a thread's walk: only a larger key replaces
    let pair = best[i]; // one 8-byte load
    if (pair.x > INVALID && pair.x > bestKey) { bestKey = pair.x; bestRow = pair.y; }
  }
  reduceBest(lid, bestKey, bestRow);
  if (lid == 0u) { cand[3] = select(0xffffffffu, bestRows[0], writeBest(prm.n1)); }
}
