// The mixture of experts' router (transformers JambaSparseMoeBlock / MixtralSparseMoeBlock):
// per token row, p = softmax(logits) and the top-k experts by p, as src/backends/attention-math.ts
// routeTopK — K passes each taking the largest p not yet taken (strictly larger wins, so ties go to
// the lower index); the weight is p, or p / Σ_topk p when normalize (Mixtral's norm_topk_prob).
// The softmax is f32 here (the host's is f64 rounded to f32): weights agree to a few ulp.
// Thread per row; the routes stay on the device (moe_bucket.wgsl reads them), so decode needs no read-back.
//   logits: [rows, E] f32   idx: [rows, K] u32   weight: [rows, K] f32
//   n0 rows  n1 E  n2 K  n3 normalize
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> weight: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r = wgIndex(wid, nwg) * 64u + lid;
  let E = prm.n1;
  let K = prm.n2;
  if (r >= prm.n0) { return; }
  let row = r * E;
  var mx = logits[row];
  for (var e = 1u; e < E; e++) { mx = max(mx, logits[row + e]); }
  var sum = 0.0;
  for (var e = 0u; e < E; e++) { sum += exp(logits[row + e] - mx); }
  var picked = 0.0;
  for (var k = 0u; k < K; k++) {
    var best = E;
    var bp = 0.0;
    for (var e = 0u; e < E; e++) {
      var taken = false;
      for (var j = 0u; j < k; j++) { if (idx[r * K + j] == e) { taken = true; } }
      if (taken) { continue; }
      let p = exp(logits[row + e] - mx) / sum;
      if (best == E || p > bp) { best = e; bp = p; }
    }
    idx[r * K + k] = best;
    weight[r * K + k] = bp;
    picked += bp;
  }
  if (prm.n3 != 0u) {
    for (var k = 0u; k < K; k++) { weight[r * K + k] = weight[r * K + k] / picked; }
  }
}
