// (moe_matmul.wgsl's tile loop, through //#include; matmul.wgsl keeps its own copy written out, which
// measured 25% faster for prefill on an H100 than calling this function: see matmul.wgsl)
// One 64×64 output tile of x·Wᵀ: 256 threads (16×16) with 4×4 outputs each, K in steps of 16 staged
// in workgroup memory. The including file declares xAt(r, k): element k of the tile's logical row r
// (0 ≤ r < rows; the plain matmul reads x's row r, the expert matmul a gathered row).
const TILE: u32 = 64u;
const TK: u32 = 16u;
// Rows padded to TK + 1 floats: the inner loop reads column kk of 16 different rows per warp, which
// with a stride of 16 floats would hit 2 of the 32 shared-memory banks (a 16-way conflict).
const LD: u32 = 17u;
var<workgroup> xs: array<f32, 1088>; // [TILE rows][LD]
var<workgroup> ws: array<f32, 1088>; // [TILE cols][LD]

// acc[i·4 + j] = Σ_k xAt(r0 + l3.y + 16i, k) · W[c0 + l3.x + 16j, k] (W: [M, K] through wAt).
// Has barriers: call it from workgroup-uniform control flow.
fn matmulTile(r0: u32, c0: u32, rows: u32, K: u32, M: u32, l3: vec3<u32>) -> array<f32, 16> {
  let lid = l3.y * 16u + l3.x;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < K; k0 += TK) {
    for (var i = 0u; i < 4u; i++) {
      let e = lid + i * 256u;
      let rr = e / TK;
      let gk = k0 + e % TK;
      var xv = 0.0;
      if (r0 + rr < rows && gk < K) { xv = xAt(r0 + rr, gk); }
      xs[rr * LD + e % TK] = xv;
      var wv = 0.0;
      if (c0 + rr < M && gk < K) { wv = wAt((c0 + rr) * K + gk); }
      ws[rr * LD + e % TK] = wv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = xs[(l3.y + 16u * i) * LD + kk];
        b[i] = ws[(l3.x + 16u * i) * LD + kk];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  return acc;
}
