// Mamba-1 decode, x_proj with the causal conv folded in: u = silu(conv1d_step(x_in)) is computed on the
// fly from the conv window (state ++ x_in) while streaming x_proj's rows, so the conv costs no
// dispatch of its own (transformers MambaMixer.slow_forward: conv1d → act → x_proj). The window is
// only read here; mamba1_scan_step shifts it afterwards. Workgroup 0 also stores u for the scan.
// One workgroup per output row; rows [0, M0) are x_proj's dt block, then B, then C (as matvec_multi).
//   x_in, u: [B, I]   convW: [I, K]   convBias: [I]   convState: [B, I, K−1]
//   W0: [M0, I]  W1: [M1, I]  W2: [M2, I] (f32)   out: [B, M0+M1+M2] = dt_low ++ B ++ C per row
//   n0 B (≤ 8)  n1 I  n2 M0  n3 M1  n4 M2  n5 K  n6 hasConvBias
@group(0) @binding(1) var<storage, read> xIn: array<f32>;
@group(0) @binding(2) var<storage, read> convW: array<f32>;
@group(0) @binding(3) var<storage, read> convBias: array<f32>;
@group(0) @binding(4) var<storage, read> convState: array<f32>;
@group(0) @binding(5) var<storage, read> w0: array<f32>;
@group(0) @binding(6) var<storage, read> w1: array<f32>;
@group(0) @binding(7) var<storage, read> w2: array<f32>;
@group(0) @binding(8) var<storage, read_write> dbc: array<f32>;
@group(0) @binding(9) var<storage, read_write> u: array<f32>;

const WG: u32 = 64u;
var<workgroup> red: array<f32, 512>;

fn wload(seg: u32, i: u32) -> f32 {
  if (seg == 0u) { return w0[i]; }
  if (seg == 1u) { return w1[i]; }
  return w2[i];
}

// silu(bias[c] + Σ_k W[c, k] · (state ++ x)[k]) for channel c of batch row r (conv1d_step.wgsl's sum).
fn convOut(r: u32, c: u32, I: u32, K: u32) -> f32 {
  let hist = K - 1u;
  let base = (r * I + c) * hist;
  var acc = 0.0;
  if (prm.n6 != 0u) { acc = convBias[c]; }
  for (var k = 0u; k < hist; k++) { acc += convW[c * K + k] * convState[base + k]; }
  acc += convW[c * K + hist] * xIn[r * I + c];
  return silu(acc);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let M0 = prm.n2; let M1 = prm.n3; let M2 = prm.n4;
  let row = wgIndex(wid, nwg);
  if (row >= M0 + M1 + M2) { return; }
  var m = row;
  var seg = 0u;
  if (m >= M0) {
    m -= M0; seg = 1u;
    if (m >= M1) { m -= M1; seg = 2u; }
  }
  let rows = prm.n0;
  let I = prm.n1;
  let K = prm.n5;
  var acc: array<f32, 8>;
  for (var c = lid; c < I; c += WG) {
    let wv = wload(seg, m * I + c);
    for (var r = 0u; r < 8u; r++) {
      if (r < rows) {
        let uv = convOut(r, c, I, K);
        if (row == 0u) { u[r * I + c] = uv; }
        acc[r] += wv * uv;
      }
    }
  }
  for (var r = 0u; r < 8u; r++) { red[r * WG + lid] = acc[r]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      for (var r = 0u; r < 8u; r++) {
        if (r < rows) { red[r * WG + lid] += red[r * WG + lid + s]; }
      }
    }
    workgroupBarrier();
  }
  if (lid < rows) { dbc[lid * (M0 + M1 + M2) + row] = red[lid * WG]; }
}
