// Mamba-2 SSD, pass 2 of 3: carry the state across chunks, per (b, head, n, p) in hs's n-major order
// (coalesced): h_in[c] = h; h ← exp(a_last[c])·h + S[c]. hs[c] is overwritten with the state entering
// chunk c. The walk over chunks is serial, so CB chunks' values are loaded ahead.
//   aEnd: [B, nC, H]   hs: [B, nC, H, N, P]   state: [B, H, P, N]   n0 B  n2 H  n3 P  n4 N  n7 nC
@group(0) @binding(1) var<storage, read> aEnd: array<f32>;
@group(0) @binding(2) var<storage, read_write> hs: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;
const CB: u32 = 16u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid; // ((b·H + h)·N + n)·P + p
  let H = prm.n2; let P = prm.n3; let N = prm.n4; let nC = prm.n7;
  let NP = N * P;
  if (i >= prm.n0 * H * NP) { return; }
  let p = i % P;
  let n = (i / P) % N;
  let h = (i / NP) % H;
  let b = i / (NP * H);
  let s = ((b * H + h) * P + p) * N + n;
  var st = state[s];
  for (var c0 = 0u; c0 < nC; c0 += CB) {
    var loc: array<f32, CB>;
    var dec: array<f32, CB>;
    for (var u = 0u; u < CB; u++) {
      let c = c0 + u;
      if (c < nC) { loc[u] = hs[((b * nC + c) * H + h) * NP + n * P + p]; dec[u] = aEnd[(b * nC + c) * H + h]; }
    }
    for (var u = 0u; u < CB; u++) {
      let c = c0 + u;
      if (c < nC) {
        hs[((b * nC + c) * H + h) * NP + n * P + p] = st;
        st = exp(dec[u]) * st + loc[u];
      }
    }
  }
  state[s] = st;
}
