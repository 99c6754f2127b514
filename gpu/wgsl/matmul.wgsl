// y[r, colOffset + m] = Σ_k x[r, k] · W[m, k] (+ bias) for many rows (prefill): 64×64 output
// tiles (include/matmul_tile.wgsl), 256 threads with 4×4 outputs each.
//   x: [rows, K] f32   W: [M, K] (wAt)   bias: [Mtotal]   y: [rows, Mtotal]
//   n0 rows  n1 K  n2 M  n3 colOffset  n4 hasBias  n5 Mtotal
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
//#include "include/matmul_tile.wgsl"

fn xAt(r: u32, k: u32) -> f32 { return x[r * prm.n1 + k]; }

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
  let acc = matmulTile(r0, c0, rows, K, M, l3);
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
