// (the body of matvec_argmax_{,norm_}{f32x4,f16x8}.wgsl, through //#include)
// The head's matrix-vector product when the next token is drawn greedily (WebGpuBackend.argmaxInHead):
// y = W·x for ONE row of x, as matvec_f32x4 / matvec_f16x8 compute it (or matvec_multi_norm_*, the final
// norm folded in) — the same per-thread strides over K and the same tree reduction, so the same logits
// bit for bit — but each workgroup takes ROWS = 8 rows of W (its 64 threads' partial sums of the 8 rows
// reduced at once by rowSums, 8 × the 16-byte loads in flight a thread), writes them to y, and also
// writes its best (key, row) to best[wg]. The greedy draw then reads ⌈M / 8⌉ pairs
// (argmax_sample.wgsl) instead of all M logits in one workgroup (top_k_sample.wgsl: ~45 µs of a ~1 ms
// mamba-130m step on an H100 at M = 50,280). The CUDA backend's ARGMAXGEMV (gpu/cuda/src/decode.cu)
// does the same in its head GEMV. Ties go to the lower row and NaN / −∞ are never a best
// (include/logit_key.wgsl: src/api/sampler.ts's rule); a workgroup with no candidate writes key 0.
// The including file declares x, w, PER (weights a load), partial(m, k, K4) (row m's dot product of its
// k-th load with x, through xv) and xv / prologue (include/matvec_x_plain.wgsl or include/matvec_x_norm.wgsl).
//   x: [1, K] f32   W: [M, K]   y: [M] f32   best: [⌈M / 8⌉] (key, row) u32 pairs
//   n0 1 (rows of x)  n1 K  n2 M   f0 the norm's eps (the _norm_ kernels)
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> best: array<vec2<u32>>;
//#include "include/matvec_reduce.wgsl"
//#include "include/logit_key.wgsl"
const ROWS: u32 = 8u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let wg = wgIndex(wid, nwg);
  let M = prm.n2;
  let m0 = wg * ROWS;
  if (m0 >= M) { return; } // uniform per workgroup
  let K4 = prm.n1 / 4u;
  prologue(1u, K4, lid, wg);
  let rows = min(ROWS, M - m0);
  let steps = prm.n1 / PER;
  var acc: array<f32, 8>;
  for (var k = lid; k < steps; k += WG) {
    for (var j = 0u; j < 8u; j++) {
      if (j < rows) { acc[j] += partial(m0 + j, k, K4); }
    }
  }
  let v = rowSums(acc, rows, lid); // row m0 + lid's sum, in red[lid · WG] too (no writes to red after)
  if (lid < rows) { y[m0 + lid] = v; }
  if (lid == 0u) {
    var bestKey = 0u; // ≤ INVALID: no candidate yet
    var bestRow = m0;
    for (var j = 0u; j < rows; j++) { // rows ascending: only a larger key replaces (ties: the lower row)
      let key = keyOf(red[j * WG]);
      if (key > INVALID && key > bestKey) { bestKey = key; bestRow = m0 + j; }
    }
    best[wg] = vec2<u32>(bestKey, bestRow);
  }
}
