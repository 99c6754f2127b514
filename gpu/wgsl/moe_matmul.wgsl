// One expert's product over the rows routed to it (prefill): y[slot, colOffset + m] = Σ_k x[src, k] · W_e[m, k]
// for every slot of expert e (moe_bucket.wgsl's list), src = slot / div (div = K: x is the token rows;
// div = 1: x is per slot, e.g. the experts' hidden activations). 64×64 tiles as matmul.wgsl over the
// expert's gathered rows; the grid covers the most rows an expert can get (all tokens), and tiles past
// this expert's row count return at once — the host never learns the routes.
//   x: [.., K] f32   W_e: [M, K] (wAt)   offsets: [E + 1] u32   slots: [S] u32   y: [S, Mtotal]
//   n0 unused  n1 K  n2 M (this part's rows of W)  n3 colOffset  n4 e  n5 Mtotal  n6 div  n11 q8_0 scales
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
//#include "include/matmul_tile.wgsl"

var<workgroup> listStart: u32;
var<workgroup> listLen: u32;

fn xAt(r: u32, k: u32) -> f32 { return x[(slots[listStart + r] / prm.n6) * prm.n1 + k]; }

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) l3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K = prm.n1;
  let M = prm.n2;
  if (lid == 0u) {
    listStart = offsets[prm.n4];
    listLen = offsets[prm.n4 + 1u] - listStart;
  }
  let rows = workgroupUniformLoad(&listLen);
  let tilesN = (M + TILE - 1u) / TILE;
  let t = wgIndex(wid, nwg);
  let r0 = (t / tilesN) * TILE;
  let c0 = (t % tilesN) * TILE;
  if (r0 >= rows) { return; }
  let acc = matmulTile(r0, c0, rows, K, M, l3);
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + l3.y + 16u * i;
    if (r >= rows) { continue; }
    let slot = slots[listStart + r];
    for (var j = 0u; j < 4u; j++) {
      let m = c0 + l3.x + 16u * j;
      if (m >= M) { continue; }
      y[slot * prm.n5 + prm.n3 + m] = acc[i * 4u + j];
    }
  }
}
