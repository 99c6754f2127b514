// Mamba-2 SSD pass 6, per (b, t, head, p), with c = the chunk of t:
//   y_t = Σ_{s≤t in c} CB[t, s] · dec[t, s] · x_s[p]          (intra-chunk, matrix form)
//       + exp(a_t) · Σ_n C_t[n] · h_in[c][n, p]               (state entering the chunk)
//       + D · x_t[p]
//   x, y: [B, T, H, P]   Cm: [B, T, G, N]   D: [H]   ac: [B, T, H]   cb: [B, nC, G, L, L]
//   dec: [B, nC, H, L, L]   hs: [B, nC, H, N, P]   n0 B  n1 T  n2 H  n3 P  n4 N  n5 G  n6 L  n7 nC
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> Cm: array<f32>;
@group(0) @binding(3) var<storage, read> D: array<f32>;
@group(0) @binding(4) var<storage, read> ac: array<f32>;
@group(0) @binding(5) var<storage, read> cb: array<f32>;
@group(0) @binding(6) var<storage, read> dec: array<f32>;
@group(0) @binding(7) var<storage, read> hs: array<f32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  let T = prm.n1; let H = prm.n2; let P = prm.n3; let N = prm.n4; let G = prm.n5; let L = prm.n6; let nC = prm.n7;
  if (i >= prm.n0 * T * H * P) { return; }
  let p = i % P;
  let h = (i / P) % H;
  let t = (i / (P * H)) % T;
  let b = i / (P * H * T);
  let g = h / (H / G);
  let c = t / L;
  let tl = t % L;
  let cbRow = (((b * nC + c) * G + g) * L + tl) * L;
  let decRow = (((b * nC + c) * H + h) * L + tl) * L;
  let xs0 = (b * T + c * L) * H + h;
  var acc = 0.0;
  for (var sl = 0u; sl <= tl; sl++) {
    acc += cb[cbRow + sl] * dec[decRow + sl] * x[(xs0 + sl * H) * P + p];
  }
  let co = ((b * T + t) * G + g) * N;
  let ho = ((b * nC + c) * H + h) * N * P + p;
  var carried = 0.0;
  for (var n = 0u; n < N; n++) { carried += Cm[co + n] * hs[ho + n * P]; }
  y[i] = acc + exp(ac[(b * T + t) * H + h]) * carried + D[h] * x[i];
}
