// Mamba-2 SSD, chunked prefill, pass 1 (replaces ssd_dt + ssd_state): per (b, chunk, head) the
// chunk's end state from zero, S[n, p] = Σ_s exp(a_last − a_s)·Δ_s · B_s[n] · x_s[p]
// (ssd_minimal's `states = einsum('bclhn,bhcl,bclhp->bchpn', B, decay_states, X)`), as a register-tiled
// (N × L)·(L × P) product: (64·RQ) × 64 outputs per workgroup, 4·RQ × 4 per thread, 16 tokens of B and
// of the weighted x staged in workgroup memory at a time, the next 16 loaded into registers while
// the current ones are multiplied. Also stores a_last, the chunk's total decay.
//   x: [B, T, H, P]   dt: [B, T, H]   dtBias, A: [H]   Bm: [B, T, G, N]
//   hs: [B, nC, H, N, P] (n-major)   aEnd: [B, nC, H]
//   n0 B  n1 T  n2 H  n3 P  n4 N  n5 G  n6 L (≤ 256)  n7 nC  n8 ⌈N/(64·RQ)⌉  n9 ⌈P/64⌉  f0 dtMin  f1 dtMax
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> dtBias: array<f32>;
@group(0) @binding(4) var<storage, read> A: array<f32>;
@group(0) @binding(5) var<storage, read> Bm: array<f32>;
@group(0) @binding(6) var<storage, read_write> hs: array<f32>;
@group(0) @binding(7) var<storage, read_write> aEnd: array<f32>;
//#include "include/ssd_chunk_decay.wgsl"
const QR: u32 = 16u * RQ;                       // row quads per tile
var<workgroup> Bt: array<vec4<f32>, 256 * RQ>; // [s 16][n-quad QR]: B_s[n0 + 4q + r]
var<workgroup> Xt: array<vec4<f32>, 256>;      // [s 16][p-quad 16]: x_s[p0 + 4q + r] (weighted when staged)
var<workgroup> wt: array<f32, 256>;            // w_s = exp(a_last − a_s)·Δ_s

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wgIndex(wid, nwg);
  let T = prm.n1; let H = prm.n2; let P = prm.n3; let N = prm.n4; let G = prm.n5; let L = prm.n6; let nC = prm.n7;
  let nTiles = prm.n8; let pTiles = prm.n9;
  if (w >= prm.n0 * nC * H * nTiles * pTiles) { return; }
  let tile = ssdTile(w, nTiles * pTiles);
  let b = tile.x; let c = tile.y; let h = tile.z;
  let n0 = (tile.w / pTiles) * (64u * RQ); let p0 = (tile.w % pTiles) * 64u;
  let g = h / (H / G);
  let t0 = c * L;
  let len = min(L, T - t0);
  chunkDecay(lid, b, t0, len, h);
  let aLast = cum[len - 1u];
  wt[lid] = exp(aLast - cum[lid]) * dl[lid];
  if (lid == 0u && tile.w == 0u) { aEnd[(b * nC + c) * H + h] = aLast; }
  let lo = lid % 16u; let hi = lid / 16u;
  var acc: array<vec4<f32>, 4u * RQ>; // S[n0 + 4·RQ·hi + rr, p0 + 4·lo + q]
  // staging: B entry k = lid + 256·m → (s = k / QR, quad k % QR); x: (s = hi, quad lo). The next
  // tile's values are loaded into nb / nx while the current one is multiplied.
  var nb: array<vec4<f32>, RQ>;
  var nx: vec4<f32>;
  for (var s0 = 0u; s0 < len + 16u; s0 += 16u) {
    if (s0 > 0u) {
      workgroupBarrier();
      for (var m = 0u; m < RQ; m++) { Bt[lid + 256u * m] = nb[m]; }
      Xt[lid] = nx * wt[min(s0 - 16u + hi, 255u)];
      workgroupBarrier();
    }
    for (var m = 0u; m < RQ; m++) {
      nb[m] = vec4<f32>(0.0);
      let k = lid + 256u * m; let s = s0 + k / QR; let q = k % QR;
      if (s < len) {
        let bo = ((b * T + t0 + s) * G + g) * N;
        for (var r = 0u; r < 4u; r++) { let n = n0 + 4u * q + r; if (n < N) { nb[m][r] = Bm[bo + n]; } }
      }
    }
    nx = vec4<f32>(0.0);
    if (s0 + hi < len) {
      let xo = ((b * T + t0 + s0 + hi) * H + h) * P;
      for (var r = 0u; r < 4u; r++) { let p = p0 + 4u * lo + r; if (p < P) { nx[r] = x[xo + p]; } }
    }
    if (s0 > 0u) {
      for (var sl = 0u; sl < 16u; sl++) {
        let xv = Xt[sl * 16u + lo];
        for (var j = 0u; j < RQ; j++) {
          let bv = Bt[sl * QR + hi * RQ + j];
          acc[4u * j] += bv.x * xv; acc[4u * j + 1u] += bv.y * xv; acc[4u * j + 2u] += bv.z * xv; acc[4u * j + 3u] += bv.w * xv;
        }
      }
    }
  }
  let base = ((b * nC + c) * H + h) * N;
  for (var rr = 0u; rr < 4u * RQ; rr++) {
    let n = n0 + 4u * hi * RQ + rr;
    for (var q = 0u; q < 4u; q++) {
      let p = p0 + 4u * lo + q;
      if (n < N && p < P) { hs[(base + n) * P + p] = acc[rr][q]; }
    }
  }
}
