// Weight loader, f32 storage: wAt(i) is element i of the bound weight (binding 2).
@group(0) @binding(2) var<storage, read> w: array<f32>;
fn wAt(i: u32) -> f32 { return w[i]; }
