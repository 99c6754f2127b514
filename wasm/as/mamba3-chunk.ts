// Mamba-3's SSM in the chunked form, for prefill (state-spaces/mamba tests/ops/triton/test_mamba3_siso.py
// `mamba3_siso_fwd_ref`, tests/ops/tilelang/test_mamba3_mimo.py `mamba3_MIMO_chunk_ref`; the reference
// backend's `mamba3Chunked`, src/backends/reference/mamba3.ts, says it in f64). Decode stays on the step
// kernel (mamba3.ts). Same inputs, outputs, states and 21-pointer table as `mamba3Scan` (mamba3.ts's header).
//
// Per head, per block of `L` tokens, with rows j = (t + 1)·R + r (token t of the block, rank r), q_j, k_j
// the rotated biased C, B, v_j = x_t ⊙ mimo_x[r], cs_t = Σ_{u≤t} A_uΔ_u within the block, γ_t = λ_tΔ_t and
// the shifted γ sg_t = Δ_{t+1}(1 − λ_{t+1}) (0 for the block's last token: that β term reaches the next
// block through k̃, ṽ). Rows 0..R−1 hold the previous token (k̃_r, ṽ_r ⊙ mimo_x[r]) as a token −1 with
// cs = 0 and weight Δ_0(1 − λ_0), its β term due at the block's first token, so it needs no pass of its own:
//   M[j, i] = (q_j·k_i)·(s < t ? w_s·exp(cs_t − cs_s) : γ_t)   for row i of token s ≤ t, w_s = γ_s + sg_s
//   y_j = Σ_i M[j, i]·v_i + exp(cs_t)·(h·q_j) + D·v_j              (y_r of token t, before the gate)
//   h   ← exp(cs_L)·h + Σ_i exp(cs_L − cs_s)·w_s·v_i ⊗ k_i
// then per token the output norm / silu(z ⊙ mimo_z) gate / Σ_r mimo_o, and k̃ ← k_L, ṽ ← x_L. This is
// Mamba-2's SSD block (ssd.ts) with B → k, C → q, x → v, Δ_s → w_s, the diagonal γ_t, R rows per token
// and the extra token −1: chunk-local matrix products in SIMD128 plus one pass over the state per
// block, where the step kernel streams the whole [P, N] state once per token.
//
// Range over units b·H + h, as mamba3.ts. Per-thread scratch (the backend picks L so it fits; f32, rows
// padded to N4 = ⌈N/4⌉·4 / P4 with zeros, LR4 = ⌈(L + 1)·R/4⌉·4 rows):
//   Q, K [LR4, N4]   V [LR4, P4]   Y [LR4, P4]   M [LR4, LR4]
//   per row [LR4]: cs hi, cs lo, w, exp(cs_L − cs)·w, exp(cs), token index t, 1/rms(y_j)
//   per token [L4]: Δ, λ, γ   then cos θ, sin θ [S4]
// i.e. 4·(LR4·(2·N4 + 2·P4 + LR4 + 7) + 3·L4 + 2·S4) bytes (src/backends/wasm/index.ts computes the same).
import { loadN, storeN, hsum, hsum4, expDecayV, expDecayS, softpluss, siluv, exps } from './simd';
import { ptrAt, f, setf, biasRotate, advanceAngles } from './mamba3';
import { chunkStateUpdate, rowAccumulate } from './chunk';

/** q·k0 .. q·k3 over n < N4 (rows zero-padded to whole vectors), as one vector; each lane reduced in hsum's order. */
@inline function dot4p(q: usize, k0: usize, rowBytes: usize, N4: i32): v128 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  for (let n = 0; n < N4; n += 4) {
    const o = <usize>n << 2;
    const a = v128.load(q + o);
    s0 = f32x4.add(s0, f32x4.mul(a, v128.load(k0 + o)));
    s1 = f32x4.add(s1, f32x4.mul(a, v128.load(k0 + rowBytes + o)));
    s2 = f32x4.add(s2, f32x4.mul(a, v128.load(k0 + 2 * rowBytes + o)));
    s3 = f32x4.add(s3, f32x4.mul(a, v128.load(k0 + 3 * rowBytes + o)));
  }
  return hsum4(s0, s1, s2, s3);
}

/** q (padded row) · h (state row of N, not padded). */
@inline function dotQH(q: usize, hRow: usize, N: i32): f32 {
  let s = f32x4.splat(0);
  for (let n = 0; n < N; n += 4) {
    const o = <usize>n << 2;
    s = f32x4.add(s, f32x4.mul(v128.load(q + o), loadN(hRow + o, min(4, N - n))));
  }
  return hsum(s);
}

/** q (padded row) against four state rows p..p+3 (row stride N floats), as one vector. */
@inline function dotQH4(q: usize, h0: usize, hBytes: usize, N: i32): v128 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  for (let n = 0; n < N; n += 4) {
    const o = <usize>n << 2;
    const k = min(4, N - n);
    const a = v128.load(q + o);
    s0 = f32x4.add(s0, f32x4.mul(a, loadN(h0 + o, k)));
    s1 = f32x4.add(s1, f32x4.mul(a, loadN(h0 + hBytes + o, k)));
    s2 = f32x4.add(s2, f32x4.mul(a, loadN(h0 + 2 * hBytes + o, k)));
    s3 = f32x4.add(s3, f32x4.mul(a, loadN(h0 + 3 * hBytes + o, k)));
  }
  return hsum4(s0, s1, s2, s3);
}

/**
 * Y[j, p] = eA_j·(q_j·h_p) + D·v_j[p] for rows j < rows, all p < P (h_p = state row p, before the
 * block's update): tiles of 2 rows × 4 state rows, each (j, p) reduced as dotQH4 would.
 */
function carryOut(
  Qs: usize, qRow: usize, Vs: usize, Ys: usize, vRow: usize, eAS: usize, hBase: usize,
  rows: i32, P: i32, N: i32, dSkip: f32,
): void {
  const hBytes = <usize>N << 2;
  const dv = f32x4.splat(dSkip);
  let j = 0;
  for (; j + 2 <= rows; j += 2) {
    const q0 = Qs + <usize>j * qRow, q1 = q0 + qRow;
    const v0 = Vs + <usize>j * vRow, v1 = v0 + vRow;
    const y0 = Ys + <usize>j * vRow, y1 = y0 + vRow;
    const e0 = v128.load32_splat(eAS + (<usize>j << 2));
    const e1 = v128.load32_splat(eAS + (<usize>j << 2), 4);
    let p = 0;
    for (; p + 4 <= P; p += 4) {
      const hq = hBase + <usize>p * hBytes;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
      for (let n = 0; n < N; n += 4) {
        const o = <usize>n << 2;
        const k = min(4, N - n);
        const a0 = v128.load(q0 + o), a1 = v128.load(q1 + o);
        const b0 = loadN(hq + o, k), b1 = loadN(hq + hBytes + o, k);
        s00 = f32x4.add(s00, f32x4.mul(a0, b0));
        s10 = f32x4.add(s10, f32x4.mul(a1, b0));
        s01 = f32x4.add(s01, f32x4.mul(a0, b1));
        s11 = f32x4.add(s11, f32x4.mul(a1, b1));
        const b2 = loadN(hq + 2 * hBytes + o, k), b3 = loadN(hq + 3 * hBytes + o, k);
        s02 = f32x4.add(s02, f32x4.mul(a0, b2));
        s12 = f32x4.add(s12, f32x4.mul(a1, b2));
        s03 = f32x4.add(s03, f32x4.mul(a0, b3));
        s13 = f32x4.add(s13, f32x4.mul(a1, b3));
      }
      const o = <usize>p << 2;
      v128.store(y0 + o, f32x4.add(f32x4.mul(e0, hsum4(s00, s01, s02, s03)), f32x4.mul(dv, v128.load(v0 + o))));
      v128.store(y1 + o, f32x4.add(f32x4.mul(e1, hsum4(s10, s11, s12, s13)), f32x4.mul(dv, v128.load(v1 + o))));
    }
    for (; p < P; p++) {
      const o = <usize>p << 2;
      const hq = hBase + <usize>p * hBytes;
      store<f32>(y0 + o, f32x4.extract_lane(e0, 0) * dotQH(q0, hq, N) + dSkip * load<f32>(v0 + o));
      store<f32>(y1 + o, f32x4.extract_lane(e1, 0) * dotQH(q1, hq, N) + dSkip * load<f32>(v1 + o));
    }
  }
  for (; j < rows; j++) {
    const q0 = Qs + <usize>j * qRow;
    const v0 = Vs + <usize>j * vRow;
    const y0 = Ys + <usize>j * vRow;
    const e0 = v128.load32_splat(eAS + (<usize>j << 2));
    let p = 0;
    for (; p + 4 <= P; p += 4) {
      const o = <usize>p << 2;
      const c4 = dotQH4(q0, hBase + <usize>p * hBytes, hBytes, N);
      v128.store(y0 + o, f32x4.add(f32x4.mul(e0, c4), f32x4.mul(dv, v128.load(v0 + o))));
    }
    for (; p < P; p++) {
      const o = <usize>p << 2;
      store<f32>(y0 + o, f32x4.extract_lane(e0, 0) * dotQH(q0, hBase + <usize>p * hBytes, N) + dSkip * load<f32>(v0 + o));
    }
  }
}

/** v = x ⊙ mimo_x (mx = 0: v = x) into a zero-padded row. */
@inline function vRowOf(out: usize, xRow: usize, mx: usize, P: i32): void {
  if (mx) {
    for (let p = 0; p < P; p += 4) {
      const o = <usize>p << 2;
      const k = min(4, P - p);
      storeN(out + o, f32x4.mul(loadN(xRow + o, k), loadN(mx + o, k)), k);
    }
  } else {
    memory.copy(out, xRow, <usize>P << 2);
  }
}

/** Y[j, :] += Σ_{i < (⌊j/R⌋ + 1)·R} M[j, i]·V[i, :] for rows j ∈ [j0, j1) (chunk.ts rowAccumulate; rows padded to P4). */
function intraOut(Ms: usize, mRow: usize, Vs: usize, Ys: usize, vRow: usize, j0: i32, j1: i32, R: i32, P4: i32): void {
  for (let j = j0; j < j1; j++) {
    rowAccumulate(Ys + <usize>j * vRow, Ms + <usize>j * mRow, Vs, vRow, (j / R + 1) * R, P4);
  }
}

export function mamba3ChunkScan(
  tab: usize, Bt: i32, T: i32, H: i32, P: i32, N: i32, G: i32, R: i32, S: i32, halves: i32,
  aFloor: f32, normEps: f32, L: i32, scratch: usize, u0: i32, u1: i32,
): void {
  const x = ptrAt(tab, 0), z = ptrAt(tab, 1), Bm = ptrAt(tab, 2), Cm = ptrAt(tab, 3);
  const ddDt = ptrAt(tab, 4), ddA = ptrAt(tab, 5), trap = ptrAt(tab, 6), angles = ptrAt(tab, 7);
  const dtBias = ptrAt(tab, 8), BBias = ptrAt(tab, 9), CBias = ptrAt(tab, 10), Dp = ptrAt(tab, 11);
  const mimoX = ptrAt(tab, 12), mimoZ = ptrAt(tab, 13), mimoO = ptrAt(tab, 14), normW = ptrAt(tab, 15);
  const angleState = ptrAt(tab, 16), ssm = ptrAt(tab, 17), kState = ptrAt(tab, 18), vState = ptrAt(tab, 19);
  const y = ptrAt(tab, 20);

  const N4 = (N + 3) & ~3, P4 = (P + 3) & ~3;
  const LR4 = ((L + 1) * R + 3) & ~3, L4 = (L + 3) & ~3;
  const qRow = <usize>N4 << 2, vRow = <usize>P4 << 2, mRow = <usize>LR4 << 2;
  const Qs = scratch;
  const Ks = Qs + <usize>LR4 * qRow;
  const Vs = Ks + <usize>LR4 * qRow;
  const Ys = Vs + <usize>LR4 * vRow;
  const Ms = Ys + <usize>LR4 * vRow;
  const hiS = Ms + <usize>LR4 * mRow;
  const loS = hiS + mRow;
  const wS = loS + mRow;
  const wLS = wS + mRow;
  const eAS = wLS + mRow;
  const tkS = eAS + mRow;
  const invS = tkS + mRow;
  const dtS = invS + mRow;
  const lamS = dtS + (<usize>L4 << 2);
  const gmS = lamS + (<usize>L4 << 2);
  const cosS = gmS + (<usize>L4 << 2);
  const sinS = cosS + (<usize>((S + 3) & ~3) << 2);

  // Padding lanes of Q, K, V rows stay zero (nothing below writes them); rows past a short block keep
  // finite values, and every lane past the causal limit is masked. Row j belongs to token ⌊j/R⌋ − 1.
  memory.fill(Qs, 0, <usize>LR4 * (2 * qRow + vRow));
  for (let j = 0; j < LR4; j++) setf(tkS, j, <f32>(j / R - 1));
  for (let r = 0; r < R; r++) {
    setf(hiS, r, 0);
    setf(loS, r, 0);
  }

  const hpg = H / G;
  const hBytes = <usize>N << 2;
  const ktStride = <usize>(H * N) << 2;
  for (let idx = u0; idx < u1; idx++) {
    const b = idx / H;
    const h = idx - b * H;
    const g = h / hpg;
    const angleRow = angleState + (<usize>(idx * S) << 2);
    const hBase = ssm + <usize>idx * <usize>P * hBytes;
    const vPrev = vState + (<usize>(idx * P) << 2);
    const kt0 = kState + (<usize>((b * R * H + h) * N) << 2);
    const dSkip = f(Dp, h);
    for (let c0 = 0; c0 < T; c0 += L) {
      const len = min(L, T - c0);
      const rows = (len + 1) * R; // the previous token's R rows, then the block's

      // Token −1: k̃_r and ṽ ⊙ mimo_x[r].
      for (let r = 0; r < R; r++) {
        memory.copy(Ks + <usize>r * qRow, kt0 + <usize>r * ktStride, hBytes);
        vRowOf(Vs + <usize>r * vRow, vPrev, mimoX ? mimoX + (<usize>((h * R + r) * P) << 2) : 0, P);
      }
      // Per token: Δ, λ, the cumulative A·Δ (f64, kept as hi + lo so cs_t − cs_s stays accurate),
      // θ and cos/sin exactly as the step kernel turns them, q, k (rotated, biased) and v rows.
      let cum: f64 = 0;
      for (let t = 0; t < len; t++) {
        const row = b * T + c0 + t;
        const ti = row * H + h;
        const dt = softpluss(f(ddDt, ti) + f(dtBias, h));
        const A = min(-softpluss(f(ddA, ti)), -aFloor);
        const lam: f32 = 1 / (1 + exps(-f(trap, ti)));
        setf(dtS, t, dt);
        setf(lamS, t, lam);
        cum += <f64>dt * <f64>A;
        const hi = <f32>cum;
        const lo = <f32>(cum - <f64>hi);
        const eA = expDecayS(hi);
        advanceAngles(angleRow, angles + (<usize>(row * S) << 2), S, dt, cosS, sinS);
        const xRow = x + (<usize>(ti * P) << 2);
        for (let r = 0; r < R; r++) {
          const j = (t + 1) * R + r;
          setf(hiS, j, hi);
          setf(loS, j, lo);
          setf(eAS, j, eA);
          const src = <usize>(((row * R + r) * G + g) * N) << 2;
          const bo = <usize>((h * R + r) * N) << 2;
          biasRotate(Qs + <usize>j * qRow, Cm + src, CBias + bo, N, S, halves, cosS, sinS);
          biasRotate(Ks + <usize>j * qRow, Bm + src, BBias + bo, N, S, halves, cosS, sinS);
          vRowOf(Vs + <usize>j * vRow, xRow, mimoX ? mimoX + (<usize>((h * R + r) * P) << 2) : 0, P);
        }
      }
      // γ_t, w_t = γ_t + sg_t, and the weights of the state pass exp(cs_L − cs_t)·w_t; token −1's w is Δ_0(1 − λ_0).
      const total = cum;
      const wPrev = f(dtS, 0) * (<f32>1 - f(lamS, 0));
      const eT = expDecayS(<f32>total);
      for (let r = 0; r < R; r++) {
        setf(wS, r, wPrev);
        setf(wLS, r, eT * wPrev);
      }
      for (let t = 0; t < len; t++) {
        const gm = f(dtS, t) * f(lamS, t);
        const sg: f32 = t + 1 < len ? f(dtS, t + 1) * (<f32>1 - f(lamS, t + 1)) : 0;
        const w = gm + sg;
        setf(gmS, t, gm);
        const j0 = (t + 1) * R;
        const cs = <f64>f(hiS, j0) + <f64>f(loS, j0);
        const wl = expDecayS(<f32>(total - cs)) * w;
        for (let r = 0; r < R; r++) {
          setf(wS, j0 + r, w);
          setf(wLS, j0 + r, wl);
        }
      }

      // M[j, i] = (q_j·k_i)·coefficient, for the rows i of tokens s ≤ t_j (four at a time; lanes past
      // the causal limit are masked to 0 and never read).
      for (let t = 0; t < len; t++) {
        const j0 = (t + 1) * R;
        const tv = f32x4.splat(<f32>t);
        const hiT = v128.load32_splat(hiS + (<usize>j0 << 2));
        const loT = v128.load32_splat(loS + (<usize>j0 << 2));
        const gT = v128.load32_splat(gmS + (<usize>t << 2));
        const iEnd = j0 + R;
        for (let i = 0; i < iEnd; i += 4) {
          const o = <usize>i << 2;
          const tk = v128.load(tkS + o);
          const diff = f32x4.add(f32x4.sub(hiT, v128.load(hiS + o)), f32x4.sub(loT, v128.load(loS + o)));
          const e = f32x4.mul(expDecayV(diff), v128.load(wS + o));
          const before = f32x4.lt(tk, tv), same = f32x4.eq(tk, tv);
          for (let j = j0; j < iEnd; j++) {
            const d = dot4p(Qs + <usize>j * qRow, Ks + <usize>i * qRow, qRow, N4);
            v128.store(Ms + <usize>j * mRow + o, v128.or(v128.and(f32x4.mul(d, e), before), v128.and(f32x4.mul(d, gT), same)));
          }
        }
      }

      // y_j = exp(cs_t)·(h·q_j) + D·v_j, then += Σ_i M[j, i]·v_i (the block's rows); then the state pass (all rows).
      carryOut(Qs + <usize>R * qRow, qRow, Vs + <usize>R * vRow, Ys + <usize>R * vRow, vRow, eAS + (<usize>R << 2), hBase, rows - R, P, N, dSkip);
      intraOut(Ms, mRow, Vs, Ys, vRow, R, rows, R, P4);
      chunkStateUpdate(Ks, qRow, Vs, vRow, wLS, hBase, eT, rows, P, N);

      // Per token: optional per-head RMSNorm of each y_r (norm before gate), silu(z ⊙ mimo_z) gate, Σ_r mimo_o ⊙ y_r.
      if (normW) {
        for (let j = R; j < rows; j++) {
          const yr = Ys + <usize>j * vRow;
          let ss = f32x4.splat(0);
          for (let p = 0; p < P4; p += 4) {
            const w = v128.load(yr + (<usize>p << 2));
            ss = f32x4.add(ss, f32x4.mul(w, w));
          }
          setf(invS, j, <f32>1 / Mathf.sqrt(hsum(ss) / <f32>P + normEps));
        }
      }
      for (let t = 0; t < len; t++) {
        const ti = (b * T + c0 + t) * H + h;
        const zRow = z + (<usize>(ti * P) << 2);
        const yRow = y + (<usize>(ti * P) << 2);
        for (let p = 0; p < P; p += 4) {
          const o = <usize>p << 2;
          const k = min(4, P - p);
          const zv = loadN(zRow + o, k);
          let acc = f32x4.splat(0);
          for (let r = 0; r < R; r++) {
            const j = (t + 1) * R + r;
            let v = v128.load(Ys + <usize>j * vRow + o);
            if (normW) v = f32x4.mul(f32x4.mul(v, v128.load32_splat(invS + (<usize>j << 2))), loadN(normW + (<usize>(h * P + p) << 2), k));
            const m = <usize>((h * R + r) * P + p) << 2;
            v = f32x4.mul(v, siluv(mimoZ ? f32x4.mul(zv, loadN(mimoZ + m, k)) : zv));
            acc = f32x4.add(acc, mimoO ? f32x4.mul(loadN(mimoO + m, k), v) : v);
          }
          storeN(yRow + o, acc, k);
        }
      }

      // carry k̃ ← k, ṽ ← x of the block's last token
      const last = (b * T + c0 + len - 1) * H + h;
      for (let r = 0; r < R; r++) {
        memory.copy(kt0 + <usize>r * ktStride, Ks + <usize>(len * R + r) * qRow, hBytes);
      }
      memory.copy(vPrev, x + (<usize>(last * P) << 2), <usize>P << 2);
    }
  }
}
