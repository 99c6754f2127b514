// Mamba-2 SSD pass 3 of 5: each chunk's end state from zero, per (b, chunk, head, p, n):
//   S[p, n] = Σ_s exp(a_last − a_s) · Δ_s · x_s[p] · B_s[n]
//   x: [B, T, H, P]   Bm: [B, T, G, N]   dl, ac: [B, T, H]   hs: [B, nC, H, P, N]
//   n0 B  n1 T  n2 H  n3 P  n4 N  n5 G  n6 L  n7 nC
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> Bm: array<f32>;
@group(0) @binding(3) var<storage, read> dl: array<f32>;
@group(0) @binding(4) var<storage, read> ac: array<f32>;
@group(0) @binding(5) var<storage, read_write> hs: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  let T = prm.n1; let H = prm.n2; let P = prm.n3; let N = prm.n4; let G = prm.n5; let L = prm.n6; let nC = prm.n7;
  if (i >= prm.n0 * nC * H * P * N) { return; }
  let n = i % N;
  let p = (i / N) % P;
  let h = (i / (N * P)) % H;
  let c = (i / (N * P * H)) % nC;
  let b = i / (N * P * H * nC);
  let g = h / (H / G);
  let t0 = c * L;
  let t1 = min(T, t0 + L);
  let aLast = ac[(b * T + t1 - 1u) * H + h];
  var acc = 0.0;
  for (var s = t0; s < t1; s++) {
    let k = (b * T + s) * H + h;
    acc += exp(aLast - ac[k]) * dl[k] * x[k * P + p] * Bm[((b * T + s) * G + g) * N + n];
  }
  hs[i] = acc;
}
