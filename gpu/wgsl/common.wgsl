// Prepended to every kernel (src/backends/webgpu/kernels.ts): the per-dispatch parameters
// (twelve u32 and four f32 slots; each kernel names what its slots mean in its header)
// and the small math every kernel shares.
struct Params {
  n0: u32, n1: u32, n2: u32, n3: u32, n4: u32, n5: u32, n6: u32, n7: u32,
  n8: u32, n9: u32, n10: u32, n11: u32,
  f0: f32, f1: f32, f2: f32, f3: f32,
}
@group(0) @binding(0) var<uniform> prm: Params;

// Dispatches are tiled in 2-D (at most 65,535 workgroups per dimension): flatten back.
fn wgIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }

// torch.nn.functional.softplus with its default threshold 20 (linear above it).
fn softplus(x: f32) -> f32 {
  if (x > 20.0) { return x; }
  let e = exp(x);
  // log1p(e) without losing e when it is tiny
  if (e < 1e-4) { return e * (1.0 - 0.5 * e); }
  return log(1.0 + e);
}
