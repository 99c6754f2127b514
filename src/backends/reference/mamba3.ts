/**
 * Mamba-3's SSM on the reference backend, in the two forms of state-spaces/mamba's own PyTorch
 * references (tests/ops/triton/test_mamba3_siso.py, tests/ops/tilelang/test_mamba3_mimo.py):
 *
 * - `mamba3Recurrent`: the step form (mamba3_siso_step_ref / mamba3_MIMO_step_ref), one token at
 *   a time: h ← α·h + β·Σ_r k̃_r ⊗ ṽ_r + γ·Σ_r k_r ⊗ v_r with β = (1−λ)Δα, γ = λΔ.
 * - `mamba3Chunked`: the chunked form (mamba3_siso_fwd_ref / mamba3_MIMO_chunk_ref). Within a
 *   chunk, token s reaches a later token t through both of its trapezoid weights, γ_s at s and
 *   β_{s+1} at s+1, which share the decay exp(Σ_{s<u≤t} A_uΔ_u); so
 *     y_t = Σ_{s≤t} (q_t·k_s)·scale_s·exp(cs_t − cs_s)·v_s − shifted_γ_t·(q_t·k_t)·v_t + exp(cs_t)·q_t·acc
 *   with scale_s = γ_s + shifted_γ_s, shifted_γ_s = Δ_{s+1}(1−λ_{s+1}) (0 past the chunk end: that
 *   β term is carried by k̃, ṽ into the next chunk) and acc = h + Δ_0(1−λ_0)·Σ_r k̃_r ⊗ ṽ_r.
 *   The references start from a zero state (MIMO) or take Initial_States (SISO); we carry
 *   (θ, h, k̃, ṽ) from chunk to chunk the SISO way, for both.
 *
 * Differences from the test references, following mamba_ssm/modules/mamba3.py instead:
 * MIMO pairs rotary dims (i, i + N/2) (the module passes rotate_pairwise = not is_mimo; the MIMO
 * step reference pairs (2i, 2i+1)); θ is kept modulo 2π in both forms (the MIMO step reference and
 * the module's step do not wrap; cos/sin are unchanged); ṽ is x before mimo_x (the module's
 * v_state [B, H, P]; the MIMO step reference stores x·mimo_x, which is the same product).
 *
 * Accumulation in f64; inputs, outputs and states f32.
 */
import type { Mamba3ScanArgs } from '../backend.js';
import type { Mamba3Dims } from '../shape-checks.js';

type F32 = Float32Array;
export interface Mamba3Arrays {
  x: F32; z: F32; B: F32; C: F32; ddDt: F32; ddA: F32; trap: F32; angles: F32;
  dtBias: F32; BBias: F32; CBias: F32; D: F32;
  mimo: { x: F32; z: F32; o: F32 } | null;
  normWeight: F32 | null;
  angleState: F32; ssmState: F32; kState: F32; vState: F32;
}

const TWO_PI = 2 * Math.PI;
const softplus = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const silu = (v: number) => v / (1 + Math.exp(-v));

/** Scalars of token t, head h: Δ, A·Δ, λ. */
function scalars(a: Mamba3ScanArgs, d: Mamba3Dims, arr: Mamba3Arrays, b: number, t: number, h: number) {
  const i = (b * d.seq + t) * d.numHeads + h;
  const dt = softplus(arr.ddDt[i] + arr.dtBias[h]);
  const A = Math.min(-softplus(arr.ddA[i]), -a.aFloor);
  return { dt, adt: A * dt, lam: sigmoid(arr.trap[i]) };
}

/** θ ← (θ + π·tanh(angles_t)·Δ) mod 2π, in place in `theta` [S]. */
function advanceAngles(arr: Mamba3Arrays, d: Mamba3Dims, b: number, t: number, dt: number, theta: Float64Array): void {
  const S = d.angles;
  for (let s = 0; s < S; s++) {
    const v = theta[s] + Math.PI * Math.tanh(arr.angles[(b * d.seq + t) * S + s]) * dt;
    theta[s] = v - TWO_PI * Math.floor(v / TWO_PI);
  }
}

/** out[r][n] = rot_θ(src_{r,g} + bias[h,r]) for r < R (out is [R·N]). */
function rotatedBC(
  a: Mamba3ScanArgs, d: Mamba3Dims, src: F32, bias: F32, b: number, t: number, h: number, theta: Float64Array, out: Float64Array,
): void {
  const { stateSize: N, nGroups: G, rank: R, numHeads: H } = d;
  const g = Math.floor((h * G) / H);
  for (let r = 0; r < R; r++) {
    const base = (((b * d.seq + t) * R + r) * G + g) * N;
    const o = r * N;
    for (let n = 0; n < N; n++) out[o + n] = src[base + n] + bias[(h * R + r) * N + n];
    for (let s = 0; s < d.angles; s++) {
      const [i0, i1] = a.pairing === 'adjacent' ? [2 * s, 2 * s + 1] : [s, s + N / 2];
      const c = Math.cos(theta[s]), sn = Math.sin(theta[s]);
      const x0 = out[o + i0], x1 = out[o + i1];
      out[o + i0] = x0 * c - x1 * sn;
      out[o + i1] = x0 * sn + x1 * c;
    }
  }
}

/** v[r][p] = x_t[h,p]·mimo_x[h,r,p] (SISO: x). */
function upX(d: Mamba3Dims, arr: Mamba3Arrays, xRow: F32 | Float64Array, xOff: number, h: number, out: Float64Array): void {
  const { headDim: P, rank: R } = d;
  for (let r = 0; r < R; r++) {
    for (let p = 0; p < P; p++) out[r * P + p] = xRow[xOff + p] * (arr.mimo ? arr.mimo.x[(h * R + r) * P + p] : 1);
  }
}

/**
 * The output of head h at token t from the per-rank y_r [R·P] (y_r = h·q_r + D·v_r already):
 * optional per-head RMSNorm (norm before gate), gate silu(z ⊙ mimo_z), contraction with mimo_o.
 */
function finishOutput(
  a: Mamba3ScanArgs, d: Mamba3Dims, arr: Mamba3Arrays, yr: Float64Array, b: number, t: number, h: number, y: F32,
): void {
  const { headDim: P, rank: R, numHeads: H } = d;
  const off = ((b * d.seq + t) * H + h) * P;
  for (let p = 0; p < P; p++) y[off + p] = 0;
  const acc = new Float64Array(P);
  for (let r = 0; r < R; r++) {
    let inv = 1;
    if (arr.normWeight) {
      let ss = 0;
      for (let p = 0; p < P; p++) ss += yr[r * P + p] * yr[r * P + p];
      inv = 1 / Math.sqrt(ss / P + a.normEps);
    }
    for (let p = 0; p < P; p++) {
      const m = arr.mimo ? (h * R + r) * P + p : -1;
      let v = yr[r * P + p] * inv;
      if (arr.normWeight) v *= arr.normWeight[h * P + p];
      v *= silu(arr.z[off + p] * (arr.mimo ? arr.mimo.z[m] : 1));
      acc[p] += arr.mimo ? arr.mimo.o[m] * v : v;
    }
  }
  for (let p = 0; p < P; p++) y[off + p] = acc[p];
}

/** The step form over any number of tokens (mamba3Step is this with T = 1). */
export function mamba3Recurrent(a: Mamba3ScanArgs, d: Mamba3Dims, arr: Mamba3Arrays): F32 {
  const { batch, seq, numHeads: H, headDim: P, stateSize: N, rank: R, angles: S } = d;
  const y = new Float32Array(batch * seq * H * P);
  const theta = new Float64Array(S);
  const q = new Float64Array(R * N), k = new Float64Array(R * N);
  const v = new Float64Array(R * P), vPrev = new Float64Array(R * P), yr = new Float64Array(R * P);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const hOff = (b * H + h) * P * N;
      for (let s = 0; s < S; s++) theta[s] = arr.angleState[(b * H + h) * S + s];
      for (let t = 0; t < seq; t++) {
        const { dt, adt, lam } = scalars(a, d, arr, b, t, h);
        const alpha = Math.exp(adt), beta = (1 - lam) * dt * alpha, gamma = lam * dt;
        advanceAngles(arr, d, b, t, dt, theta);
        rotatedBC(a, d, arr.C, arr.CBias, b, t, h, theta, q);
        rotatedBC(a, d, arr.B, arr.BBias, b, t, h, theta, k);
        upX(d, arr, arr.x, ((b * seq + t) * H + h) * P, h, v);
        upX(d, arr, arr.vState, (b * H + h) * P, h, vPrev);
        yr.fill(0);
        for (let p = 0; p < P; p++) {
          for (let n = 0; n < N; n++) {
            let prev = 0, cur = 0;
            for (let r = 0; r < R; r++) {
              prev += arr.kState[((b * R + r) * H + h) * N + n] * vPrev[r * P + p];
              cur += k[r * N + n] * v[r * P + p];
            }
            const hn = alpha * arr.ssmState[hOff + p * N + n] + beta * prev + gamma * cur;
            arr.ssmState[hOff + p * N + n] = hn;
            for (let r = 0; r < R; r++) yr[r * P + p] += hn * q[r * N + n];
          }
          for (let r = 0; r < R; r++) yr[r * P + p] += arr.D[h] * v[r * P + p];
        }
        finishOutput(a, d, arr, yr, b, t, h, y);
        for (let r = 0; r < R; r++) for (let n = 0; n < N; n++) arr.kState[((b * R + r) * H + h) * N + n] = k[r * N + n];
        for (let p = 0; p < P; p++) arr.vState[(b * H + h) * P + p] = arr.x[((b * seq + t) * H + h) * P + p];
      }
      for (let s = 0; s < S; s++) arr.angleState[(b * H + h) * S + s] = theta[s];
    }
  }
  return y;
}

/** The chunked form (see the header), chunk by chunk with the state carried between chunks. */
export function mamba3Chunked(a: Mamba3ScanArgs, d: Mamba3Dims, arr: Mamba3Arrays): F32 {
  const { batch, seq, numHeads: H, headDim: P, stateSize: N, rank: R, angles: S } = d;
  const L = Math.max(1, Math.floor(a.chunkSize));
  const y = new Float32Array(batch * seq * H * P);
  const theta = new Float64Array(S);
  // per token of the chunk: q, k [R·N], v [R·P], Δ, λ, cumulative A·Δ
  const q = new Float64Array(L * R * N), k = new Float64Array(L * R * N), v = new Float64Array(L * R * P);
  const dt = new Float64Array(L), lam = new Float64Array(L), cs = new Float64Array(L);
  const scale = new Float64Array(L), sg = new Float64Array(L);
  const vPrev = new Float64Array(R * P), acc = new Float64Array(P * N), yr = new Float64Array(R * P);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < H; h++) {
      const hOff = (b * H + h) * P * N;
      for (let s = 0; s < S; s++) theta[s] = arr.angleState[(b * H + h) * S + s];
      for (let c0 = 0; c0 < seq; c0 += L) {
        const len = Math.min(L, seq - c0);
        let a0 = 0;
        for (let i = 0; i < len; i++) {
          const sc = scalars(a, d, arr, b, c0 + i, h);
          dt[i] = sc.dt; lam[i] = sc.lam; a0 += sc.adt; cs[i] = a0;
          advanceAngles(arr, d, b, c0 + i, sc.dt, theta);
          rotatedBC(a, d, arr.C, arr.CBias, b, c0 + i, h, theta, q.subarray(i * R * N, (i + 1) * R * N));
          rotatedBC(a, d, arr.B, arr.BBias, b, c0 + i, h, theta, k.subarray(i * R * N, (i + 1) * R * N));
          upX(d, arr, arr.x, ((b * seq + c0 + i) * H + h) * P, h, v.subarray(i * R * P, (i + 1) * R * P));
        }
        for (let i = 0; i < len; i++) {
          sg[i] = i + 1 < len ? dt[i + 1] * (1 - lam[i + 1]) : 0; // shifted γ
          scale[i] = dt[i] * lam[i] + sg[i];
        }
        // acc = h + Δ_0(1−λ_0)·Σ_r k̃_r ⊗ ṽ_r: the previous chunk's last token's pending β term
        upX(d, arr, arr.vState, (b * H + h) * P, h, vPrev);
        const w0 = dt[0] * (1 - lam[0]);
        for (let p = 0; p < P; p++) {
          for (let n = 0; n < N; n++) {
            let kv = 0;
            for (let r = 0; r < R; r++) kv += arr.kState[((b * R + r) * H + h) * N + n] * vPrev[r * P + p];
            acc[p * N + n] = arr.ssmState[hOff + p * N + n] + w0 * kv;
          }
        }
        const dot = (qi: number, qr: number, ki: number, kr: number) => {
          let s2 = 0;
          for (let n = 0; n < N; n++) s2 += q[(qi * R + qr) * N + n] * k[(ki * R + kr) * N + n];
          return s2;
        };
        for (let t = 0; t < len; t++) {
          yr.fill(0);
          for (let Rq = 0; Rq < R; Rq++) {
            for (let s = 0; s <= t; s++) {
              const decay = Math.exp(cs[t] - cs[s]);
              for (let r = 0; r < R; r++) {
                let w = dot(t, Rq, s, r) * scale[s] * decay;
                if (s === t) w -= dot(t, Rq, t, r) * sg[t]; // no β term from a token to itself
                for (let p = 0; p < P; p++) yr[Rq * P + p] += w * v[(s * R + r) * P + p];
              }
            }
            const carry = Math.exp(cs[t]);
            for (let p = 0; p < P; p++) {
              let hq = 0;
              for (let n = 0; n < N; n++) hq += acc[p * N + n] * q[(t * R + Rq) * N + n];
              yr[Rq * P + p] += carry * hq + arr.D[h] * v[(t * R + Rq) * P + p];
            }
          }
          finishOutput(a, d, arr, yr, b, c0 + t, h, y);
        }
        // h at the chunk's end: exp(cs_L)·acc + Σ_s exp(cs_L − cs_s)·scale_s·Σ_r k_s,r ⊗ v_s,r
        const total = cs[len - 1];
        for (let p = 0; p < P; p++) {
          for (let n = 0; n < N; n++) {
            let hn = Math.exp(total) * acc[p * N + n];
            for (let s = 0; s < len; s++) {
              const w = Math.exp(total - cs[s]) * scale[s];
              for (let r = 0; r < R; r++) hn += w * k[(s * R + r) * N + n] * v[(s * R + r) * P + p];
            }
            arr.ssmState[hOff + p * N + n] = hn;
          }
        }
        for (let r = 0; r < R; r++) {
          for (let n = 0; n < N; n++) arr.kState[((b * R + r) * H + h) * N + n] = k[((len - 1) * R + r) * N + n];
        }
        for (let p = 0; p < P; p++) arr.vState[(b * H + h) * P + p] = arr.x[((b * seq + c0 + len - 1) * H + h) * P + p];
      }
      for (let s = 0; s < S; s++) arr.angleState[(b * H + h) * S + s] = theta[s];
    }
  }
  return y;
}
