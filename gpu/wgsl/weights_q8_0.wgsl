// Weight loader, q8_0 (ggml: blocks of 32 values, one scale d per block, x ≈ d·q with q an int8).
// GPU layout (src/backends/webgpu/quant.ts): the f32 scales of all blocks first
// (prm.n11 words), then the int8 values packed four per u32 word, little-endian.
@group(0) @binding(2) var<storage, read> w: array<u32>;
fn wAt(i: u32) -> f32 {
  let word = w[prm.n11 + (i >> 2u)];
  let q = extractBits(bitcast<i32>(word), (i & 3u) * 8u, 8u);
  return f32(q) * bitcast<f32>(w[i >> 5u]);
}
