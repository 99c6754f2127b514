// Mamba-2 SSD, chunked prefill, the output (replaces ssd_decay + ssd_out): per (b, chunk, head,
// 64·RQ rows t of the chunk, 64 columns p), ssd_minimal's
//   Y_diag = einsum('bclhn,bcshn,bhcls,bcshp->bclhp', C, B, L, X)   (intra-chunk, matrix form)
//   Y_off  = einsum('bclhn,bchpn,bhcl->bclhp', C, states, exp(A_cumsum))   (state entering the chunk)
//   y = Y_diag + Y_off + D·x
// with M = (C·Bᵀ) ⊙ decay, decay[t, s] = exp(a_t − a_s)·Δ_s for s ≤ t, built in workgroup memory one
// (64·RQ) × 16 block at a time from ssd_chunk_cb's C·Bᵀ (the decay matrix never goes to memory); each
// thread holds a 4·RQ × 4 block of y in registers, and the next block's values are loaded while the
// current one is multiplied. Workgroup memory stays under WebGPU's 16 KiB minimum (RQ ≤ 2).
//   x, y: [B, T, H, P]   dt: [B, T, H]   dtBias, A, D: [H]   cb: [B, nC, G, L, L]   Cm: [B, T, G, N]
//   hs: [B, nC, H, N, P] (state entering each chunk, n-major)
//   n0 B  n1 T  n2 H  n3 P  n4 N  n5 G  n6 L (≤ 256)  n7 nC  n8 ⌈L/(64·RQ)⌉  n9 ⌈P/64⌉  f0 dtMin  f1 dtMax
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> dtBias: array<f32>;
@group(0) @binding(4) var<storage, read> A: array<f32>;
@group(0) @binding(5) var<storage, read> cb: array<f32>;
@group(0) @binding(6) var<storage, read> Cm: array<f32>;
@group(0) @binding(7) var<storage, read> D: array<f32>;
@group(0) @binding(8) var<storage, read> hs: array<f32>;
@group(0) @binding(9) var<storage, read_write> y: array<f32>;
//#include "include/ssd_chunk_decay.wgsl"
const QR: u32 = 16u * RQ;                       // row quads per tile
var<workgroup> Rt: array<vec4<f32>, 256 * RQ>; // [s or n 16][t-quad QR]: M[tb + 4q + r, s0 + s], then C_{tb + 4q + r}[n0 + n]·exp(a_t)
var<workgroup> Xt: array<vec4<f32>, 256>;      // [s or n 16][p-quad 16]: x_{s0 + s}[p0 + 4q + r], then S_in[n0 + n, p]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wgIndex(wid, nwg);
  let T = prm.n1; let H = prm.n2; let P = prm.n3; let N = prm.n4; let G = prm.n5; let L = prm.n6; let nC = prm.n7;
  let tTiles = prm.n8; let pTiles = prm.n9;
  if (w >= prm.n0 * nC * H * tTiles * pTiles) { return; }
  let tile = ssdTile(w, tTiles * pTiles);
  let b = tile.x; let c = tile.y; let h = tile.z;
  let tb = (tile.w / pTiles) * (64u * RQ); let p0 = (tile.w % pTiles) * 64u;
  let g = h / (H / G);
  let t0 = c * L;
  let len = min(L, T - t0);
  if (tb >= len) { return; }
  chunkDecay(lid, b, t0, len, h);
  let sEnd = min(len, tb + 64u * RQ);
  let lo = lid % 16u; let hi = lid / 16u;
  var acc: array<vec4<f32>, 4u * RQ>; // y[tb + 4·RQ·hi + rr, p0 + 4·lo + q]
  // staging: row-side entry k = lid + 256·m → (column lo = s or n, quad hi + 16·m); x / S: (row hi, quad lo)
  let cbRow = ((b * nC + c) * G + g) * L;
  var nr: array<vec4<f32>, RQ>;
  var nx: vec4<f32>;
  // Y_diag: M[t, s] = CB[t, s] · exp(a_t − a_s) · Δ_s for s ≤ t
  for (var s0 = 0u; s0 < sEnd + 16u; s0 += 16u) {
    if (s0 > 0u) {
      workgroupBarrier();
      for (var m = 0u; m < RQ; m++) { Rt[lo * QR + hi + 16u * m] = nr[m]; }
      Xt[lid] = nx;
      workgroupBarrier();
    }
    let s = s0 + lo;
    for (var m = 0u; m < RQ; m++) {
      nr[m] = vec4<f32>(0.0);
      for (var r = 0u; r < 4u; r++) {
        let t = tb + 4u * (hi + 16u * m) + r;
        if (s <= t && t < len) { nr[m][r] = cb[(cbRow + t) * L + s] * exp(cum[t] - cum[s]) * dl[s]; }
      }
    }
    nx = vec4<f32>(0.0);
    if (s0 + hi < len) {
      let xo = ((b * T + t0 + s0 + hi) * H + h) * P;
      for (var q = 0u; q < 4u; q++) { let p = p0 + 4u * lo + q; if (p < P) { nx[q] = x[xo + p]; } }
    }
    if (s0 > 0u) {
      for (var sl = 0u; sl < 16u; sl++) {
        let xv = Xt[sl * 16u + lo];
        for (var j = 0u; j < RQ; j++) {
          let mv = Rt[sl * QR + hi * RQ + j];
          acc[4u * j] += mv.x * xv; acc[4u * j + 1u] += mv.y * xv; acc[4u * j + 2u] += mv.z * xv; acc[4u * j + 3u] += mv.w * xv;
        }
      }
    }
  }
  // Y_off: + exp(a_t) · Σ_n C_t[n] · S_in[n, p]
  let so = ((b * nC + c) * H + h) * N;
  for (var n0 = 0u; n0 < N + 16u; n0 += 16u) {
    if (n0 > 0u) {
      workgroupBarrier();
      for (var m = 0u; m < RQ; m++) { Rt[lo * QR + hi + 16u * m] = nr[m]; }
      Xt[lid] = nx;
      workgroupBarrier();
    }
    let n = n0 + lo;
    for (var m = 0u; m < RQ; m++) {
      nr[m] = vec4<f32>(0.0);
      for (var r = 0u; r < 4u; r++) {
        let t = tb + 4u * (hi + 16u * m) + r;
        if (n < N && t < len) { nr[m][r] = Cm[((b * T + t0 + t) * G + g) * N + n] * exp(cum[t]); }
      }
    }
    nx = vec4<f32>(0.0);
    if (n0 + hi < N) {
      for (var q = 0u; q < 4u; q++) { let p = p0 + 4u * lo + q; if (p < P) { nx[q] = hs[(so + n0 + hi) * P + p]; } }
    }
    if (n0 > 0u) {
      for (var nl = 0u; nl < 16u; nl++) {
        let sv = Xt[nl * 16u + lo];
        for (var j = 0u; j < RQ; j++) {
          let cv = Rt[nl * QR + hi * RQ + j];
          acc[4u * j] += cv.x * sv; acc[4u * j + 1u] += cv.y * sv; acc[4u * j + 2u] += cv.z * sv; acc[4u * j + 3u] += cv.w * sv;
        }
      }
    }
  }
  let dSkip = D[h];
  for (var rr = 0u; rr < 4u * RQ; rr++) {
    let t = tb + 4u * hi * RQ + rr;
    if (t < len) {
      for (var q = 0u; q < 4u; q++) {
        let p = p0 + 4u * lo + q;
        if (p < P) { let k = ((b * T + t0 + t) * H + h) * P + p; y[k] = acc[rr][q] + dSkip * x[k]; }
      }
    }
  }
}
