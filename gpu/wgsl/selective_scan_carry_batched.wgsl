// Mamba-1 selective scan, pass 2 of 3 for the tiled kernels: carry the state across chunks,
// h_in[c] = h; h ← exp(A·ΣΔ_c)·h + hc[c], thread per (b, n, i) (i fastest: coalesced). The walk over
// chunks is serial, so it loads CB chunks' values ahead (CB loads in flight instead of one).
//   A: [I, N]   hc: [B, nC, N, I] (overwritten with the state entering each chunk)   sd: [B, nC, I]
//   state: [B, I, N]   n0 B  n2 I  n3 N  n5 nC
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> hc: array<f32>;
@group(0) @binding(3) var<storage, read> sd: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;
const CB: u32 = 16u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 64u + lid;
  let I = prm.n2; let N = prm.n3; let nC = prm.n5;
  if (g >= prm.n0 * I * N) { return; }
  let i = g % I;
  let n = (g / I) % N;
  let b = g / (I * N);
  let s = (b * I + i) * N + n;
  var h = state[s];
  let a = A[i * N + n];
  for (var c0 = 0u; c0 < nC; c0 += CB) {
    var loc: array<f32, CB>;
    var dec: array<f32, CB>;
    for (var u = 0u; u < CB; u++) {
      let c = c0 + u;
      if (c < nC) { loc[u] = hc[((b * nC + c) * N + n) * I + i]; dec[u] = sd[(b * nC + c) * I + i]; }
    }
    for (var u = 0u; u < CB; u++) {
      let c = c0 + u;
      if (c < nC) {
        hc[((b * nC + c) * N + n) * I + i] = h;
        h = exp(a * dec[u]) * h + loc[u];
      }
    }
  }
  state[s] = h;
}
