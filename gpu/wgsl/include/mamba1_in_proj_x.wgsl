// (through //#include, by include/mamba1_in_proj_main.wgsl and include/mamba1_in_proj_xp_main.wgsl after
// include/norm_fold.wgsl) The block input as the in_proj product reads it: x's rows, RMS-normed when the norm
// is folded in (prm.n4 = 1; g the norm weight, inv[r] row r's 1 / rms), a vec4 at a time.
// x's row r, vec4 i, through the folded norm (n4 = 1) with gi = g[i] (gword(i), loaded once for all rows).
fn xvg(r: u32, i: u32, K4: u32, gi: vec4<f32>) -> vec4<f32> {
  let xr = x[r * K4 + i];
  if (prm.n4 == 0u) { return xr; }
  return gi * (xr * inv[r]);
}
fn gword(i: u32) -> vec4<f32> {
  if (prm.n4 == 0u) { return vec4<f32>(); }
  return g[i];
}
// (include/norm_fold.wgsl's xn)
fn xv(r: u32, i: u32, K4: u32) -> vec4<f32> { return xvg(r, i, K4, gword(i)); }
