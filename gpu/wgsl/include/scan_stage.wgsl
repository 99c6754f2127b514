// Shared by selective_scan_chunk_tiled / selective_scan_out_tiled: a workgroup is 64 channels of one
// (batch, chunk); the chunk's B (and C) rows are staged in workgroup memory TB tokens at a time
// (one coalesced load for all 64 channels instead of NS broadcast loads per channel and token),
// and each thread loads U tokens of x / dt ahead into registers so U loads are in flight at once.
const TB: u32 = 32u; // tokens per staged block (TB·NS floats per staged matrix; NS ≤ 64 → ≤ 8 KiB)
// The state row is held as NS4 vec4s (NS padded to a multiple of 4 with A = 0, B = C = 0, so the
// padding stays 0): 4-wide math and 16-byte workgroup loads, and loops of NS4 short enough that
// every compiler unrolls them, keeping the state in registers.
const NS4: u32 = (NS + 3u) / 4u;
const U: u32 = 8u;   // tokens loaded ahead per thread
const LOG2E: f32 = 1.4426950408889634;

/** (b, chunk, first channel) of this workgroup; n6 = channel blocks of 64. */
fn scanTile(w: u32) -> vec3<u32> {
  let nB = prm.n6;
  return vec3<u32>(w / (nB * prm.n5), (w / nB) % prm.n5, (w % nB) * 64u);
}
