// Shared by ssd_chunk_state / ssd_chunk_out (workgroup of 256, chunk length L ≤ 256): per head h,
// Δ_t = clamp(softplus(dt_t + dt_bias), dtMin, dtMax) and the within-chunk cumulative
// a_t = Σ_{s≤t} Δ_s·A (Dao & Gu 2024 §6, ssd_minimal's A_cumsum) into workgroup memory, by a
// Hillis–Steele scan over the chunk (8 steps). Positions past the sequence end get Δ = 0.
//   needs bindings dt: [B, T, H], dtBias, A: [H]; params n1 T  n2 H  f0 dtMin  f1 dtMax
var<workgroup> dl: array<f32, 256>;
var<workgroup> cum: array<f32, 256>;

fn chunkDecay(lid: u32, b: u32, t0: u32, len: u32, h: u32) {
  var d = 0.0;
  if (lid < len) { d = clamp(softplus(dt[(b * prm.n1 + t0 + lid) * prm.n2 + h] + dtBias[h]), prm.f0, prm.f1); }
  dl[lid] = d;
  cum[lid] = d * A[h];
  workgroupBarrier();
  for (var off = 1u; off < 256u; off <<= 1u) {
    var v = 0.0;
    if (lid >= off) { v = cum[lid - off]; }
    workgroupBarrier();
    cum[lid] += v;
    workgroupBarrier();
  }
}

/** (b, c, h, then the inner tile index) of this workgroup: inner tiles fastest, then heads. */
fn ssdTile(w: u32, inner: u32) -> vec4<u32> {
  let bch = w / inner; // (b·nC + c)·H + h
  let H = prm.n2; let nC = prm.n7;
  return vec4<u32>(bch / (H * nC), (bch / H) % nC, bch % H, w % inner);
}
