// Mamba-2 decode step with x's conv folded in (Backend.mamba2MixerStep; HF Mamba2Mixer cached
// branch). A channel c = h·P + p of sequence b is 32 threads: the first runs conv1d_step for it
// (x = silu(bias + Σ_k Wx[c, k]·s[k]) over s = conv state ++ x_in, shifting x_in into its state row —
// no other thread touches that row), then all 32 run ssd_step.wgsl's Δ = clamp(softplus(dt + dt_bias));
// h ← exp(Δ·A)·h + Δ·x ⊗ B over the state entries n ≡ lane (mod 32) — a warp's loads and stores of the
// state row [N] are consecutive words — and y = h·C + D·x sums their shares in workgroup memory.
// (One thread walking a channel's whole row, as before, gave mamba2-130m's 24 KiB-per-head states to 1,536
// threads on an H100, each loading at a stride of N words: that step's GPU time was 19 µs a dispatch
// against Mamba-1's 11.7.) B and C come already convolved (conv1d_step_pair or the in_proj kernel).
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

const LANES: u32 = 32u; // threads per channel
const CH: u32 = 8u;     // channels per workgroup
var<workgroup> xs: array<f32, 8>;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let H = prm.n2; let P = prm.n3; let N = prm.n4; let G = prm.n5; let K = prm.n6;
  let slot = lid / LANES;
  let lane = lid % LANES;
  let i = wgIndex(wid, nwg) * CH + slot; // = b·H·P + c
  let live = i < prm.n0 * H * P;
  let c = i % (H * P);
  let h = c / P;
  let b = i / (P * H);
  let g = h / (H / G);
  if (live && lane == 0u) {
    if (prm.n8 != 0u) {
      xs[slot] = xIn[i];
    } else { // conv1d_step for channel c of sequence b
      xs[slot] = silu(convStep(c, i * (K - 1u), K, xIn[i], prm.n7 != 0u));
    }
  }
  workgroupBarrier();
  var acc = 0.0;
  var xv = 0.0;
  if (live) { // ssd_step over this lane's entries
    xv = xs[slot];
    let delta = clamp(softplus(dt[b * H + h] + hp[h]), prm.f0, prm.f1);
    let decay = exp(delta * hp[H + h]);
    let dx = delta * xv;
    let go = (b * G + g) * N;
    for (var n = lane; n < N; n += LANES) {
      let s = decay * state[i * N + n] + dx * Bm[go + n];
      state[i * N + n] = s;
      acc += s * Cm[go + n];
    }
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var half = LANES / 2u; half > 0u; half >>= 1u) {
    if (lane < half) { red[lid] += red[lid + half]; }
    workgroupBarrier();
  }
  if (live && lane == 0u) { y[i] = red[lid] + hp[2u * H + h] * xv; }
}
