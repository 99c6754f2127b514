// conv1d_step.wgsl over two tensors in one dispatch: Mamba-2's B and C parts of xBC (their conv
// channels are held apart, src/models/mamba2.ts), so a fused decode step pays one dispatch for both.
// Thread g < B·C handles (b, c) of the first tensor, g − B·C the second; each as conv1d_step:
// y = silu(bias + Σ_k W[c, k] · s[k]) over s = state ++ x, then x shifts into its own state row.
//   x0, x1, y0, y1: [B, 1, C]   w0, w1: [C, K]   bias0, bias1: [C]   state0, state1: [B, C, K−1]
//   n0 B  n2 C  n3 K  n4 hasBias
@group(0) @binding(1) var<storage, read> x0: array<f32>;
@group(0) @binding(2) var<storage, read> x1: array<f32>;
@group(0) @binding(3) var<storage, read> w0: array<f32>;
@group(0) @binding(4) var<storage, read> w1: array<f32>;
@group(0) @binding(5) var<storage, read> bias0: array<f32>;
@group(0) @binding(6) var<storage, read> bias1: array<f32>;
@group(0) @binding(7) var<storage, read_write> state0: array<f32>;
@group(0) @binding(8) var<storage, read_write> state1: array<f32>;
@group(0) @binding(9) var<storage, read_write> y0: array<f32>;
@group(0) @binding(10) var<storage, read_write> y1: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let all = wgIndex(wid, nwg) * 256u + lid;
  let C = prm.n2; let K = prm.n3;
  let n = prm.n0 * C;
  if (all >= 2u * n) { return; }
  let second = all >= n;
  let g = select(all, all - n, second); // = b·C + c
  let c = g % C;
  let hist = K - 1u;
  let base = g * hist;
  // WGSL cannot pick a binding at run time: the two halves read through the same lines, selected.
  let xv = select(x0[g], x1[g], second);
  var acc = 0.0;
  if (prm.n4 != 0u) { acc = select(bias0[c], bias1[c], second); }
  for (var k = 0u; k < hist; k++) {
    if (second) { acc += w1[c * K + k] * state1[base + k]; } else { acc += w0[c * K + k] * state0[base + k]; }
  }
  if (second) { acc += w1[c * K + hist] * xv; } else { acc += w0[c * K + hist] * xv; }
  for (var k = 0u; k + 1u < hist; k++) {
    if (second) { state1[base + k] = state1[base + k + 1u]; } else { state0[base + k] = state0[base + k + 1u]; }
  }
  if (hist > 0u) {
    if (second) { state1[base + hist - 1u] = xv; } else { state0[base + hist - 1u] = xv; }
  }
  if (second) { y1[g] = silu(acc); } else { y0[g] = silu(acc); }
}
