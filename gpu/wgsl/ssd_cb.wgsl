// Mamba-2 SSD pass 2: the chunk's C·Bᵀ (the "attention-like" matrix of the SSD dual form),
// CB[t, s] = Σ_n C_t[n] · B_s[n] for s ≤ t, per (b, chunk, group).
//   Bm, Cm: [B, T, G, N]   cb: [B, nC, G, L, L]
//   n0 B  n1 T  n4 N  n5 G  n6 L  n7 nC
@group(0) @binding(1) var<storage, read> Bm: array<f32>;
@group(0) @binding(2) var<storage, read> Cm: array<f32>;
@group(0) @binding(3) var<storage, read_write> cb: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  let T = prm.n1; let N = prm.n4; let G = prm.n5; let L = prm.n6; let nC = prm.n7;
  if (i >= prm.n0 * nC * G * L * L) { return; }
  let s = i % L;
  let t = (i / L) % L;
  let gcb = i / (L * L); // (b·nC + c)·G + g
  let g = gcb % G;
  let c = (gcb / G) % nC;
  let b = gcb / (G * nC);
  let tt = c * L + t;
  let ss = c * L + s;
  if (s > t || tt >= T) { cb[i] = 0.0; return; }
  let co = ((b * T + tt) * G + g) * N;
  let bo = ((b * T + ss) * G + g) * N;
  var acc = 0.0;
  for (var n = 0u; n < N; n++) { acc += Cm[co + n] * Bm[bo + n]; }
  cb[i] = acc;
}
