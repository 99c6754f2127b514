// Mamba-2 SSD (Dao & Gu 2024): the chunked matrix form for prefill and the recurrence for decode.
//
// Shapes: x, y [B, T, H, P]; dt [B, T, H]; dtBias, A, D [H]; Bm, Cm [B, T, G, N];
// state [B, H, P, N] (in place). Head h reads group ⌊h / (H/G)⌋. Range over b·H + h.
// Δ = clamp(softplus(dt + dtBias), dtMin, dtMax).
import { loadN, storeN, hsum, hsum4, expDecayV, expDecayS, softpluss } from './simd';
import { chunkStateUpdate, rowAccumulate } from './chunk';

/** Longest sub-block: the 64×64 chunk matrices fit the 64 KiB per-thread scratch. */
const LB: i32 = 64;
// scratch layout (bytes)
const S_CB: usize = 0; //               [64, 64] C_t·B_s of the block (shared by a group's heads)
const S_M: usize = 16384; //            [64, 64] the masked matrix (C_t·B_s)·exp(a_t − a_s)·Δ_s
const S_DELTA: usize = 32768; //        [64] Δ_t
const S_AHI: usize = S_DELTA + 256; //  [64] a_t = Σ_{k≤t} Δ_k·A as an f32 pair hi + lo
const S_ALO: usize = S_DELTA + 512; //  [64]
const S_EA: usize = S_DELTA + 768; //   [64] exp(a_t)
const S_WS: usize = S_DELTA + 1024; //  [64] exp(a_L − a_s)·Δ_s

/** Δ for one (row, head). */
@inline function deltaOf(raw: f32, dtMin: f32, dtMax: f32): f32 {
  return min(max(softpluss(raw), dtMin), dtMax);
}

/**
 * Four dot products a·b0 .. a·b3 of length N (floats at byte offsets), returned as one vector.
 * Each lane is reduced in `hsum` order, so it equals `dot1` of the same pair.
 */
@inline function dot4(a: usize, b0: usize, b1: usize, b2: usize, b3: usize, N: i32): v128 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let n = 0;
  for (; n + 4 <= N; n += 4) {
    const q = <usize>n << 2;
    const av = v128.load(a + q);
    s0 = f32x4.add(s0, f32x4.mul(av, v128.load(b0 + q)));
    s1 = f32x4.add(s1, f32x4.mul(av, v128.load(b1 + q)));
    s2 = f32x4.add(s2, f32x4.mul(av, v128.load(b2 + q)));
    s3 = f32x4.add(s3, f32x4.mul(av, v128.load(b3 + q)));
  }
  if (n < N) {
    const q = <usize>n << 2;
    const k = N - n;
    const av = loadN(a + q, k);
    s0 = f32x4.add(s0, f32x4.mul(av, loadN(b0 + q, k)));
    s1 = f32x4.add(s1, f32x4.mul(av, loadN(b1 + q, k)));
    s2 = f32x4.add(s2, f32x4.mul(av, loadN(b2 + q, k)));
    s3 = f32x4.add(s3, f32x4.mul(av, loadN(b3 + q, k)));
  }
  return hsum4(s0, s1, s2, s3);
}

@inline function dot1(a: usize, b: usize, N: i32): f32 {
  let s = f32x4.splat(0);
  let n = 0;
  for (; n + 4 <= N; n += 4) {
    const q = <usize>n << 2;
    s = f32x4.add(s, f32x4.mul(v128.load(a + q), v128.load(b + q)));
  }
  if (n < N) {
    const q = <usize>n << 2;
    const k = N - n;
    s = f32x4.add(s, f32x4.mul(loadN(a + q, k), loadN(b + q, k)));
  }
  return hsum(s);
}

/**
 * Chunked SSD scan. Per (batch, head) in [h0, h1), per chunk of `chunk` tokens (split into
 * sub-blocks of ≤ 64 tokens — exact, the carried state joins them), with a_t the cumulative
 * Δ·A inside the block and L its last index:
 *   y_t = Σ_{s≤t} (C_t·B_s)·exp(a_t − a_s)·Δ_s·x_s + exp(a_t)·C_t·h + D·x_t
 *   h  ← exp(a_L)·h + Σ_s exp(a_L − a_s)·Δ_s·x_s ⊗ B_s
 * C·Bᵀ of a block is computed once per run of heads sharing a group; `scratch` is the calling
 * thread's 64 KiB region.
 */
export function ssdChunkScan(
  x: usize, dt: usize, dtBias: usize, A: usize, Bm: usize, Cm: usize, D: usize, state: usize, y: usize,
  B: i32, T: i32, H: i32, P: i32, G: i32, N: i32, chunk: i32, dtMin: f32, dtMax: f32, scratch: usize,
  h0: i32, h1: i32,
): void {
  const L = max(1, chunk);
  const hpg = H / G;
  const bcRow = <usize>(G * N) << 2; // bytes between tokens in Bm, Cm
  const xRow = <usize>(H * P) << 2; // bytes between tokens in x, y
  const nBytes = <usize>N << 2;
  const cb = scratch + S_CB;
  let idx = h0;
  while (idx < h1) {
    const b = idx / H;
    const hStart = idx - b * H;
    const g = hStart / hpg;
    const hEnd = min((g + 1) * hpg, hStart + (h1 - idx)); // run of heads sharing (b, g)
    for (let c0 = 0; c0 < T; c0 += L) {
      const cEnd = min(T, c0 + L);
      for (let s0 = c0; s0 < cEnd; s0 += LB) {
        const len = min(LB, cEnd - s0);
        const bBase = Bm + (<usize>(b * T + s0) * <usize>G + <usize>g) * nBytes;
        const cBase = Cm + (<usize>(b * T + s0) * <usize>G + <usize>g) * nBytes;
        // C_t·B_s for s ≤ t (lanes s > t of the last group of four are computed and masked later)
        for (let t = 0; t < len; t++) {
          const ct = cBase + <usize>t * bcRow;
          const row = cb + (<usize>t << 8);
          let s = 0;
          for (; s <= t && s + 4 <= len; s += 4) {
            const bs = bBase + <usize>s * bcRow;
            v128.store(row + (<usize>s << 2), dot4(ct, bs, bs + bcRow, bs + 2 * bcRow, bs + 3 * bcRow, N));
          }
          for (; s <= t; s++) store<f32>(row + (<usize>s << 2), dot1(ct, bBase + <usize>s * bcRow, N));
        }
        for (let hd = hStart; hd < hEnd; hd++) {
          const xBase = x + (<usize>(b * T + s0) * <usize>H + <usize>hd) * (<usize>P << 2);
          const yBase = y + (<usize>(b * T + s0) * <usize>H + <usize>hd) * (<usize>P << 2);
          const hp = state + <usize>(b * H + hd) * <usize>P * nBytes;
          ssdBlock(
            xBase, yBase, xRow, dt + (<usize>(b * T + s0) * <usize>H + <usize>hd) * 4, <usize>H << 2,
            load<f32>(dtBias + (<usize>hd << 2)), load<f32>(A + (<usize>hd << 2)), load<f32>(D + (<usize>hd << 2)),
            bBase, cBase, bcRow, hp, P, N, len, dtMin, dtMax, scratch,
          );
        }
      }
    }
    idx += hEnd - hStart;
  }
}

/** One head over one sub-block of `len` ≤ 64 tokens; C·Bᵀ is already in scratch. */
function ssdBlock(
  xBase: usize, yBase: usize, xRow: usize, dtBase: usize, dtRow: usize, dtBias: f32, a: f32, dSkip: f32,
  bBase: usize, cBase: usize, bcRow: usize, hp: usize, P: i32, N: i32, len: i32,
  dtMin: f32, dtMax: f32, scratch: usize,
): void {
  const nBytes = <usize>N << 2;
  const cb = scratch + S_CB;
  const m = scratch + S_M;
  const deltaP = scratch + S_DELTA;
  const ahi = scratch + S_AHI;
  const alo = scratch + S_ALO;
  const eA = scratch + S_EA;
  const wS = scratch + S_WS;

  // Δ_t and a_t; the cumulative sum runs in f64 and is kept as hi + lo so that a_t − a_s stays
  // accurate to a few ulp of the difference itself, however large a_t has grown.
  let acc: f64 = 0;
  for (let t = 0; t < len; t++) {
    const dv = deltaOf(load<f32>(dtBase + <usize>t * dtRow) + dtBias, dtMin, dtMax);
    store<f32>(deltaP + (<usize>t << 2), dv);
    acc += <f64>dv * <f64>a;
    const hi = <f32>acc;
    store<f32>(ahi + (<usize>t << 2), hi);
    store<f32>(alo + (<usize>t << 2), <f32>(acc - <f64>hi));
    store<f32>(eA + (<usize>t << 2), expDecayS(hi));
  }
  const total = acc;
  for (let s = 0; s < len; s++) {
    const as = <f64>load<f32>(ahi + (<usize>s << 2)) + <f64>load<f32>(alo + (<usize>s << 2));
    store<f32>(wS + (<usize>s << 2), expDecayS(<f32>(total - as)) * load<f32>(deltaP + (<usize>s << 2)));
  }
  const eT = expDecayS(<f32>total);

  // M[t, s] = CB[t, s]·exp(a_t − a_s)·Δ_s for s ≤ t (lanes s > t zeroed)
  const lane = f32x4(0, 1, 2, 3);
  for (let t = 0; t < len; t++) {
    const row = <usize>t << 8;
    const hiT = v128.load32_splat(ahi + (<usize>t << 2));
    const loT = v128.load32_splat(alo + (<usize>t << 2));
    const tv = f32x4.splat(<f32>t);
    for (let s = 0; s <= t; s += 4) {
      const q = <usize>s << 2;
      const diff = f32x4.add(f32x4.sub(hiT, v128.load(ahi + q)), f32x4.sub(loT, v128.load(alo + q)));
      const v = f32x4.mul(f32x4.mul(v128.load(cb + row + q), expDecayV(diff)), v128.load(deltaP + q));
      const keep = f32x4.le(f32x4.add(f32x4.splat(<f32>s), lane), tv);
      v128.store(m + row + q, v128.and(v, keep));
    }
  }

  // y_t = exp(a_t)·(C_t·h_p) + D·x_t   (h_p = state row p, before this block's update);
  // tiles of 2 tokens × 4 state rows, each (t, p) reduced exactly as dot4 / dot1 would.
  const pBytes = nBytes; // bytes between state rows
  const dv = f32x4.splat(dSkip);
  let t = 0;
  for (; t + 2 <= len; t += 2) {
    const c0 = cBase + <usize>t * bcRow;
    const c1 = c0 + bcRow;
    const x0 = xBase + <usize>t * xRow;
    const y0 = yBase + <usize>t * xRow;
    const e0 = v128.load32_splat(eA + (<usize>t << 2));
    const e1 = v128.load32_splat(eA + (<usize>t << 2), 4);
    let p = 0;
    for (; p + 4 <= P; p += 4) {
      const hq = hp + <usize>p * pBytes;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
      let n = 0;
      for (; n + 4 <= N; n += 4) {
        const q = <usize>n << 2;
        const a0 = v128.load(c0 + q), a1 = v128.load(c1 + q);
        const b0 = v128.load(hq + q), b1 = v128.load(hq + pBytes + q);
        s00 = f32x4.add(s00, f32x4.mul(a0, b0));
        s10 = f32x4.add(s10, f32x4.mul(a1, b0));
        s01 = f32x4.add(s01, f32x4.mul(a0, b1));
        s11 = f32x4.add(s11, f32x4.mul(a1, b1));
        const b2 = v128.load(hq + 2 * pBytes + q), b3 = v128.load(hq + 3 * pBytes + q);
        s02 = f32x4.add(s02, f32x4.mul(a0, b2));
        s12 = f32x4.add(s12, f32x4.mul(a1, b2));
        s03 = f32x4.add(s03, f32x4.mul(a0, b3));
        s13 = f32x4.add(s13, f32x4.mul(a1, b3));
      }
      if (n < N) {
        const q = <usize>n << 2;
        const k = N - n;
        const a0 = loadN(c0 + q, k), a1 = loadN(c1 + q, k);
        const b0 = loadN(hq + q, k), b1 = loadN(hq + pBytes + q, k);
        const b2 = loadN(hq + 2 * pBytes + q, k), b3 = loadN(hq + 3 * pBytes + q, k);
        s00 = f32x4.add(s00, f32x4.mul(a0, b0));
        s10 = f32x4.add(s10, f32x4.mul(a1, b0));
        s01 = f32x4.add(s01, f32x4.mul(a0, b1));
        s11 = f32x4.add(s11, f32x4.mul(a1, b1));
        s02 = f32x4.add(s02, f32x4.mul(a0, b2));
        s12 = f32x4.add(s12, f32x4.mul(a1, b2));
        s03 = f32x4.add(s03, f32x4.mul(a0, b3));
        s13 = f32x4.add(s13, f32x4.mul(a1, b3));
      }
      const q = <usize>p << 2;
      v128.store(y0 + q, f32x4.add(f32x4.mul(e0, hsum4(s00, s01, s02, s03)), f32x4.mul(dv, v128.load(x0 + q))));
      v128.store(y0 + xRow + q, f32x4.add(f32x4.mul(e1, hsum4(s10, s11, s12, s13)), f32x4.mul(dv, v128.load(x0 + xRow + q))));
    }
    for (; p < P; p++) {
      const q = <usize>p << 2;
      const hq = hp + <usize>p * pBytes;
      store<f32>(y0 + q, f32x4.extract_lane(e0, 0) * dot1(c0, hq, N) + dSkip * load<f32>(x0 + q));
      store<f32>(y0 + xRow + q, f32x4.extract_lane(e1, 0) * dot1(c1, hq, N) + dSkip * load<f32>(x0 + xRow + q));
    }
  }
  for (; t < len; t++) {
    const ct = cBase + <usize>t * bcRow;
    const xt = xBase + <usize>t * xRow;
    const yt = yBase + <usize>t * xRow;
    const et = v128.load32_splat(eA + (<usize>t << 2));
    let p = 0;
    for (; p + 4 <= P; p += 4) {
      const hq = hp + <usize>p * pBytes;
      const c4 = dot4(ct, hq, hq + pBytes, hq + 2 * pBytes, hq + 3 * pBytes, N);
      const q = <usize>p << 2;
      v128.store(yt + q, f32x4.add(f32x4.mul(et, c4), f32x4.mul(dv, v128.load(xt + q))));
    }
    for (; p < P; p++) {
      const q = <usize>p << 2;
      store<f32>(yt + q, f32x4.extract_lane(et, 0) * dot1(ct, hp + <usize>p * pBytes, N) + dSkip * load<f32>(xt + q));
    }
  }

  // y_t += Σ_{s≤t} M[t, s]·x_s   (chunk.ts)
  for (let t = 0; t < len; t++) {
    rowAccumulate(yBase + <usize>t * xRow, m + (<usize>t << 8), xBase, xRow, t + 1, P);
  }

  // h_p ← exp(a_L)·h_p + Σ_s (wS_s·x_s[p])·B_s   (chunk.ts)
  chunkStateUpdate(bBase, bcRow, xBase, xRow, wS, hp, eT, len, P, N);
}

/**
 * Mamba-2 recurrent step (T = 1): h ← exp(Δ·A)·h + (Δ·x) ⊗ B;  y = h·C + D·x.
 * x, y [B, H, P]; dt [B, H]; Bm, Cm [B, G, N]; state [B, H, P, N]. Range over b·H + h.
 */
export function ssdStep(
  x: usize, dt: usize, dtBias: usize, A: usize, Bm: usize, Cm: usize, D: usize, state: usize, y: usize,
  B: i32, H: i32, P: i32, G: i32, N: i32, dtMin: f32, dtMax: f32, h0: i32, h1: i32,
): void {
  const hpg = H / G;
  const nBytes = <usize>N << 2;
  for (let idx = h0; idx < h1; idx++) {
    const b = idx / H;
    const hd = idx - b * H;
    const g = hd / hpg;
    const delta = deltaOf(load<f32>(dt + (<usize>idx << 2)) + load<f32>(dtBias + (<usize>hd << 2)), dtMin, dtMax);
    const decay = f32x4.splat(expDecayS(delta * load<f32>(A + (<usize>hd << 2))));
    const dSkip = load<f32>(D + (<usize>hd << 2));
    const bp = Bm + <usize>(b * G + g) * nBytes;
    const cp = Cm + <usize>(b * G + g) * nBytes;
    const hBase = state + <usize>idx * <usize>P * nBytes;
    const xBase = x + (<usize>idx * <usize>P << 2);
    const yBase = y + (<usize>idx * <usize>P << 2);
    for (let p = 0; p < P; p++) {
      const xv = load<f32>(xBase + (<usize>p << 2));
      const dx = f32x4.splat(delta * xv);
      const hq = hBase + <usize>p * nBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      let n = 0;
      for (; n + 8 <= N; n += 8) {
        const q = <usize>n << 2;
        const v0 = f32x4.add(f32x4.mul(decay, v128.load(hq + q)), f32x4.mul(dx, v128.load(bp + q)));
        const v1 = f32x4.add(f32x4.mul(decay, v128.load(hq + q, 16)), f32x4.mul(dx, v128.load(bp + q, 16)));
        v128.store(hq + q, v0);
        v128.store(hq + q, v1, 16);
        a0 = f32x4.add(a0, f32x4.mul(v0, v128.load(cp + q)));
        a1 = f32x4.add(a1, f32x4.mul(v1, v128.load(cp + q, 16)));
      }
      for (; n < N; n += 4) {
        const q = <usize>n << 2;
        const k = N - n;
        const v0 = f32x4.add(f32x4.mul(decay, loadN(hq + q, k)), f32x4.mul(dx, loadN(bp + q, k)));
        storeN(hq + q, v0, k);
        a0 = f32x4.add(a0, f32x4.mul(v0, loadN(cp + q, k)));
      }
      store<f32>(yBase + (<usize>p << 2), hsum(f32x4.add(a0, a1)) + dSkip * xv);
    }
  }
}
