// The k largest entries of one row of logits, so generation reads back k (id, value) pairs instead
// of the whole vocabulary. Ties go to the lower id and NaN / −∞ never count, exactly the candidate
// rule of src/api/sampler.ts, so the host's seeded draw over these candidates picks the same token
// as it would over the full row.
// One workgroup of 256 threads:
//   1. the k-th largest key, found bit by bit on order-preserving u32 keys (32 counting rounds);
//   2. every entry above it, then entries equal to it in id order until k: here each thread owns a
//      contiguous block, and positions come from workgroup prefix sums (the host sorts the k entries).
// k = 1 (greedy decoding) takes a shortcut: one pass keeping each thread's best (key, id), then a
// tree reduction — one read of the row instead of 33.
//   logits: [.., V] f32   cand: [1 + 2k] u32 = count, then ids[k], then value bits[k]
//   n0 V  n1 offset of the row (elements)  n2 k
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> cand: array<u32>;
//#include "include/top_k_body.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  topK(lid, prm.n0, prm.n1, prm.n2);
}
