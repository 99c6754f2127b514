// Mamba-3's SSM (state-spaces/mamba mamba_ssm/modules/mamba3.py), SISO and MIMO: the trapezoidal
// recurrence token by token (the reference backend's step form, src/backends/reference/mamba3.ts; the
// equations are in src/backends/backend.ts, Mamba3ScanArgs). Decode runs it (T = 1); prefill runs the
// chunked kernel (mamba3-chunk.ts), and this one for any T only where a block does not fit the scratch
// (or when WasmBackend.mamba3Prefill says so). It streams each head's state [P, N] once per token.
// The rotary-angle helpers here (advanceAngles, biasRotate) are shared with the chunked kernel, so
// both turn by exactly the same angles.
//
// Range over units b·H + h: a unit owns its head's y, θ, h, k̃ and ṽ, so split ranges write disjoint
// memory. The 21 tensor pointers come in a table (the pool passes at most 32 arguments):
//   0 x [B,T,H·P]   1 z [B,T,H·P]   2 B [B,T,R·G·N]   3 C [B,T,R·G·N]   4 ddDt [B,T,H]   5 ddA [B,T,H]
//   6 trap [B,T,H]  7 angles [B,T,S]   8 dtBias [H]   9 BBias [H,R,N]   10 CBias [H,R,N]   11 D [H]
//   12 mimoX  13 mimoZ  14 mimoO [H,R,P] (0 for SISO: all ones)   15 normW [H·P] (0: silu(z) gating only)
//   16 angleState [B,H,S]   17 ssmState [B,H,P,N]   18 kState [B,R,H,N]   19 vState [B,H,P]   20 y [B,T,H·P]
// Per-thread scratch (f32): q [R·N], k [R·N], v [R·P], ṽ·mimo_x [R·P], y_r [R·P], then 2R splatted
// coefficients (v128, 16-aligned), cos θ [S], sin θ [S]  (JS checks it fits).
import { loadN, storeN, hsum, softpluss, silus, exps } from './simd';
import { tanhv } from './recurrent';

const PI: f64 = 3.141592653589793;
const TWO_PI: f64 = 6.283185307179586;

@inline export function ptrAt(tab: usize, i: i32): usize {
  return <usize>load<i32>(tab + (<usize>i << 2));
}
@inline export function f(ptr: usize, i: i32): f32 {
  return load<f32>(ptr + (<usize>i << 2));
}
@inline export function setf(ptr: usize, i: i32, v: f32): void {
  store<f32>(ptr + (<usize>i << 2), v);
}

/** out[0..N) = rot_θ(src + bias) for one rank: bias added 4 lanes at a time, then the S pairs turned by (cos θ, sin θ). */
@inline export function biasRotate(
  out: usize, src: usize, bias: usize, N: i32, S: i32, halves: i32, cosS: usize, sinS: usize,
): void {
  for (let n = 0; n < N; n += 4) {
    const q = <usize>n << 2;
    const k = min(4, N - n);
    storeN(out + q, f32x4.add(loadN(src + q, k), loadN(bias + q, k)), k);
  }
  const half = N >> 1;
  for (let s = 0; s < S; s++) {
    const c = f(cosS, s), sn = f(sinS, s);
    const i0 = halves ? s : 2 * s;
    const i1 = halves ? s + half : 2 * s + 1;
    const x0 = f(out, i0), x1 = f(out, i1);
    setf(out, i0, x0 * c - x1 * sn);
    setf(out, i1, x0 * sn + x1 * c);
  }
}

/**
 * cos x, sin x of four angles x ∈ [0, 2π] (f32), stored at cosP, sinP (k ≤ 4 lanes): x = n·π/2 + r with
 * n = round(2x/π) and r ∈ [−π/4, π/4] by a three-part Cody–Waite π/2 (n·DP1 exact), then Cephes
 * sinf / cosf's minimax polynomials on r and the quadrant n mod 4 (swap for odd n; signs). Measured
 * within 9.2e-8 of Math.cos / Math.sin (test/mamba3/sincos.test.ts; bound 1.2e-7); one vector call replaces eight
 * f64 libm calls, which were half the chunked prefill kernel's time at mamba3-130m's 32 angles.
 */
@inline function sinCos4(x: v128, cosP: usize, sinP: usize, k: i32): void {
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(0.63661977236758134))); // 2/π
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(1.5703125)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(4.837512969970703125e-4)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(7.54978995489188216e-8)));
  const z = f32x4.mul(r, r);
  let ps = f32x4.add(f32x4.mul(f32x4.splat(-1.9515295891e-4), z), f32x4.splat(8.3321608736e-3));
  ps = f32x4.add(f32x4.mul(ps, z), f32x4.splat(-1.6666654611e-1));
  const sr = f32x4.add(f32x4.mul(f32x4.mul(ps, z), r), r);
  let pc = f32x4.add(f32x4.mul(f32x4.splat(2.443315711809948e-5), z), f32x4.splat(-1.388731625493765e-3));
  pc = f32x4.add(f32x4.mul(pc, z), f32x4.splat(4.166664568298827e-2));
  const cr = f32x4.add(f32x4.sub(f32x4.splat(1), f32x4.mul(f32x4.splat(0.5), z)), f32x4.mul(f32x4.mul(pc, z), z));
  const q = i32x4.trunc_sat_f32x4_s(n);
  const odd = i32x4.eq(v128.and(q, i32x4.splat(1)), i32x4.splat(1));
  const sinSign = i32x4.shl(v128.and(q, i32x4.splat(2)), 30); //               quadrants 2, 3: −
  const cosSign = i32x4.shl(v128.and(i32x4.add(q, i32x4.splat(1)), i32x4.splat(2)), 30); // 1, 2: −
  storeN(sinP, v128.xor(v128.bitselect(cr, sr, odd), sinSign), k);
  storeN(cosP, v128.xor(v128.bitselect(sr, cr, odd), cosSign), k);
}

/** Test hook (not in the ABI table): c[i], s[i] = cos x[i], sin x[i] for x[i] ∈ [0, 2π], i ∈ [i0, i1). */
export function vsincos(x: usize, c: usize, s: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i += 4) {
    const o = <usize>i << 2;
    const k = min(4, i1 - i);
    sinCos4(loadN(x + o, k), c + o, s + o, k);
  }
}

/** θ + (π·tanh)·Δ wrapped into [0, 2π), two lanes in f64 (IEEE per lane: the scalar expression's bits). */
@inline function wrapAngle2(theta: v128, tanh: v128, dt: v128): v128 {
  const th = f64x2.add(theta, f64x2.mul(f64x2.mul(f64x2.splat(PI), tanh), dt));
  return f64x2.sub(th, f64x2.mul(f64x2.splat(TWO_PI), f64x2.floor(f64x2.div(th, f64x2.splat(TWO_PI)))));
}

/**
 * θ ← (θ + π·tanh(angles)·Δ) mod 2π for one head and token, in place in `angleRow` [S] (f32; the sum
 * in f64), and cos θ, sin θ of the stored angles into cosS, sinS: the step and the chunked kernel
 * (mamba3-chunk.ts), a split or a resumed run, all turn by exactly the same angles. Four angles at a
 * time: tanh in f32x4, the update in two f64x2 halves.
 */
@inline export function advanceAngles(angleRow: usize, anglesTok: usize, S: i32, dt: f32, cosS: usize, sinS: usize): void {
  const dtv = f64x2.splat(<f64>dt);
  for (let s = 0; s < S; s += 4) {
    const o = <usize>s << 2;
    const k = min(4, S - s);
    const t4 = tanhv(loadN(anglesTok + o, k));
    const th4 = loadN(angleRow + o, k);
    const lo = wrapAngle2(f64x2.promote_low_f32x4(th4), f64x2.promote_low_f32x4(t4), dtv);
    const hi = wrapAngle2(
      f64x2.promote_low_f32x4(f32x4.shuffle(th4, th4, 2, 3, 0, 1)), f64x2.promote_low_f32x4(f32x4.shuffle(t4, t4, 2, 3, 0, 1)), dtv,
    );
    const w4 = f32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
    storeN(angleRow + o, w4, k);
    sinCos4(w4, cosS + o, sinS + o, k);
  }
}

/** Σ_n a[n]·b[n]. */
@inline function dot(a: usize, b: usize, N: i32): f32 {
  let s = f32x4.splat(0);
  for (let n = 0; n < N; n += 4) {
    const q = <usize>n << 2;
    const k = min(4, N - n);
    s = f32x4.add(s, f32x4.mul(loadN(a + q, k), loadN(b + q, k)));
  }
  return hsum(s);
}

/**
 * One row p of a head's state: h[p,:] ← α·h[p,:] + Σ_r (β·ṽ_r[p]·k̃_r + γ·v_r[p]·k_r), and
 * y_r[p] = h[p,:]·q_r + D·v_r[p]. The per-rank coefficients β·ṽ_r[p], γ·v_r[p] are splatted once
 * per row (into registers for SISO, into `coefS` for MIMO): re-splatting a scalar load inside the
 * loop measured 3.5× slower. Full vectors first, then the N mod 4 tail; the first four ranks' y_r
 * accumulate in registers, further ranks take a second pass.
 */
@inline(never) function updateRow(
  hRow: usize, kt0: usize, ktStride: usize, kS: usize, qS: usize, vpS: usize, vS: usize, yrS: usize, coefS: usize,
  p: i32, P: i32, N: i32, R: i32, alpha: f32, beta: f32, gamma: f32, dSkip: f32,
): void {
  const av = f32x4.splat(alpha);
  const rStride = <usize>N << 2;
  let y0 = f32x4.splat(0), y1 = f32x4.splat(0), y2 = f32x4.splat(0), y3 = f32x4.splat(0);
  const nFull = N & ~3;
  if (R == 1) {
    const bv = f32x4.splat(beta * f(vpS, p));
    const gv = f32x4.splat(gamma * f(vS, p));
    for (let n = 0; n < N; n += 4) {
      const q = <usize>n << 2;
      const k = n < nFull ? 4 : N - n;
      const acc = f32x4.add(f32x4.mul(av, loadN(hRow + q, k)),
        f32x4.add(f32x4.mul(bv, loadN(kt0 + q, k)), f32x4.mul(gv, loadN(kS + q, k))));
      storeN(hRow + q, acc, k);
      y0 = f32x4.add(y0, f32x4.mul(acc, loadN(qS + q, k)));
    }
  } else {
    for (let r = 0; r < R; r++) {
      v128.store(coefS + (<usize>r << 5), f32x4.splat(beta * f(vpS, r * P + p)));
      v128.store(coefS + (<usize>r << 5), f32x4.splat(gamma * f(vS, r * P + p)), 16);
    }
    for (let n = 0; n < N; n += 4) {
      const q = <usize>n << 2;
      const k = n < nFull ? 4 : N - n;
      let acc = f32x4.mul(av, loadN(hRow + q, k));
      for (let r = 0; r < R; r++) {
        const c = coefS + (<usize>r << 5);
        acc = f32x4.add(acc, f32x4.add(
          f32x4.mul(v128.load(c), loadN(kt0 + <usize>r * ktStride + q, k)),
          f32x4.mul(v128.load(c, 16), loadN(kS + <usize>r * rStride + q, k)),
        ));
      }
      storeN(hRow + q, acc, k);
      y0 = f32x4.add(y0, f32x4.mul(acc, loadN(qS + q, k)));
      y1 = f32x4.add(y1, f32x4.mul(acc, loadN(qS + rStride + q, k)));
      if (R > 2) y2 = f32x4.add(y2, f32x4.mul(acc, loadN(qS + 2 * rStride + q, k)));
      if (R > 3) y3 = f32x4.add(y3, f32x4.mul(acc, loadN(qS + 3 * rStride + q, k)));
    }
  }
  setf(yrS, p, hsum(y0) + dSkip * f(vS, p));
  if (R > 1) setf(yrS, P + p, hsum(y1) + dSkip * f(vS, P + p));
  if (R > 2) setf(yrS, 2 * P + p, hsum(y2) + dSkip * f(vS, 2 * P + p));
  if (R > 3) setf(yrS, 3 * P + p, hsum(y3) + dSkip * f(vS, 3 * P + p));
  for (let r = 4; r < R; r++) setf(yrS, r * P + p, dot(hRow, qS + <usize>r * rStride, N) + dSkip * f(vS, r * P + p));
}

export function mamba3Scan(
  tab: usize, Bt: i32, T: i32, H: i32, P: i32, N: i32, G: i32, R: i32, S: i32, halves: i32,
  aFloor: f32, normEps: f32, scratch: usize, u0: i32, u1: i32,
): void {
  const x = ptrAt(tab, 0), z = ptrAt(tab, 1), Bm = ptrAt(tab, 2), Cm = ptrAt(tab, 3);
  const ddDt = ptrAt(tab, 4), ddA = ptrAt(tab, 5), trap = ptrAt(tab, 6), angles = ptrAt(tab, 7);
  const dtBias = ptrAt(tab, 8), BBias = ptrAt(tab, 9), CBias = ptrAt(tab, 10), Dp = ptrAt(tab, 11);
  const mimoX = ptrAt(tab, 12), mimoZ = ptrAt(tab, 13), mimoO = ptrAt(tab, 14), normW = ptrAt(tab, 15);
  const angleState = ptrAt(tab, 16), ssm = ptrAt(tab, 17), kState = ptrAt(tab, 18), vState = ptrAt(tab, 19);
  const y = ptrAt(tab, 20);
  const RN = R * N, RP = R * P;
  const qS = scratch;
  const kS = qS + (<usize>RN << 2);
  const vS = kS + (<usize>RN << 2);
  const vpS = vS + (<usize>RP << 2);
  const yrS = vpS + (<usize>RP << 2);
  const coefS = (yrS + (<usize>RP << 2) + 15) & ~15;
  const cosS = coefS + (<usize>R << 5);
  const sinS = cosS + (<usize>S << 2);
  const hpg = H / G;
  for (let idx = u0; idx < u1; idx++) {
    const b = idx / H;
    const h = idx - b * H;
    const g = h / hpg;
    const angleRow = angleState + (<usize>(idx * S) << 2);
    const hBase = ssm + (<usize>idx * <usize>P * <usize>N << 2);
    const vRow = vState + (<usize>(idx * P) << 2);
    const dSkip = f(Dp, h);
    for (let t = 0; t < T; t++) {
      const row = b * T + t;
      const i = row * H + h;
      // Δ = softplus(dd_dt + dt_bias); A = min(−softplus(dd_A), −A_floor); α = exp(AΔ); λ = σ(trap)
      const dt = softpluss(f(ddDt, i) + f(dtBias, h));
      const A = min(-softpluss(f(ddA, i)), -aFloor);
      const alpha = exps(A * dt);
      const lam: f32 = 1 / (1 + exps(-f(trap, i)));
      const beta: f32 = (<f32>1 - lam) * dt * alpha;
      const gamma = lam * dt;
      advanceAngles(angleRow, angles + (<usize>(row * S) << 2), S, dt, cosS, sinS);
      // q_r, k_r = rot_θ(C_r + C_bias), rot_θ(B_r + B_bias); v_r = x·mimo_x, ṽ_r = x_{t−1}·mimo_x
      const xRow = x + (<usize>(i * P) << 2);
      for (let r = 0; r < R; r++) {
        const src = <usize>(((row * R + r) * G + g) * N) << 2;
        const bo = <usize>((h * R + r) * N) << 2;
        biasRotate(qS + (<usize>(r * N) << 2), Cm + src, CBias + bo, N, S, halves, cosS, sinS);
        biasRotate(kS + (<usize>(r * N) << 2), Bm + src, BBias + bo, N, S, halves, cosS, sinS);
        for (let p = 0; p < P; p++) {
          const m: f32 = mimoX ? f(mimoX, (h * R + r) * P + p) : 1;
          setf(vS, r * P + p, f(xRow, p) * m);
          setf(vpS, r * P + p, f(vRow, p) * m);
        }
      }
      // h ← α·h + β·Σ_r k̃_r ⊗ ṽ_r + γ·Σ_r k_r ⊗ v_r;  y_r = h·q_r + D·v_r
      // One pass over each state row: full vectors first (the first four ranks' y_r accumulate in
      // registers), then the N mod 4 tail; ranks past four take a second pass (dot).
      const kt0 = kState + (<usize>((b * R * H + h) * N) << 2);
      for (let p = 0; p < P; p++) {
        updateRow(hBase + (<usize>(p * N) << 2), kt0, <usize>(H * N) << 2, kS, qS, vpS, vS, yrS, coefS, p, P, N, R, alpha, beta, gamma, dSkip);
      }
      // per rank: optional per-head RMSNorm (norm before gate), silu(z·mimo_z) gate, Σ_r mimo_o ⊙ y_r
      const zRow = z + (<usize>(i * P) << 2);
      const yRow = y + (<usize>(i * P) << 2);
      for (let p = 0; p < P; p++) setf(yRow, p, 0);
      for (let r = 0; r < R; r++) {
        let inv: f32 = 1;
        if (normW) {
          let ss: f32 = 0;
          for (let p = 0; p < P; p++) { const v = f(yrS, r * P + p); ss += v * v; }
          inv = 1 / Mathf.sqrt(ss / <f32>P + normEps);
        }
        for (let p = 0; p < P; p++) {
          const m = (h * R + r) * P + p;
          let v = f(yrS, r * P + p) * inv;
          if (normW) v *= f(normW, h * P + p);
          v *= silus(f(zRow, p) * (mimoZ ? f(mimoZ, m) : <f32>1));
          setf(yRow, p, f(yRow, p) + (mimoO ? f(mimoO, m) : <f32>1) * v);
        }
      }
      // carry k̃ ← k, ṽ ← x
      for (let r = 0; r < R; r++) {
        memory.copy(kState + (<usize>(((b * R + r) * H + h) * N) << 2), kS + (<usize>(r * N) << 2), <usize>N << 2);
      }
      memory.copy(vRow, xRow, <usize>P << 2);
    }
  }
}
