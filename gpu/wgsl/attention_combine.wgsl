// Split-K attention, pass 2 of 2: merge attention_split.wgsl's S partials (m_s, l_s, acc_s) of each
// query row by log-sum-exp: with M = max_s m_s,
//   y = Σ_s exp(m_s − M)·acc_s / Σ_s exp(m_s − M)·l_s
// which equals softmax(q·kᵀ·scale)·v over all the row's keys (empty splits have m_s = −max f32, so
// their weight is exp(−huge) = 0; split 0 always holds key 0, so M is a real score). A thread per
// (row, d).
//   part: [rows, S, Dh + 2]   y: [rows, Dh]   n0 rows  n1 Dh  n2 S
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 64u + lid; // = row · Dh + d
  let Dh = prm.n1; let S = prm.n2;
  if (i >= prm.n0 * Dh) { return; }
  let row = i / Dh;
  let d = i % Dh;
  let stride = Dh + 2u;
  let po = row * S * stride;
  var M = part[po];
  for (var s = 1u; s < S; s++) { M = max(M, part[po + s * stride]); }
  var num = 0.0;
  var den = 0.0;
  for (var s = 0u; s < S; s++) {
    let o = po + s * stride;
    let w = exp(part[o] - M);
    den += w * part[o + 1u];
    num += w * part[o + 2u + d];
  }
  y[i] = num / den;
}
