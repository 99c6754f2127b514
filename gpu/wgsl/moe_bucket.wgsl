// The routes grouped by expert, on the device (one workgroup): slot s = r·K + k (row r's k-th
// choice) is listed under expert idx[s]; offsets[e]..offsets[e + 1] are expert e's slots in
// ascending order (so its rows ascend: a row picks an expert at most once). The per-expert
// products (moe_matmul.wgsl, moe_matvec.wgsl) read their rows from these lists.
//   idx: [S] u32   offsets: [E + 1] u32   slots: [S] u32
//   n0 S (rows · K)  n1 E (≤ 1024)
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> slots: array<u32>;

const WG: u32 = 256u;
var<workgroup> start: array<u32, 1025>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let S = prm.n0;
  let E = prm.n1;
  for (var e = lid; e < E; e += WG) {
    var c = 0u;
    for (var s = 0u; s < S; s++) { if (idx[s] == e) { c++; } }
    start[e + 1u] = c;
  }
  workgroupBarrier();
  if (lid == 0u) {
    start[0] = 0u;
    for (var e = 0u; e < E; e++) { start[e + 1u] += start[e]; }
  }
  workgroupBarrier();
  for (var e = lid; e <= E; e += WG) { offsets[e] = start[e]; }
  for (var e = lid; e < E; e += WG) {
    var at = start[e];
    for (var s = 0u; s < S; s++) {
      if (idx[s] == e) { slots[at] = s; at++; }
    }
  }
}
