// Mamba-2 SSD pass 5 of 5, per (b, t, head, p), with c = the chunk of t:
//   y_t = Σ_{s≤t in c} CB[t, s] · exp(a_t − a_s) · Δ_s · x_s[p]      (intra-chunk, matrix form)
//       + exp(a_t) · Σ_n C_t[n] · h_in[c][p, n]                      (state entering the chunk)
//       + D · x_t[p]
//   x, y: [B, T, H, P]   Cm: [B, T, G, N]   D: [H]   dl, ac: [B, T, H]   cb: [B, nC, G, L, L]
//   hs: [B, nC, H, P, N]   n0 B  n1 T  n2 H  n3 P  n4 N  n5 G  n6 L  n7 nC
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> Cm: array<f32>;
@group(0) @binding(3) var<storage, read> D: array<f32>;
@group(0) @binding(4) var<storage, read> dl: array<f32>;
@group(0) @binding(5) var<storage, read> ac: array<f32>;
@group(0) @binding(6) var<storage, read> cb: array<f32>;
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
  let kt = (b * T + t) * H + h;
  let at = ac[kt];
  let cbRow = (((b * nC + c) * G + g) * L + tl) * L;
  var acc = 0.0;
  for (var sl = 0u; sl <= tl; sl++) {
    let ks = (b * T + c * L + sl) * H + h;
    acc += cb[cbRow + sl] * exp(at - ac[ks]) * dl[ks] * x[ks * P + p];
  }
  let co = ((b * T + t) * G + g) * N;
  let ho = (((b * nC + c) * H + h) * P + p) * N;
  var carried = 0.0;
  for (var n = 0u; n < N; n++) { carried += Cm[co + n] * hs[ho + n]; }
  y[i] = acc + exp(at) * carried + D[h] * x[i];
}
