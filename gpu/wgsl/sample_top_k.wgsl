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
//#include "include/sample_top_k_body.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  sampleTopK(lid, prm.n0, prm.n1 == 1u, prm.f0, prm.f1, prm.f2);
}
