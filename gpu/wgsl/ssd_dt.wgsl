// Mamba-2 SSD, chunked prefill, pass 1 (Dao & Gu 2024 §6, "ssd_minimal"): per (b, chunk, head),
// Δ_t = clamp(softplus(dt_t + dt_bias), dtMin, dtMax), the within-chunk cumulative a_t = Σ_{s≤t} Δ_s·A,
// and each token's weight in the chunk's end state, wt_s = exp(a_last − a_s)·Δ_s.
//   dt: [B, T, H]   dtBias, A: [H]   dl (Δ), ac (a), wt: [B, T, H]
//   n0 B  n1 T  n2 H  n6 L  n7 nC  f0 dtMin  f1 dtMax
@group(0) @binding(1) var<storage, read> dt: array<f32>;
@group(0) @binding(2) var<storage, read> dtBias: array<f32>;
@group(0) @binding(3) var<storage, read> A: array<f32>;
@group(0) @binding(4) var<storage, read_write> dl: array<f32>;
@group(0) @binding(5) var<storage, read_write> ac: array<f32>;
@group(0) @binding(6) var<storage, read_write> wt: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 64u + lid;
  let T = prm.n1; let H = prm.n2; let L = prm.n6; let nC = prm.n7;
  if (g >= prm.n0 * nC * H) { return; }
  let h = g % H;
  let c = (g / H) % nC;
  let b = g / (H * nC);
  var a = 0.0;
  let t1 = min(T, (c + 1u) * L);
  for (var t = c * L; t < t1; t++) {
    let k = (b * T + t) * H + h;
    let delta = clamp(softplus(dt[k] + dtBias[h]), prm.f0, prm.f1);
    a += delta * A[h];
    dl[k] = delta;
    ac[k] = a;
  }
  for (var t = c * L; t < t1; t++) {
    let k = (b * T + t) * H + h;
    wt[k] = exp(a - ac[k]) * dl[k];
  }
}
