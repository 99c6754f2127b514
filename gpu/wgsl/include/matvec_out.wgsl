// (shared by matvec.wgsl, matvec_f32x4.wgsl and matvec_f16x8.wgsl through //#include)
// The single-matrix epilogue: y[r, colOffset + m] = v (+ bias[r · bias row stride + colOffset + m]).
//   n3 colOffset  n4 hasBias  n5 Mtotal  n6 bias row stride
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn storeOut(r: u32, m: u32, sum: f32) {
  let col = prm.n3 + m;
  var v = sum;
  if (prm.n4 != 0u) { v += bias[r * prm.n6 + col]; }
  y[r * prm.n5 + col] = v;
}
