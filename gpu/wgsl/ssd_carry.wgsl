// Mamba-2 SSD pass 5: carry the state across chunks, per (b, head, p, n):
// h_in[c] = h; h ← exp(a_last[c])·h + S[c]. hs[c] is overwritten with the state entering chunk c.
//   ac: [B, T, H]   hs: [B, nC, H, N, P] (n-major)   state: [B, H, P, N]
//   n0 B  n1 T  n2 H  n3 P  n4 N  n6 L  n7 nC
@group(0) @binding(1) var<storage, read> ac: array<f32>;
@group(0) @binding(2) var<storage, read_write> hs: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid; // state index ((b·H + h)·P + p)·N + n
  let T = prm.n1; let H = prm.n2; let P = prm.n3; let N = prm.n4; let L = prm.n6; let nC = prm.n7;
  let PN = P * N;
  if (i >= prm.n0 * H * PN) { return; }
  let n = i % N;
  let p = (i / N) % P;
  let h = (i / PN) % H;
  let b = i / (PN * H);
  var st = state[i];
  for (var c = 0u; c < nC; c++) {
    let t1 = min(T, (c + 1u) * L);
    let k = (((b * nC + c) * H + h) * N + n) * P + p;
    let local = hs[k];
    hs[k] = st;
    st = exp(ac[(b * T + t1 - 1u) * H + h]) * st + local;
  }
  state[i] = st;
}
