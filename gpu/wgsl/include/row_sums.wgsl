// (through include/matvec_reduce.wgsl, or directly by a kernel that declares its own WG)
// Each of the workgroup's WG threads holds partial sums acc[r] for up to 8 rows; a tree reduction
// over the workgroup adds them up. The including file declares WG (threads a workgroup, a power of 2).
var<workgroup> red: array<f32, 8u * WG>;

// Σ over the workgroup's threads of acc[r], returned to thread r for r < rows (other threads get a
// value to ignore). Has barriers: call it from workgroup-uniform control flow.
fn rowSums(acc: array<f32, 8>, rows: u32, lid: u32) -> f32 {
  for (var r = 0u; r < 8u; r++) { red[r * WG + lid] = acc[r]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < 8u; r++) {
        if (r < rows) { red[r * WG + lid] += red[r * WG + lid + s]; }
      }
    }
    workgroupBarrier();
  }
  return red[min(lid, 7u) * WG];
}
