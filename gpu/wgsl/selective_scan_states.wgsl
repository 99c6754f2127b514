// Mamba-1 selective scan (prefill, N ≤ 16) in ONE pass over T with a lane per state entry
// (WebGpuBackend.scanMode 'states'): Δ = softplus(dt + bias); h_n ← exp(Δ·A_n)·h_n + Δ·x·B_n;
// y = (Σ_n C_n·h_n + D·x)·silu(z); the final h → state (Gu & Dao 2023 Alg. 2; HF MambaMixer.slow_forward).
// Each exp(Δ·A) is taken once (the chunked passes take it twice), and there is no scratch.
//
// A workgroup is 128 invocations = CH (8) channels × 16 lanes of one batch row; lane n of channel c owns
// h_n (lanes n ≥ NS carry A = B = C = 0 and stay 0). The walk goes over tiles of S steps staged in
// workgroup memory, channel-major and transposed so a lane reads 4 steps per 16-byte load:
//   DS[c][t] = Δ, DXS[c][t] = Δ·x, GS[c][t] = silu(z), DXG[c][t] = D·x·silu(z)   (rows of SP floats)
//   BT[n][t] = B_t[n], CT[n][t] = C_t[n]
// (steps past T: Δ = Δ·x = 0, so exp2(0) = 1 leaves h unchanged). The NEXT tile is loaded into
// registers while the current one is walked (WGSL has no async copy) and written to workgroup memory
// after it. Per sub-tile of 16 steps each lane keeps its 16 products C_n·h_n, writes them to P[c][u][n],
// and lane u of channel c sums row u: y_u = Σ·silu(z_u) + D·x_u·silu(z_u), written over DXG[c][u] and
// copied to y as whole rows (8 channels) once the tile is done.
// Workgroup memory: (4·8 + 2·16)·(S + 4) + 8·336 floats = 19,968 bytes at S = 32 (SCAN_STATES_WG_BYTES in
// src/backends/webgpu/index.ts; the backend runs the chunked kernels where the device allows less).
//   x, dt, z, y: [B, T, I]   dtBias, D: [I]   A: [I, N]   Bm, Cm: [B, T, N]   state: [B, I, N] (in/out)
//   n0 B  n1 T  n2 I  n3 ⌈I/8⌉   grid B·⌈I/8⌉ (2-D tiled: wgIndex)
//#include "include/mamba1_scan_inputs.wgsl"
//#include "include/mamba1_scan_gate_inputs.wgsl"
@group(0) @binding(9) var<storage, read_write> state: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;

const CH: u32 = 8u;          // channels a workgroup
const S: u32 = 32u;          // steps a staged tile (a multiple of 16; 32 measured faster than 64 and 16 on the H100)
const SP4: u32 = S / 4u + 1u; // a staged row, in vec4s (S + 4 floats: 16-byte aligned, rows 4 banks apart)
const PC4: u32 = 84u;        // P's channel stride in vec4s (336 floats ≡ 16 mod 32: a warp's two channels' stores miss each other)
const PU4: u32 = 5u;         // P's step stride in vec4s (20 floats: 8 consecutive rows' 16-byte reads hit distinct banks)
const LOG2E: f32 = 1.4426950408889634;
const CPT: u32 = S * CH / 128u;        // channel values (each of x, dt, z) an invocation stages a tile
const BPT: u32 = (S * 16u) / 128u;     // B (and C) values an invocation stages a tile (at most; S·NS of them)

var<workgroup> DS: array<vec4<f32>, CH * SP4>;
var<workgroup> DXS: array<vec4<f32>, CH * SP4>;
var<workgroup> GS: array<vec4<f32>, CH * SP4>;
var<workgroup> DXG: array<vec4<f32>, CH * SP4>;   // D·x·silu(z), then y (the sub-tile's reduction writes it over)
var<workgroup> BT: array<vec4<f32>, 16u * SP4>;
var<workgroup> CT: array<vec4<f32>, 16u * SP4>;
var<workgroup> P: array<vec4<f32>, CH * PC4>;

// Four steps of one state entry: h ← exp2(Δ·A·log2 e)·h + Δx·B, and C·h after each.
fn step4(h: ptr<function, f32>, d: vec4<f32>, dx: vec4<f32>, bb: vec4<f32>, cc: vec4<f32>, a2: f32) -> vec4<f32> {
  let a = exp2(d * a2);
  let g = dx * bb;
  var hv = *h;
  var p: vec4<f32>;
  hv = a.x * hv + g.x; p.x = cc.x * hv;
  hv = a.y * hv + g.y; p.y = cc.y * hv;
  hv = a.z * hv + g.z; p.z = cc.z * hv;
  hv = a.w * hv + g.w; p.w = cc.w * hv;
  *h = hv;
  return p;
}

// Lane n's products of 4 consecutive steps into P[c][u..u+3][n] (at vec4 `at`, component n % 4).
fn putP(at: u32, r: u32, p: vec4<f32>) {
  P[at][r] = p.x;
  P[at + PU4][r] = p.y;
  P[at + 2u * PU4][r] = p.z;
  P[at + 3u * PU4][r] = p.w;
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = wgIndex(wid, nwg);
  let T = prm.n1; let I = prm.n2; let nBlk = prm.n3;
  if (w >= prm.n0 * nBlk) { return; }
  let b = w / nBlk;
  let i0 = (w % nBlk) * CH;
  // the walk's lane: channel c, state entry n
  let c = lid / 16u; let n = lid % 16u;
  let i = i0 + c;
  let ic = min(i, I - 1u);
  let live = i < I && n < NS;
  var a2 = 0.0;
  var h = 0.0;
  if (live) { a2 = A[ic * NS + n] * LOG2E; h = state[(b * I + ic) * NS + n]; }
  // the staging lane: channel sc of steps sl + 16j (x, dt, z), and B / C values lid + 128j of the tile
  let sc = lid % CH; let sl = lid / CH;
  let si = i0 + sc;
  let sOn = si < I;
  let sic = min(si, I - 1u);
  let bias = dtBias[sic];
  let dSkip = D[sic];
  // rows n ≥ NS of BT / CT stay 0 (nothing else writes them)
  for (var k = NS * SP4 + lid; k < 16u * SP4; k += 128u) { BT[k] = vec4<f32>(0.0); CT[k] = vec4<f32>(0.0); }

  var xr: array<f32, CPT>;
  var dr: array<f32, CPT>;
  var zr: array<f32, CPT>;
  var br: array<f32, BPT>;
  var cr: array<f32, BPT>;
  let nT = (T + S - 1u) / S;

  // ---- prefetch tile 0 and stage it
  for (var j = 0u; j < CPT; j++) {
    let t = sl + 16u * j;
    xr[j] = 0.0; dr[j] = 0.0; zr[j] = 0.0;
    if (sOn && t < T) { let at = (b * T + t) * I + si; xr[j] = x[at]; dr[j] = dt[at]; zr[j] = z[at]; }
  }
  for (var j = 0u; j < BPT; j++) {
    let k = lid + 128u * j;
    br[j] = 0.0; cr[j] = 0.0;
    if (k < S * NS && k / NS < T) { let at = b * T * NS + k; br[j] = Bm[at]; cr[j] = Cm[at]; }
  }

  for (var tile = 0u; tile < nT; tile++) {
    let t0 = tile * S;
    // ---- stage tile `tile` (held in registers) in workgroup memory; tile > 0: first copy out the
    // previous tile's y, which this invocation's own DXG elements hold (the same (c, t) it stages)
    for (var j = 0u; j < CPT; j++) {
      let t = sl + 16u * j;
      let q = sc * SP4 + t / 4u; let r = t % 4u;
      if (tile > 0u && sOn) { y[(b * T + t0 - S + t) * I + si] = DXG[q][r]; }
      var d = 0.0;
      if (sOn && t0 + t < T) { d = softplus(dr[j] + bias); }
      let g = silu(zr[j]);
      DS[q][r] = d;
      DXS[q][r] = d * xr[j];
      GS[q][r] = g;
      DXG[q][r] = dSkip * xr[j] * g;
    }
    for (var j = 0u; j < BPT; j++) {
      let k = lid + 128u * j;
      if (k < S * NS) {
        let t = k / NS; let q = (k % NS) * SP4 + t / 4u; let r = t % 4u;
        BT[q][r] = br[j]; CT[q][r] = cr[j];
      }
    }
    workgroupBarrier();
    // ---- load the next tile into registers; the loads are in flight while this one is walked
    let t1 = t0 + S;
    if (tile + 1u < nT) {
      for (var j = 0u; j < CPT; j++) {
        let t = t1 + sl + 16u * j;
        xr[j] = 0.0; dr[j] = 0.0; zr[j] = 0.0;
        if (sOn && t < T) { let at = (b * T + t) * I + si; xr[j] = x[at]; dr[j] = dt[at]; zr[j] = z[at]; }
      }
      for (var j = 0u; j < BPT; j++) {
        let k = lid + 128u * j;
        br[j] = 0.0; cr[j] = 0.0;
        if (k < S * NS && t1 + k / NS < T) { let at = (b * T + t1) * NS + k; br[j] = Bm[at]; cr[j] = Cm[at]; }
      }
    }
    // ---- walk the tile, 16 steps at a time (sub-tiles past T skipped; steps past T inside one keep h)
    let nSub = (min(S, T - t0) + 15u) / 16u;
    for (var s = 0u; s < nSub; s++) {
      let dq = c * SP4 + 4u * s;
      let bq = n * SP4 + 4u * s;
      let p0 = step4(&h, DS[dq], DXS[dq], BT[bq], CT[bq], a2);
      let p1 = step4(&h, DS[dq + 1u], DXS[dq + 1u], BT[bq + 1u], CT[bq + 1u], a2);
      let p2 = step4(&h, DS[dq + 2u], DXS[dq + 2u], BT[bq + 2u], CT[bq + 2u], a2);
      let p3 = step4(&h, DS[dq + 3u], DXS[dq + 3u], BT[bq + 3u], CT[bq + 3u], a2);
      let pq = c * PC4 + n / 4u; let pr = n % 4u;
      putP(pq, pr, p0);
      putP(pq + 4u * PU4, pr, p1);
      putP(pq + 8u * PU4, pr, p2);
      putP(pq + 12u * PU4, pr, p3);
      workgroupBarrier();
      // lane n of channel c now reduces step u = n of the sub-tile: Σ over the 16 state entries
      let row = c * PC4 + n * PU4;
      let v = (P[row] + P[row + 1u]) + (P[row + 2u] + P[row + 3u]);
      let u = 16u * s + n;
      let yq = c * SP4 + u / 4u; let yr = u % 4u;
      DXG[yq][yr] = ((v.x + v.y) + (v.z + v.w)) * GS[yq][yr] + DXG[yq][yr];
      workgroupBarrier(); // P is rewritten by the next sub-tile; the last one's also ends the tile's reads
    }
  }
  // ---- the last tile's y, and the final state
  let tl = (nT - 1u) * S;
  for (var j = 0u; j < CPT; j++) {
    let t = sl + 16u * j;
    if (sOn && tl + t < T) { y[(b * T + tl + t) * I + si] = DXG[sc * SP4 + t / 4u][t % 4u]; }
  }
  if (live) { state[(b * I + i) * NS + n] = h; }
}
