// Mamba-2 SSD pass 3: the decay part of the chunk's matrix form, per (b, chunk, head, t, s):
//   dec[t, s] = exp(a_t − a_s) · Δ_s for s ≤ t (0 above the diagonal and past the sequence end),
// so the output pass multiplies instead of taking L exponentials per output.
//   dl, ac: [B, T, H]   dec: [B, nC, H, L, L]   n0 B  n1 T  n2 H  n6 L  n7 nC
@group(0) @binding(1) var<storage, read> dl: array<f32>;
@group(0) @binding(2) var<storage, read> ac: array<f32>;
@group(0) @binding(3) var<storage, read_write> dec: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  let T = prm.n1; let H = prm.n2; let L = prm.n6; let nC = prm.n7;
  if (i >= prm.n0 * nC * H * L * L) { return; }
  let s = i % L;
  let t = (i / L) % L;
  let h = (i / (L * L)) % H;
  let c = (i / (L * L * H)) % nC;
  let b = i / (L * L * H * nC);
  let tt = c * L + t;
  if (s > t || tt >= T) { dec[i] = 0.0; return; }
  let kt = (b * T + tt) * H + h;
  let ks = (b * T + c * L + s) * H + h;
  dec[i] = exp(ac[kt] - ac[ks]) * dl[ks];
}
