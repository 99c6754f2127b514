enable subgroups;
// Mamba-1 selective scan, prefill, on subgroups, split over TIME as well as channels (scanMode
// 'subgroup-chain', opt-in): selective_scan_subgroup's tile (include/mamba1_subgroup_tile.wgsl: a subgroup
// per channel, lanes over K = 8 steps each, lane fold + subgroup scan of each state quad, no re-fold), but
// a workgroup takes ONE unit = (time range of U steps, block of WG / S channels, batch row) instead of
// walking all T, and the state entering a unit comes from the unit before it in time through `chain`:
// a chained scan (StreamScan, Yan, Long & Zhang 2013). Why: at mamba-130m's width (I 1536) the one-pass
// kernel has 192 workgroups for an H100's 132 SMs (1.45 waves, ~8 warps an SM: latency-bound and
// unbalanced); here the grid is ⌈T / U⌉ × ⌈I / (WG / SMAX)⌉ × B workgroups (64 × 192 at 16k tokens).
//
// Per state quad q (the chain's latency is one quad's, not one unit's):
//   fold + subgroup scan over the sub-tile (as the one-pass kernel) → the lane's exclusive map (ea, eb)
//   and the sub-tile's whole map (la, lb), both by shuffles BEFORE any wait (so no subgroup operation
//   follows the data-dependent spin) → at the unit's first sub-tile, h_in of quad q: from the state input
//   (time unit 0) or from the predecessor's published words (spinning per quad) → h_end = la·h_in + lb →
//   at the unit's last sub-tile, lane 0 publishes h_end (or, in the last time unit, writes the state
//   output) → y terms with hStart = ea·h_in + eb (the no-re-fold trick).
// A unit is U = span·SMAX·K steps (the host makes span > 1 only where `chain` would not fit one binding);
// inside it the workgroup walks sub-tiles of S·K steps carrying h in registers, as the one-pass kernel.
//
// Publication without acquire/release (WGSL atomics are relaxed): no data-then-flag. Every state value is
// its own atomic<u32> holding its f32 bits, with 0 meaning "not yet": +0.0 is published as −0.0
// (0x80000000), which reads back as the same number. The consumer spins on the 4 words of the quad it
// needs and takes each word once it is non-zero. `chain` is cleared to 0 before every dispatch (the
// host records a clearBuffer in the same command encoder, ordered before the dispatch).
//
// Forward progress: units are numbered by a ticket (atomicAdd on chain[0]) in the order workgroups
// START, not by workgroup_id; unit = ticket, time-major (all channel blocks and batch rows of time unit
// 0, then of 1, ...). A unit of time u waits only on values of time unit u − 1, all of whose units took
// smaller tickets, so they have started; by induction from time unit 0 (which waits on nothing) each of
// them finishes provided a started workgroup keeps being scheduled until it ends — true on every GPU we
// target (NVIDIA / AMD / Intel / Apple keep a resident workgroup resident) and on lavapipe (a workgroup
// runs to completion on the thread that took it). Nothing assumes the order the hardware launches
// workgroup ids in, nor that more than one workgroup runs at a time. Any unit of time u − 1 publishes
// the channel a unit of time u waits on, so this holds even if S differed between workgroups.
//
// Spin bound: a wait that sees no value after prm.n7 polls (a bug, or a driver that starves a started
// workgroup) gives up: it sets chain[1] (the error word) and takes NaN for h_in, so this unit's y and
// everything after it in the chain (its published NaN, the state output) are NaN; spinners poll chain[1]
// every 1024 polls and give up at once when it is set. Never a hang; the caller sees NaN outputs.
//
// The state buffer is read by time unit 0 and written by the last one, in one dispatch: the writer's
// value depends (through the chain) on the reader's, so the write cannot precede the read.
//   x, dt, z, y: [B, T, I]   dtBias, D: [I]   A: [I, N]   Bm, Cm: [B, T, N]   state: [B, I, N]
//   chain: u32 words, [0] the ticket counter, [1] the error word, [2..3] unused, then from word 4 the
//          end state of each time unit but the last: [nU − 1][B][I][4·NS4] (cleared to 0 first)
//   n0 B  n1 T  n2 I  n4 channel blocks of WG / SMAX  n5 U (steps a unit, a multiple of SMAX·K)
//   n6 nU = ⌈T / U⌉  n7 spin bound (polls);  consts NS, SMAX (adapter's largest subgroup), QS
//#include "include/mamba1_scan_inputs.wgsl"
//#include "include/mamba1_scan_gate_inputs.wgsl"
@group(0) @binding(9) var<storage, read_write> state: array<f32>;
@group(0) @binding(10) var<storage, read_write> y: array<f32>;
@group(0) @binding(11) var<storage, read_write> chain: array<atomic<u32>>;

//#include "include/mamba1_subgroup_tile.wgsl"

var<workgroup> unitTicket: u32;

// Publishes v in its own word: 0 means "not yet", so +0.0 goes out as −0.0.
fn publish(at: u32, v: f32) {
  let u = bitcast<u32>(v);
  atomicStore(&chain[at], select(u, 0x80000000u, u == 0u));
}

// The 4 words at `at` once each is published; NaN (and the error word set) after prm.n7 polls without them.
fn waitQuad(at: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  var got = 0u;
  for (var it = 0u; it < prm.n7; it++) {
    for (var r = 0u; r < 4u; r++) {
      if ((got & (1u << r)) == 0u) {
        let u = atomicLoad(&chain[at + r]);
        if (u != 0u) { v[r] = bitcast<f32>(u); got |= 1u << r; }
      }
    }
    if (got == 15u) { return v; }
    if ((it & 1023u) == 1023u && atomicLoad(&chain[1]) != 0u) { break; }
  }
  atomicStore(&chain[1], 1u);
  return vec4<f32>(bitcast<f32>(0x7fc00000u | (prm.n3 * 0u))); // a NaN the compiler cannot fold away
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_size) S: u32,
        @builtin(subgroup_invocation_id) l: u32) {
  let T = prm.n1; let I = prm.n2; let nBlk = prm.n4; let U = prm.n5; let nU = prm.n6;
  let perTime = prm.n0 * nBlk;     // units of one time range
  if (wgIndex(wid, nwg) >= perTime * nU) { return; }
  if (lid == 0u) { unitTicket = atomicAdd(&chain[0], 1u); }
  let unit = workgroupUniformLoad(&unitTicket);
  if (unit >= perTime * nU) { return; } // (only where the counter did not start at 0: the spin bound's test)
  let tu = unit / perTime;         // time unit
  let b = (unit % perTime) / nBlk;
  let CH = WG / S;                 // channels (subgroups) in this workgroup
  let i0 = (unit % nBlk) * CH;
  if (i0 >= I) { return; }         // (S < SMAX: the trailing blocks have no channel; nobody waits on them)
  let g = subgroupChannel(l);
  let i = i0 + g;
  let on = i < I;
  let ic = min(i, I - 1u);
  var a2: array<vec4<f32>, NS4>;
  var h: array<vec4<f32>, NS4>;   // the state entering the sub-tile (the same in every lane)
  for (var q = 0u; q < NS4; q++) {
    for (var r = 0u; r < 4u; r++) {
      let n = 4u * q + r;
      if (n < NS) { a2[q][r] = A[ic * NS + n] * LOG2E; if (tu == 0u) { h[q][r] = state[(b * I + ic) * NS + n]; } }
    }
  }
  let dSkip = D[ic];
  let TT = S * K;
  let run = g * S * KP + l * KP;   // this lane's K steps in xs / ds
  let tBeg = tu * U;
  let tEnd = min(T, tBeg + U);
  let chanWords = 4u * NS4;
  let inAt = 4u + ((tu - 1u) * prm.n0 + b) * I * chanWords + ic * chanWords;  // (tu ≥ 1 only)
  let outAt = 4u + (tu * prm.n0 + b) * I * chanWords + ic * chanWords;         // (tu < nU − 1 only)
  for (var t0 = tBeg; t0 < tEnd; t0 += TT) {
    let nt = min(TT, tEnd - t0);
    let first = t0 == tBeg;
    let last = t0 + TT >= tEnd;
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
          var cpa: array<vec4<f32>, K>;
          let f = foldQuad(l, S, qq, a2[q], &dk, &xk, &yk, &cpa);
          // Every shuffle before the wait: this lane's exclusive map and the sub-tile's whole map.
          var ea = subgroupShuffleUp(f.pa, 1u);
          var eb = subgroupShuffleUp(f.pb, 1u);
          if (l == 0u) { ea = vec4<f32>(1.0); eb = vec4<f32>(0.0); }
          let la = subgroupShuffle(f.pa, S - 1u);
          let lb = subgroupShuffle(f.pb, S - 1u);
          if (first && tu > 0u && on) { h[q] = waitQuad(inAt + 4u * q); }
          let hIn = h[q];
          let hEnd = la * hIn + lb;
          if (last && tu + 1u < nU && on && l == 0u) {
            for (var r = 0u; r < 4u; r++) { publish(outAt + 4u * q + r, hEnd[r]); }
          }
          let hStart = ea * hIn + eb;
          for (var k = 0u; k < K; k++) { yk[k] += dot(cpa[k], hStart); }
          h[q] = hEnd;
        }
      }
    }
    writeY(b, t0, nt, i0, CH, S, lid, run, &yk);
  }
  if (tu + 1u == nU && on && l == 0u) {
    for (var q = 0u; q < NS4; q++) {
      for (var r = 0u; r < 4u; r++) { let n = 4u * q + r; if (n < NS) { state[(b * I + i) * NS + n] = h[q][r]; } }
    }
  }
}
