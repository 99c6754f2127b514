// Up to three matrix-vector products over the same x in one dispatch (see include/matvec_multi_main.wgsl),
// f32 weights with K % 4 == 0: one vec4 (16 bytes) of W per step.
//   x: [rows, K] f32   W_i: [M_i, K] f32   y_i: [rows, M_i]
//   n0 rows (≤ 8)  n1 K  n2 M0  n3 M1  n4 M2
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w0: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> w1: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> w2: array<vec4<f32>>;

const PER: u32 = 4u; // weights per loaded word
fn wload(seg: u32, i: u32) -> vec4<f32> {
  if (seg == 0u) { return w0[i]; }
  if (seg == 1u) { return w1[i]; }
  return w2[i];
}
fn partial(seg: u32, m: u32, k: u32, K4: u32, r: u32) -> f32 {
  return dot(wload(seg, m * K4 + k), xv(r, k, K4));
}

//#include "include/matvec_x_plain.wgsl"
//#include "include/matvec_multi_main.wgsl"
