// Mamba-2 decode step with x's conv folded in (Backend.mamba2MixerStep; HF Mamba2Mixer cached
// branch): thread (b, head h, p) owns channel c = h·P + p of x, so it runs conv1d_step for it
// (x = silu(bias + Σ_k Wx[c, k]·s[k]) over s = conv state ++ x_in, shifting x_in into its state row —
// no other thread touches that row), then ssd_step.wgsl: Δ = clamp(softplus(dt + dt_bias));
// h ← exp(Δ·A)·h + Δ·x ⊗ B; y = h·C + D·x. B and C come already convolved (conv1d_step_pair).
//   xIn, y: [B, 1, H·P]   convW: [H·P, K]   convB: [H·P]   convState: [B, H·P, K−1]   dt: [B, 1, H]
//   hp: [3, H] = dt_bias, A, D   Bm, Cm: [B, 1, G, N]   state: [B, H, P, N]
//   n0 B  n2 H  n3 P  n4 N  n5 G  n6 K  n7 hasConvBias  n8 xIn already convolved (mamba2_in_proj_*: no conv here)
//   f0 dtMin  f1 dtMax
@group(0) @binding(1) var<storage, read> xIn: array<f32>;
@group(0) @binding(2) var<storage, read> convW: array<f32>;
@group(0) @binding(3) var<storage, read> convB: array<f32>;
@group(0) @binding(4) var<storage, read_write> convState: array<f32>;
@group(0) @binding(5) var<storage, read> dt: array<f32>;
@group(0) @binding(6) var<storage, read> hp: array<f32>;
@group(0) @binding(7) var<storage, read> Bm: array<f32>;
@group(0) @binding(8) var<storage, read> Cm: array<f32>;
@group(0) @binding(9) var<storage, read_write> state: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

//#include "include/conv_step.wgsl"

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = wgIndex(wid, nwg) * 64u + lid; // = b·H·P + c
  let H = prm.n2; let P = prm.n3; let N = prm.n4; let G = prm.n5; let K = prm.n6;
  if (i >= prm.n0 * H * P) { return; }
  let c = i % (H * P);
  let h = c / P;
  let b = i / (P * H);
  let g = h / (H / G);
  var xv: f32;
  if (prm.n8 != 0u) {
    xv = xIn[i];
  } else { // conv1d_step for channel c of sequence b
    xv = silu(convStep(c, i * (K - 1u), K, xIn[i], prm.n7 != 0u));
  }
  // ssd_step
  let delta = clamp(softplus(dt[b * H + h] + hp[h]), prm.f0, prm.f1);
  let decay = exp(delta * hp[H + h]);
  let go = (b * G + g) * N;
  var acc = 0.0;
  for (var n = 0u; n < N; n++) {
    let s = decay * state[i * N + n] + delta * xv * Bm[go + n];
    state[i * N + n] = s;
    acc += s * Cm[go + n];
  }
  y[i] = acc + hp[2u * H + h] * xv;
}
