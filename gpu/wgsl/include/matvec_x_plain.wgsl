// (matvec_multi kernels) x as given: the r-th row's i-th vec4.
fn xv(r: u32, i: u32, K4: u32) -> vec4<f32> { return x[r * K4 + i]; }
fn prologue(rows: u32, K4: u32, lid: u32, wg: u32) {}
