// Mamba-1 selective scan, chunked prefill in ONE dispatch (scanMode 'lookback'): each workgroup
// (64 channels of one chunk) walks its chunk from h = 0 (as selective_scan_chunk_tiled), publishes
// that end state and ΣΔ (the chunk's aggregate), finds the state entering its chunk by a decoupled
// look-back over the chunks before it (Merrill & Garland 2016, "Single-pass Parallel Prefix Scan with
// Decoupled Look-back": read predecessors' aggregates until one has published its inclusive prefix),
// publishes its own inclusive prefix, then walks the chunk again from that state and writes
// y = (C·h + D·x)·silu(z) (as selective_scan_out_tiled). The recurrence (Gu & Dao 2023, Alg. 2)
// h ← exp(Δ·A) ⊙ h + Δ·x·B is linear in h, so the prefix combines as
//   h_in[c] = Σ_{j<c} exp(A·Σ_{j<k<c} ΣΔ_k) · aggregate_j  (+ the initial state through chunk 0).
// Why: the three-pass form (chunk_tiled → carry_batched → out_tiled) reads x and dt twice from
// memory and moves the chunk states four times (~708 MB at [1, 16384, 1536] × N 16 where the scan
// must move 405 MB). Here the chunk's Δ and x stay in workgroup memory between the two walks
// (Δ's softplus is computed once), so x / dt / z are read once and y written once; the extra
// traffic is the aggregates and prefixes (2·N·I floats per chunk, written once, cleared before).
//
// Cross-workgroup hand-off without acquire/release (WGSL atomics are relaxed): every published value
// is its own atomic word holding enc(v) ≠ 0, in a buffer cleared to 0 before the dispatch, and a reader
// uses a record only when every word it needs is non-zero — no value is ever read through a separate flag.
// Forward progress: tiles are numbered in order of starting (an atomic counter), chunk-major, so
// every chunk a workgroup waits on has started; none of them waits on a later one.
//
// A record partly written (words are published one by one, in no guaranteed order) reads as not yet
// there, and the reader tries again.
//   x, dt, z, y: [B, T, I]   biasD: [2, I] (dt bias ++ D)   A: [I, N]   Bm, Cm: [B, T, N]
//   state: [B, I, N] (read by chunk 0, written by the last chunk)
//   agg: u32 words, [0] the tile counter, then from word 64, per (b, chunk) g = b·nC + c:
//        ΣΔ [I] at 64 + g·(2N+1)·I, aggregate [N, I] after it, inclusive prefix [N, I] after that
//   n0 B  n1 T  n2 I  n4 L (chunk ≤ LC)  n5 nC  n6 ⌈I/64⌉
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dt: array<f32>;
@group(0) @binding(3) var<storage, read> biasD: array<f32>;
@group(0) @binding(4) var<storage, read> A: array<f32>;
@group(0) @binding(5) var<storage, read> Bm: array<f32>;
@group(0) @binding(6) var<storage, read> Cm: array<f32>;
@group(0) @binding(7) var<storage, read> z: array<f32>;
@group(0) @binding(8) var<storage, read_write> state: array<f32>;
@group(0) @binding(9) var<storage, read_write> y: array<f32>;
@group(0) @binding(10) var<storage, read_write> agg: array<atomic<u32>>;
//#include "include/scan_stage.wgsl"
var<workgroup> Ds: array<f32, LC * 64u>; // the chunk's Δ, [token][lane]: each lane reads only its own
var<workgroup> Xs: array<f32, LC * 64u>; // the chunk's x
var<workgroup> Bs: array<vec4<f32>, TB * NS4>; // [token][n-quad]
var<workgroup> Cs: array<vec4<f32>, TB * NS4>;
var<workgroup> tileSlot: u32;
const UL: u32 = 32u; // tokens of x / dt loaded at once while filling Xs / Ds (2·UL loads in flight)

// A published f32 as a non-zero word (0 = not yet written): the sign bit flipped; −0 (whose flipped
// bits are 0) is published as +0. NaN and ±Inf are non-zero too, so a reader never spins forever.
fn enc(v: f32) -> u32 { let u = bitcast<u32>(v) ^ 0x80000000u; return select(u, 0x80000000u, u == 0u); }
fn dec(u: u32) -> f32 { return bitcast<f32>(u ^ 0x80000000u); }

/** Stages the B (and, when withC, C) rows of tokens t0 .. t0 + nt of batch b in Bs / Cs. */
fn stage(b: u32, t0: u32, nt: u32, lid: u32, withC: bool) {
  let T = prm.n1;
  for (var k = lid; k < nt * NS4; k += 64u) {
    let at = (b * T + t0 + k / NS4) * NS; let q = k % NS4;
    var bv = vec4<f32>(0.0); var cv = vec4<f32>(0.0);
    for (var r = 0u; r < 4u; r++) {
      if (4u * q + r < NS) { bv[r] = Bm[at + 4u * q + r]; if (withC) { cv[r] = Cm[at + 4u * q + r]; } }
    }
    Bs[k] = bv;
    if (withC) { Cs[k] = cv; }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let T = prm.n1; let I = prm.n2; let L = prm.n4; let nC = prm.n5;
  if (wgIndex(wid, nwg) >= prm.n0 * nC * prm.n6) { return; }
  // the tile in order of starting, not of the hardware's workgroup id (forward progress, above)
  if (lid == 0u) { tileSlot = atomicAdd(&agg[0], 1u); }
  let tile = scanTile(workgroupUniformLoad(&tileSlot));
  let b = tile.x; let c = tile.y; let i = tile.z + lid;
  let on = i < I;
  let ic = min(i, I - 1u);
  let g = b * nC + c;
  let stride = (2u * NS + 1u) * I; // words per (b, chunk) record
  let sdAt = 64u + g * stride;      // ΣΔ [I], then aggregate [N, I], then prefix [N, I]
  var a2: array<vec4<f32>, NS4>;
  for (var q = 0u; q < NS4; q++) {
    for (var r = 0u; r < 4u; r++) { let n = 4u * q + r; if (n < NS) { a2[q][r] = A[ic * NS + n] * LOG2E; } }
  }
  let bias = biasD[ic];
  let dSkip = biasD[I + ic];
  let tc = c * L;
  let nl = min(T, tc + L) - tc; // tokens in this chunk
  // The chunk's Δ = softplus(dt + bias) and x into workgroup memory, UL tokens (2·UL loads) in flight:
  // nothing else is held in registers yet, and the fewer round trips this phase takes, the sooner
  // the workgroup's exponentials start.
  for (var u0 = 0u; u0 < nl; u0 += UL) {
    var xs: array<f32, UL>;
    var ds: array<f32, UL>;
    for (var u = 0u; u < UL; u++) {
      if (u0 + u < nl) { let k = (b * T + tc + u0 + u) * I + ic; xs[u] = x[k]; ds[u] = dt[k]; }
    }
    for (var u = 0u; u < UL; u++) {
      if (u0 + u < nl) { Xs[(u0 + u) * 64u + lid] = xs[u]; Ds[(u0 + u) * 64u + lid] = softplus(ds[u] + bias); }
    }
  }
  // Walk 1: the chunk from h = 0.
  var h: array<vec4<f32>, NS4>;
  var sumDelta = 0.0;
  for (var s0 = 0u; s0 < nl; s0 += TB) {
    let nt = min(TB, nl - s0);
    workgroupBarrier();
    stage(b, tc + s0, nt, lid, false);
    workgroupBarrier();
    for (var u = 0u; u < nt; u++) {
      let delta = Ds[(s0 + u) * 64u + lid];
      let dx = delta * Xs[(s0 + u) * 64u + lid];
      sumDelta += delta;
      let row = u * NS4;
      for (var q = 0u; q < NS4; q++) { h[q] = exp2(delta * a2[q]) * h[q] + dx * Bs[row + q]; }
    }
  }
  var hin: array<vec4<f32>, NS4>;
  if (on) {
    // Publish the aggregate (chunk 0 needs none: it publishes its prefix at once).
    if (c > 0u) {
      for (var q = 0u; q < NS4; q++) {
        for (var r = 0u; r < 4u; r++) { let n = 4u * q + r; if (n < NS) { atomicStore(&agg[sdAt + (1u + n) * I + i], enc(h[q][r])); } }
      }
      atomicStore(&agg[sdAt + i], enc(sumDelta));
    }
    // Look back: S = ΣΔ of the chunks passed so far (their decay applies to everything before them).
    if (c == 0u) {
      for (var q = 0u; q < NS4; q++) {
        for (var r = 0u; r < 4u; r++) { let n = 4u * q + r; if (n < NS) { hin[q][r] = state[(b * I + i) * NS + n]; } }
      }
    } else {
      // One step reads everything it might use at once — the predecessor's prefix and its aggregate,
      // 2N + 1 loads in flight — so a step costs one L2 round trip, not 2N + 2 in series (the
      // look-back keeps up only while a step is shorter than the time between two chunks of the same
      // channels finishing their first walk). A record partly written reads as not ready.
      var S = 0.0;
      var j = c - 1u;
      loop {
        let at = 64u + (b * nC + j) * stride;
        let pre = at + (1u + NS) * I; // prefix [N, I]
        let hasAgg = j > 0u; // chunk 0 publishes no aggregate: only its prefix ends a look-back that reaches it
        let sw = atomicLoad(&agg[at + i]);
        var pv: array<vec4<f32>, NS4>;
        var av: array<vec4<f32>, NS4>;
        var pOk = true;
        var aOk = hasAgg & (sw != 0u);
        for (var q = 0u; q < NS4; q++) {
          for (var r = 0u; r < 4u; r++) {
            let n = 4u * q + r;
            if (n < NS) {
              let pu = atomicLoad(&agg[pre + n * I + i]);
              var au = 1u;
              if (hasAgg) { au = atomicLoad(&agg[at + (1u + n) * I + i]); }
              pOk = pOk & (pu != 0u); aOk = aOk & (au != 0u);
              pv[q][r] = dec(pu); av[q][r] = dec(au);
            }
          }
        }
        if (pOk) {
          for (var q = 0u; q < NS4; q++) { hin[q] += exp2(S * a2[q]) * pv[q]; }
          break;
        }
        if (aOk) {
          for (var q = 0u; q < NS4; q++) { hin[q] += exp2(S * a2[q]) * av[q]; }
          S += dec(sw);
          j -= 1u;
        }
      }
    }
    // Publish the inclusive prefix (the state leaving this chunk); the last chunk's is the new state.
    for (var q = 0u; q < NS4; q++) {
      let p = exp2(sumDelta * a2[q]) * hin[q] + h[q];
      for (var r = 0u; r < 4u; r++) {
        let n = 4u * q + r;
        if (n < NS) {
          if (c + 1u < nC) { atomicStore(&agg[sdAt + (1u + NS + n) * I + i], enc(p[r])); }
          else { state[(b * I + i) * NS + n] = p[r]; }
        }
      }
    }
  }
  // Walk 2: the chunk again from the state entering it, emitting y. z is loaded one group of U tokens
  // ahead of its use (the group after the one computed), so its latency hides behind a group's work.
  h = hin;
  var zn: array<f32, U>;
  for (var u = 0u; u < U; u++) { if (u < nl) { zn[u] = z[(b * T + tc + u) * I + ic]; } }
  for (var s0 = 0u; s0 < nl; s0 += TB) {
    let nt = min(TB, nl - s0);
    workgroupBarrier();
    stage(b, tc + s0, nt, lid, true);
    workgroupBarrier();
    for (var u0 = 0u; u0 < nt; u0 += U) {
      let zs = zn;
      for (var u = 0u; u < U; u++) { let tn = s0 + u0 + U + u; if (tn < nl) { zn[u] = z[(b * T + tc + tn) * I + ic]; } }
      for (var u = 0u; u < U; u++) {
        if (u0 + u < nt) {
          let t = s0 + u0 + u;
          let delta = Ds[t * 64u + lid];
          let xv = Xs[t * 64u + lid];
          let dx = delta * xv;
          let row = (u0 + u) * NS4;
          var acc = vec4<f32>(0.0); // four partial sums: C·h is not one chain of NS dependent adds
          for (var q = 0u; q < NS4; q++) {
            h[q] = exp2(delta * a2[q]) * h[q] + dx * Bs[row + q];
            acc += h[q] * Cs[row + q];
          }
          let ch = (acc.x + acc.y) + (acc.z + acc.w);
          if (on) { y[(b * T + tc + t) * I + i] = (ch + dSkip * xv) * silu(zs[u]); }
        }
      }
    }
  }
}
