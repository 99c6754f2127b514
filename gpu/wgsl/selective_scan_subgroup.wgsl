enable subgroups;
// Mamba-1 selective scan, prefill, in ONE pass on subgroups (scanMode 'subgroup', opt-in): state in →
// y and state out, x / dt / z read once, y written once, every exp(Δ·A) taken once. The design of
// mamba_ssm's selective_scan_fwd (on time-major tensors; the CUDA backend's scanWarp in scan.cu is another port):
// - a subgroup per channel, its lanes over time: lane l holds K consecutive steps of a tile of S·K
//   steps (S = @builtin(subgroup_size), read at run time: lavapipe 8, NVIDIA 32; nothing assumes it);
// - per state n, a lane-local fold of the pairs (a, b) = (exp(Δ·A_n), Δ·x·B_n) over its K steps, then an
//   inclusive scan of the lanes' folds with the affine composition (a1, b1)∘(a2, b2) = (a1·a2, a2·b1 + b2)
//   by subgroupShuffleUp log-steps; the state h_n entering the tile is carried from tile to tile
//   (the last lane's end state, subgroupShuffle);
// - no re-fold: after its step k a lane's h is pa_k·h_start + pb_k (its running fold), so
//   C·h = C·pb_k (added at once) + (C·pa_k)·h_start (K vec4s held across the scan);
// - states in quads (vec4 math, 16-byte workgroup loads), the 4 chains of a quad interleaved.
// Staging: the tile's x and Δ = softplus(dt + bias) of the workgroup's channels are loaded in rows
// ([step][channel], coalesced) into workgroup memory, each lane's K steps padded to K + 1 floats
// (stride K + 1 is odd: no bank conflicts when the lanes read their runs); B and C are staged QS state
// quads at a time ([lane][step][quad], a lane's run padded by one vec4); y goes back through the x
// slots and is written in rows, gated by silu(z) read in rows.
// Grid: ⌈I / (WG / SMAX)⌉ × B workgroups of WG = 256 (n4 channel blocks; a workgroup takes WG / S
// channels, so where S < SMAX the trailing blocks find no channel and return). Occupancy at N 16,
// SMAX 32, QS 4 (H100): 8 channels a workgroup, 51 KiB of workgroup memory (18 KiB x / Δ + 33 KiB B / C),
// so at most 4 workgroups (32 warps) an SM by memory; mamba-130m (I 1536, B 1) has 192 workgroups on
// 132 SMs, mamba-1.4b (I 4096) 512. Gu & Dao 2023, Alg. 2; HF MambaMixer.slow_forward:
// Δ = softplus(dt + dt_bias); h_n ← exp(Δ·A_n)·h_n + Δ·x·B_n; y = (Σ_n C_n·h_n + D·x)·silu(z).
//   x, dt, z, y: [B, T, I]   dtBias, D: [I]   A: [I, N]   Bm, Cm: [B, T, N]   state: [B, I, N]
//   n0 B  n1 T  n2 I  n4 channel blocks of WG / SMAX;  consts NS, SMAX (adapter's largest subgroup), QS
//#include "include/mamba1_scan_inputs.wgsl"
//#include "include/mamba1_scan_gate_inputs.wgsl"
@group(0) @binding(9) var<storage, read_write> state: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

//#include "include/mamba1_subgroup_tile.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_size) S: u32,
        @builtin(subgroup_invocation_id) l: u32) {
  let w = wgIndex(wid, nwg);
  let T = prm.n1; let I = prm.n2; let nBlk = prm.n4;
  if (w >= prm.n0 * nBlk) { return; }
  let b = w / nBlk;
  let CH = WG / S;                 // channels (subgroups) in this workgroup
  let i0 = (w % nBlk) * CH;
  if (i0 >= I) { return; }
  let g = subgroupChannel(l);
  let i = i0 + g;
  let ic = min(i, I - 1u);
  var a2: array<vec4<f32>, NS4>;
  var h: array<vec4<f32>, NS4>;   // the state entering the tile (the same in every lane)
  for (var q = 0u; q < NS4; q++) {
    for (var r = 0u; r < 4u; r++) {
      let n = 4u * q + r;
      if (n < NS) { a2[q][r] = A[ic * NS + n] * LOG2E; h[q][r] = state[(b * I + ic) * NS + n]; }
    }
  }
  let dSkip = D[ic];
  let TT = S * K;
  let run = g * S * KP + l * KP;   // this lane's K steps in xs / ds
  for (var t0 = 0u; t0 < T; t0 += TT) {
    let nt = min(TT, T - t0);
    workgroupBarrier();
    stageXD(b, t0, nt, i0, CH, S, lid);
    var xk: array<f32, K>;
    var dk: array<f32, K>;
    var yk: array<f32, K>;
    for (var q0 = 0u; q0 < NS4; q0 += QS) {
      stageQuadGroup(b, t0, nt, TT, q0, lid);
      if (q0 == 0u) { loadLaneRun(run, dSkip, &xk, &dk, &yk); }
      for (var qq = 0u; qq < QS; qq++) {
        let q = q0 + qq;
        if (q < NS4) {
          let aq = a2[q];
          var cpa: array<vec4<f32>, K>;
          let f = foldQuad(l, S, qq, aq, &dk, &xk, &yk, &cpa); // (pa, pb): the tile's entering state → this lane's end state
          let hEnd = f.pa * h[q] + f.pb;
          var hStart = subgroupShuffleUp(hEnd, 1u);
          if (l == 0u) { hStart = h[q]; }
          for (var k = 0u; k < K; k++) { yk[k] += dot(cpa[k], hStart); }
          h[q] = subgroupShuffle(hEnd, S - 1u);
        }
      }
    }
    writeY(b, t0, nt, i0, CH, S, lid, run, &yk);
  }
  if (i < I && l == 0u) {
    for (var q = 0u; q < NS4; q++) {
      for (var r = 0u; r < 4u; r++) { let n = 4u * q + r; if (n < NS) { state[(b * I + i) * NS + n] = h[q][r]; } }
    }
  }
}
