// Mamba-1 selective scan, pass 2 of 3: carry the state across chunks. Thread per (b, i, n):
// h_in[c] = h; h ← exp(A·ΣΔ_c)·h + hc[c]. hc[c] is overwritten with the state entering chunk c;
// the final h is the new carried state.
//   A: [I, N]   hc: [B, nC, I, N]   sd: [B, nC, I]   state: [B, I, N]
//   n0 B  n2 I  n3 N  n5 nC
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> hc: array<f32>;
@group(0) @binding(3) var<storage, read> sd: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 64u + lid;
  let I = prm.n2; let N = prm.n3; let nC = prm.n5;
  if (g >= prm.n0 * I * N) { return; }
  let n = g % N;
  let i = (g / N) % I;
  let b = g / (N * I);
  var h = state[g];
  let a = A[i * N + n];
  for (var c = 0u; c < nC; c++) {
    let k = ((b * nC + c) * I + i) * N + n;
    let local = hc[k];
    hc[k] = h;
    h = exp(a * sd[(b * nC + c) * I + i]) * h + local;
  }
  state[g] = h;
}
