// Mamba-2 SSD, chunked prefill: the chunk's C·Bᵀ (ssd_minimal's einsum('bclhn,bcshn->bchls', C, B)
// before the decay), per (b, chunk, group) — once for all the group's heads, which ssd_chunk_out
// then reads (mostly from L2) instead of each head recomputing it. A register-tiled product: 64 × 64
// (t, s) outputs per workgroup, 4 × 4 per thread, 16 columns of n staged at a time; tiles above the
// diagonal (s-tile > t-tile) are never read and not computed.
//   Bm, Cm: [B, T, G, N]   cb: [B, nC, G, L, L]
//   n0 B  n1 T  n4 N  n5 G  n6 L (≤ 256)  n7 nC  n8 ⌈L/64⌉
@group(0) @binding(1) var<storage, read> Bm: array<f32>;
@group(0) @binding(2) var<storage, read> Cm: array<f32>;
@group(0) @binding(3) var<storage, read_write> cb: array<f32>;
var<workgroup> Ct: array<vec4<f32>, 256>; // [n 16][t-quad 16]
var<workgroup> Bt: array<vec4<f32>, 256>; // [n 16][s-quad 16]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wgIndex(wid, nwg);
  let T = prm.n1; let N = prm.n4; let G = prm.n5; let L = prm.n6; let nC = prm.n7; let tT = prm.n8;
  if (w >= prm.n0 * nC * G * tT * tT) { return; }
  let bcg = w / (tT * tT); // (b·nC + c)·G + g
  let g = bcg % G; let c = (bcg / G) % nC; let b = bcg / (G * nC);
  let tb = ((w % (tT * tT)) / tT) * 64u; let sb = (w % tT) * 64u;
  let t0 = c * L;
  let len = min(L, T - t0);
  if (sb > tb || tb >= len) { return; }
  let lo = lid % 16u; let hi = lid / 16u;
  var acc: array<vec4<f32>, 4>; // CB[tb + 4·hi + r, sb + 4·lo + q]
  for (var n0 = 0u; n0 < N; n0 += 16u) {
    workgroupBarrier();
    {
      let n = n0 + lo;
      var cv = vec4<f32>(0.0); var bv = vec4<f32>(0.0);
      for (var r = 0u; r < 4u; r++) {
        let t = tb + 4u * hi + r; let s = sb + 4u * hi + r;
        if (n < N && t < len) { cv[r] = Cm[((b * T + t0 + t) * G + g) * N + n]; }
        if (n < N && s < len) { bv[r] = Bm[((b * T + t0 + s) * G + g) * N + n]; }
      }
      Ct[lo * 16u + hi] = cv; Bt[lo * 16u + hi] = bv;
    }
    workgroupBarrier();
    for (var nl = 0u; nl < 16u; nl++) {
      let cv = Ct[nl * 16u + hi]; let bv = Bt[nl * 16u + lo];
      acc[0] += cv.x * bv; acc[1] += cv.y * bv; acc[2] += cv.z * bv; acc[3] += cv.w * bv;
    }
  }
  for (var r = 0u; r < 4u; r++) {
    let t = tb + 4u * hi + r;
    if (t < len) {
      for (var q = 0u; q < 4u; q++) {
        let s = sb + 4u * lo + q;
        if (s < len) { cb[(bcg * L + t) * L + s] = acc[r][q]; }
      }
    }
  }
}
