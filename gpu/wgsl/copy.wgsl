// dst[i] = src[srcOffset + i] (sliceRows).   n0 count  n1 srcOffset (elements)
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  if (i < prm.n0) { dst[i] = src[prm.n1 + i]; }
}
