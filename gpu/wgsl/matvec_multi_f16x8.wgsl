// Up to three matrix-vector products that share their input, in one dispatch (decode): the graph
// asks for in_proj / x_proj as separate row blocks, each a dispatch of its own; the backend merges
// consecutive ones over the same x (src/backends/webgpu/index.ts, matmul). Workgroups 0..M0−1
// compute y0, the next M1 compute y1, the next M2 compute y2 (the segment is uniform per workgroup).
//   x: [rows, K] f32   W_i: [M_i, K] (f16 weights (weights_f16.wgsl order), K % 8 == 0)   y_i: [rows, M_i]
//   n0 rows (≤ 8)  n1 K  n2 M0  n3 M1  n4 M2
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w0: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> w1: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> w2: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> y0: array<f32>;
@group(0) @binding(6) var<storage, read_write> y1: array<f32>;
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, 512>;

const PER: u32 = 8u; // weights per loaded word
fn wload(seg: u32, i: u32) -> vec4<u32> {
  if (seg == 0u) { return w0[i]; }
  if (seg == 1u) { return w1[i]; }
  return w2[i];
}
fn partial(seg: u32, m: u32, k: u32, K4: u32, r: u32) -> f32 {
  let p = wload(seg, m * (K4 / 2u) + k);
  let a = vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
  let b = vec4<f32>(unpack2x16float(p.z), unpack2x16float(p.w));
  return dot(a, x[r * K4 + 2u * k]) + dot(b, x[r * K4 + 2u * k + 1u]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let M0 = prm.n2; let M1 = prm.n3; let M2 = prm.n4;
  var m = wgIndex(wid, nwg);
  if (m >= M0 + M1 + M2) { return; }
  var seg = 0u;
  var M = M0;
  if (m >= M0) {
    m -= M0; seg = 1u; M = M1;
    if (m >= M1) { m -= M1; seg = 2u; M = M2; }
  }
  let rows = prm.n0;
  let K4 = prm.n1 / 4u;
  let steps = prm.n1 / PER;
  var acc: array<f32, 8>;
  for (var k = lid; k < steps; k += WG) {
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) { acc[r] += partial(seg, m, k, K4, r); }
    }
  }
  for (var r = 0u; r < 8u; r++) { red[r * WG + lid] = acc[r]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < 8u; r++) {
        if (r < rows) { red[r * WG + lid] += red[r * WG + lid + s]; }
      }
    }
    workgroupBarrier();
  }
  if (lid < rows) {
    let v = red[lid * WG];
    if (seg == 0u) { y0[lid * M + m] = v; } else if (seg == 1u) { y1[lid * M + m] = v; } else { y2[lid * M + m] = v; }
  }
}
