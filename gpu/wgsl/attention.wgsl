// Causal grouped-query attention over a KV cache (transformers eager_attention_forward, f32):
// query t of T new tokens (absolute position P + t) attends keys 0 .. P + t of its kv head
// h / (H / Hkv); softmax(q·kᵀ·scale)·v with a running max and sum (online softmax), so a thread per
// (b, t, h) needs no score buffer; the output row doubles as the accumulator.
//   q, y: [B, T, H, Dh]   cacheK, cacheV: [B, Hkv, capacity, Dh]
//   n0 B  n1 T  n2 H  n3 Hkv  n4 Dh  n5 capacity  n6 P  f0 scale
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> cacheK: array<f32>;
@group(0) @binding(3) var<storage, read> cacheV: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 64u + lid; // = (b·T + t)·H + h
  let B = prm.n0; let T = prm.n1; let H = prm.n2; let G = prm.n3; let Dh = prm.n4;
  if (i >= B * T * H) { return; }
  let h = i % H;
  let t = (i / H) % T;
  let b = i / (H * T);
  let base = (b * G + h / (H / G)) * prm.n5 * Dh;
  let qo = i * Dh;
  let n = prm.n6 + t + 1u;
  var m = -3.4028234663852886e38;
  var sum = 0.0;
  for (var d = 0u; d < Dh; d++) { y[qo + d] = 0.0; }
  for (var s = 0u; s < n; s++) {
    var dot = 0.0;
    for (var d = 0u; d < Dh; d++) { dot += q[qo + d] * cacheK[base + s * Dh + d]; }
    let sc = dot * prm.f0;
    let mNew = max(m, sc);
    let corr = exp(m - mNew);
    let p = exp(sc - mNew);
    sum = sum * corr + p;
    for (var d = 0u; d < Dh; d++) { y[qo + d] = y[qo + d] * corr + p * cacheV[base + s * Dh + d]; }
    m = mNew;
  }
  for (var d = 0u; d < Dh; d++) { y[qo + d] = y[qo + d] / sum; }
}
