// Mamba-2 SSD, one thread per (b, head, p) walking T tokens in order (T = 1: the decode step; HF
// Mamba2Mixer cached branch, with the Δ clamp):
// Δ = clamp(softplus(dt + bias)); h ← exp(Δ·A)·h + Δ·x ⊗ B; y = h·C + D·x.
// For T > 1 this is the plain sequential scan that the chunked SSD (ssd_dt … ssd_out) replaces; the
// backend runs it for prefill only when asked (WebGpuBackend.scanMode = 'sequential').
//   x, y: [B, T, H, P]   dt: [B, T, H]   dtBias, A, D: [H]   Bm, Cm: [B, T, G, N]   state: [B, H, P, N]
//   n0 B  n1 T  n2 H  n3 P  n4 N  n5 G  f0 dtMin  f1 dtMax
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> dtBias: array<f32>;
@group(0) @binding(4) var<storage, read> A: array<f32>;
@group(0) @binding(5) var<storage, read> Bm: array<f32>;
@group(0) @binding(6) var<storage, read> Cm: array<f32>;
@group(0) @binding(7) var<storage, read> D: array<f32>;
@group(0) @binding(8) var<storage, read_write> state: array<f32>;
@group(0) @binding(9) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 64u + lid;
  let T = prm.n1; let H = prm.n2; let P = prm.n3; let N = prm.n4; let G = prm.n5;
  if (i >= prm.n0 * H * P) { return; }
  let p = i % P;
  let h = (i / P) % H;
  let b = i / (P * H);
  let g = h / (H / G);
  for (var t = 0u; t < T; t++) {
    let row = b * T + t;
    let delta = clamp(softplus(dt[row * H + h] + dtBias[h]), prm.f0, prm.f1);
    let decay = exp(delta * A[h]);
    let k = (row * H + h) * P + p;
    let xv = x[k];
    let go = (row * G + g) * N;
    var acc = 0.0;
    for (var n = 0u; n < N; n++) {
      let s = decay * state[i * N + n] + delta * xv * Bm[go + n];
      state[i * N + n] = s;
      acc += s * Cm[go + n];
    }
    y[k] = acc + D[h] * xv;
  }
}
