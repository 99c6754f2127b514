// Split-K ("flash-decoding") attention, pass 1 of 2: the same causal GQA attention as attention.wgsl
// (transformers eager_attention_forward: softmax(q·kᵀ·scale)·v in f32), but each query row
// (b, t, h) is split along the key axis into S splits of C keys, one 64-thread workgroup per
// (row, split). A workgroup walks its keys in tiles of 64 — one key's dot product per thread, then
// the tile's max and exp() shared through workgroup memory, then each thread accumulates the
// weighted V for its own head_dim lanes — keeping an online softmax (running max m, sum l) across
// tiles. It writes the split's unnormalised partial (m, l, Σ exp(s − m)·v); attention_combine.wgsl
// merges the splits with a log-sum-exp rescale (Dao et al., "Flash-Decoding for long-context
// inference", 2023). Splits past a query's causal end write the empty partial (m = −max f32, l = 0).
//   q: [B, T, H, Dh]   cacheK, cacheV: [B, Hkv, capacity, Dh]   part: [B·T·H, S, Dh + 2] = (m, l, acc[Dh])
//   n0 B  n1 T  n2 H  n3 Hkv  n4 Dh (≤ 256)  n5 capacity  n6 P  n7 S  n8 C (keys per split, a multiple of 64)  f0 scale
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> cacheK: array<f32>;
@group(0) @binding(3) var<storage, read> cacheV: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

const TILE: u32 = 64u;
const LANES: u32 = 4u; // head_dim lanes per thread: Dh ≤ TILE · LANES = 256
const NEG: f32 = -3.4028234663852886e38;

var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, 64>;
var<workgroup> tileMax: f32;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg); // = row · S + split
  let B = prm.n0; let T = prm.n1; let H = prm.n2; let G = prm.n3; let Dh = prm.n4;
  let S = prm.n7; let C = prm.n8;
  let row = g / S;
  if (row >= B * T * H) { return; } // workgroup-uniform: padding groups of the 2-D tiling
  let h = row % H;
  let t = (row / H) % T;
  let b = row / (H * T);
  let base = (b * G + h / (H / G)) * prm.n5 * Dh;
  let n = prm.n6 + t + 1u;          // keys 0 .. P + t are visible to this query
  let k0 = (g % S) * C;
  let k1 = min(k0 + C, n);

  for (var d = lid; d < Dh; d += TILE) { qs[d] = q[row * Dh + d]; }
  workgroupBarrier();

  var m = NEG;
  var l = 0.0;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var j0 = k0; j0 < k1; j0 += TILE) {
    let cnt = min(TILE, k1 - j0);
    let key = j0 + lid;
    var s = NEG;
    if (lid < cnt) {
      var dot = 0.0;
      let ko = base + key * Dh;
      for (var d = 0u; d < Dh; d++) { dot += qs[d] * cacheK[ko + d]; }
      s = dot * prm.f0;
    }
    sc[lid] = s;
    workgroupBarrier();
    if (lid == 0u) {
      var mx = m;
      for (var j = 0u; j < cnt; j++) { mx = max(mx, sc[j]); }
      tileMax = mx;
    }
    workgroupBarrier(); // the scores are read and the max is out before they become probabilities
    let mNew = tileMax;
    sc[lid] = select(0.0, exp(s - mNew), lid < cnt);
    workgroupBarrier();
    let corr = exp(m - mNew);
    // The tile's Σp rides along the first lane's V loop (only thread 0's l is written out, and
    // thread 0 always has lane d = 0), instead of a separate pass over the 64 probabilities.
    var psum = 0.0;
    if (lid < Dh) {
      var a = acc[0] * corr;
      for (var j = 0u; j < cnt; j++) { let p = sc[j]; psum += p; a += p * cacheV[base + (j0 + j) * Dh + lid]; }
      acc[0] = a;
    }
    l = l * corr + psum;
    for (var r = 1u; r < LANES; r++) {
      let d = lid + r * TILE;
      if (d < Dh) {
        var a = acc[r] * corr;
        for (var j = 0u; j < cnt; j++) { a += sc[j] * cacheV[base + (j0 + j) * Dh + d]; }
        acc[r] = a;
      }
    }
    m = mNew;
    workgroupBarrier(); // before the next tile overwrites sc
  }

  let po = g * (Dh + 2u);
  if (lid == 0u) { part[po] = m; part[po + 1u] = l; }
  for (var r = 0u; r < LANES; r++) {
    let d = lid + r * TILE;
    if (d < Dh) { part[po + 2u + d] = acc[r]; }
  }
}
