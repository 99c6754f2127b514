// dst[i] = src[srcOffset + i], four f32 per thread through 16-byte loads and stores (sliceRows when
// the offset and the count are multiples of 4; copy.wgsl, one f32 per thread, otherwise). On an H100
// the one-f32 copy reads ~0.5–0.6 TB/s; wide loads are what a GPU needs to stream near its bandwidth.
//   n0 count / 4   n1 srcOffset / 4 (in vec4s)
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 256u + lid;
  if (i < prm.n0) { dst[i] = src[prm.n1 + i]; }
}
