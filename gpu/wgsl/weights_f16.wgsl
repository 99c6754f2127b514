// Weight loader, f16 storage packed two per u32 word (element i in the low half when i is even).
// unpack2x16float is core WGSL, so this path needs no shader-f16 feature.
@group(0) @binding(2) var<storage, read> w: array<u32>;
fn wAt(i: u32) -> f32 {
  let p = unpack2x16float(w[i >> 1u]);
  return select(p.x, p.y, (i & 1u) == 1u);
}
