// y[r, colOffset + m] = Σ_k x[r, k] · W[m, k] (+ bias) for many rows (prefill): 64×64 output
// tiles, 256 threads with 4×4 outputs each, K in steps of 16 staged in workgroup memory.
// The tile loop is written out here rather than called from include/matmul_tile.wgsl (which
// moe_matmul.wgsl uses): with the shared function (a 16-float accumulator returned by value) the
// prefill of a mamba-130m-shaped model measured 25% slower on an H100 (16k tokens: 45.2k/45.9k vs
// 60.3k/60.1k tok/s, the two shader sets alternating in one device call, 2026-12-06; BENCHMARKS.md).
//   x: [rows, K] f32   W: [M, K] (wAt)   bias: [Mtotal]   y: [rows, Mtotal]
//   n0 rows  n1 K  n2 M  n3 colOffset  n4 hasBias  n5 Mtotal
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TILE: u32 = 64u;
const TK: u32 = 16u;
// Rows padded to TK + 1 floats: the inner loop reads column kk of 16 different rows per warp, which
// with a stride of 16 floats would hit 2 of the 32 shared-memory banks (a 16-way conflict).
const LD: u32 = 17u;
var<workgroup> xs: array<f32, 1088>; // [TILE rows][LD]
var<workgroup> ws: array<f32, 1088>; // [TILE cols][LD]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) l3: vec3<u32>) {
  let rows = prm.n0;
  let K = prm.n1;
  let M = prm.n2;
  let tilesN = (M + TILE - 1u) / TILE;
  let t = wgIndex(wid, nwg);
  let r0 = (t / tilesN) * TILE;
  let c0 = (t % tilesN) * TILE;
  if (r0 >= rows) { return; }
  let lid = l3.y * 16u + l3.x;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < K; k0 += TK) {
    for (var i = 0u; i < 4u; i++) {
      let e = lid + i * 256u;
      let rr = e / TK;
      let gk = k0 + e % TK;
      var xv = 0.0;
      if (r0 + rr < rows && gk < K) { xv = x[(r0 + rr) * K + gk]; }
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
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + l3.y + 16u * i;
    if (r >= rows) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let m = c0 + l3.x + 16u * j;
      if (m >= M) { continue; }
      let col = prm.n3 + m;
      var v = acc[i * 4u + j];
      if (prm.n4 != 0u) { v += bias[col]; }
      y[r * prm.n5 + col] = v;
    }
  }
}
