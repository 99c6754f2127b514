// out[i, d] = table[ids[i], d] for the ids that fall in this part of the table
// (rows [rowStart, rowStart + partRows)); large tables are split into parts that each fit a binding.
//   ids: [n4 + count] u32   table: [partRows, D] (wAt)   out: [count, D]
//   n0 count  n1 D  n2 rowStart  n3 partRows  n4 first id's word in `ids` (0, or where a device-sampled
//   token sits in sample_top_k's buffer: decode reads the next id without a read-back)
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 256u + lid;
  let D = prm.n1;
  if (g >= prm.n0 * D) { return; }
  let i = g / D;
  let d = g % D;
  let id = ids[prm.n4 + i];
  if (id < prm.n2 || id >= prm.n2 + prm.n3) { return; }
  out[g] = wAt((id - prm.n2) * D + d);
}
