// The conv state becomes the last K−1 entries of s = state ++ x. One thread per (b, c), walking
// j upwards: s[T + j] is read before anything at or above it is written, so in place is safe.
//   x: [B, T, C]   state: [B, C, K−1]   n0 B  n1 T  n2 C  n3 K
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wgIndex(wid, nwg) * 256u + lid;
  let T = prm.n1; let C = prm.n2; let hist = prm.n3 - 1u;
  if (g >= prm.n0 * C) { return; }
  let c = g % C;
  let b = g / C;
  let base = (b * C + c) * hist;
  for (var j = 0u; j < hist; j++) {
    let src = T + j;
    var v: f32;
    if (src < hist) { v = state[base + src]; } else { v = x[(b * T + src - hist) * C + c]; }
    state[base + j] = v;
  }
}
