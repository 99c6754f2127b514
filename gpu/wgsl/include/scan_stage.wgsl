// Shared by selective_scan_chunk_tiled / selective_scan_out_tiled: a workgroup is WG channels of one
// (batch, chunk) (WG = 64 or 32, substituted by the backend: WebGpuBackend.scanWorkgroup); the chunk's B (and C) rows are staged in workgroup memory TB tokens at a time
// (one coalesced load for all WG channels instead of NS broadcast loads per channel and token),
// and each thread loads U tokens of x / dt ahead into registers so U loads are in flight at once.
const TB: u32 = 32u; // tokens per staged block (TB·NS floats per staged matrix; NS ≤ 64 → ≤ 8 KiB)
// The state row is held as NS4 vec4s (NS padded to a multiple of 4 with A = 0, B = C = 0, so the
// padding stays 0): 4-wide math and 16-byte workgroup loads, and loops of NS4 short enough that
// every compiler unrolls them, keeping the state in registers.
const NS4: u32 = (NS + 3u) / 4u;
const U: u32 = 8u;   // tokens loaded ahead per thread
const LOG2E: f32 = 1.4426950408889634;

/** (b, chunk, first channel) of this workgroup; n6 = channel blocks of WG. */
fn scanTile(w: u32) -> vec3<u32> {
  let nB = prm.n6;
  return vec3<u32>(w / (nB * prm.n5), (w / nB) % prm.n5, (w % nB) * WG);
}

//#include "include/ex2_poly.wgsl"
// The decay exp2(Δ·A·log2 e) of states n ≥ NS − POLY comes from ex2Poly (the FMA pipe), the others' from
// exp2 (the SFU): per (token, channel) pass 1 issues NS exp2 + softplus' exp and log on the SFU against
// ~60 FMA-pipe instructions, and an H100 SM issues 16 SFU ops a clock against 128 FMA lanes, so the SFU is
// the bottleneck; each state moved costs ~12 FMA-pipe instructions (BENCHMARKS.md, the bounds of the scan).
// POLY is substituted by the backend (WebGpuBackend.scanPoly, per pass). q is the index of a loop over
// NS4 that every compiler unrolls (the state must stay in registers), so the tests below fold: the
// unrolled loop has no branch and each lane computes only its own kind of 2^x. keep: ex2Poly's mask (n7).
const POLY_FROM: u32 = NS - min(POLY, NS);
fn decay2(v: vec4<f32>, q: u32, keep: u32) -> vec4<f32> {
  if (4u * q >= POLY_FROM) { return ex2Poly(v, keep); }
  if (4u * q + 4u <= POLY_FROM) { return exp2(v); }
  return select(exp2(v), ex2Poly(v, keep), vec4<u32>(4u * q) + vec4<u32>(0u, 1u, 2u, 3u) >= vec4<u32>(POLY_FROM));
}
