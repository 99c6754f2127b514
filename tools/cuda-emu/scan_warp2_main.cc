// scan_warp2.cu's kernels on the CPU (tools/cuda-emu/run.mjs warp2): warp2N's launch sequence (one pass, or pass 1,
// scan_tiled.cu's carry, pass 3), each case checked against a sequential scan in double precision with a carried
// state in and out (test/cuda/scan.test.ts's tolerance, 1e-4 of max(1, |ref|)). Inputs may sit at an odd float
// offset (not 16-byte aligned) to take the 4-byte staging, as the launcher does for such pointers or I % 4 ≠ 0.
#include "kern.inc"  // written by run.mjs: scan_fast.cuh, scan_tiled.cu's and scan_warp2.cu's kernels with emu.h
#include <cstdio>
#include <random>
#include <vector>
using namespace me;

/** scan_warp2.cu's warp2N with each <<<grid, CB·32, smem>>> launch run block by block. */
template <int N4, int K, int R = 1> void warp2(const ScanShape& sh, const ScanArgs& a, int CB, int chunks, float* scratch, bool vecX, bool vecBC) {
  std::vector<float4> smem((size_t)w2SmemBytes(CB, N4) / 16);
  me_emu::dynSmem = smem.data();
  const unsigned gx = (unsigned)((int64_t)sh.B * ((sh.I + CB - 1) / CB));
  if (chunks <= 1) {
    launch(dim3(gx, 1), CB * 32 / R, [&] { scanWarp2<true, N4, K, R>(sh, a, CB, 1, sh.T, nullptr, nullptr, kFromState, kToState, vecX, vecBC); });
    return;
  }
  const int chunkLen = (sh.T + chunks - 1) / chunks;
  chunks = (sh.T + chunkLen - 1) / chunkLen;
  float* hc = scratch; float* sd = hc + (size_t)sh.B * chunks * sh.N * sh.I;
  launch(dim3(gx, chunks), CB * 32 / R, [&] { scanWarp2<false, N4, K, R>(sh, a, CB, chunks, chunkLen, hc, sd, kFromZero, kToScratch, vecX, vecBC); });
  const int64_t total = (int64_t)sh.B * sh.N * sh.I;
  const unsigned nb = blocksFor(total, 128);
  me_emu::gdim = dim3(nb, 1, 1); me_emu::bdim = dim3(128, 1, 1);
  for (unsigned bx = 0; bx < nb; bx++) { me_emu::bid = make_uint3(bx, 0, 0); for (int t = 0; t < 128; t++) { me_emu::tid = make_uint3(t, 0, 0); scanTiledCarry(sh, a.A, a.state, hc, sd, chunks); } }
  launch(dim3(gx, chunks), CB * 32 / R, [&] { scanWarp2<true, N4, K, R>(sh, a, CB, chunks, chunkLen, hc, sd, kFromScratch, kNoEnd, vecX, vecBC); });
}

int fails = 0;
/** One case: `off` floats of misalignment on every input (off ≠ 0: 4-byte staging); poly = K. */
void run(int B, int T, int I, int N, int CB, int chunks, int off, int poly, int R, unsigned seed) {
  std::mt19937 g(seed); std::uniform_real_distribution<float> u(-1, 1);
  auto r = [&](size_t n, float s = 1, float sh = 0) { std::vector<float> v(n + 4); for (auto& x : v) x = u(g) * s + sh; return v; };
  auto x = r((size_t)B*T*I), dt = r((size_t)B*T*I, 2), z = r((size_t)B*T*I), Bm = r((size_t)B*T*N), Cm = r((size_t)B*T*N);
  auto bias = r(I, 0.5), D = r(I), h0 = r((size_t)B*I*N); auto A = r((size_t)I*N); for (auto& v : A) v = -2 * fabsf(v) - 0.05f;
  std::vector<float> y((size_t)B*T*I + 4, NAN), st = h0;
  std::vector<float> scratch((size_t)B*I*chunks*(N+1) + 16, NAN);
  ScanShape sh{false, B, T, I, N, 1, 1, 1, 0, INFINITY};
  ScanArgs a{x.data() + off, dt.data() + off, bias.data(), A.data(), Bm.data() + off, Cm.data() + off, D.data(), z.data() + off, st.data(), y.data() + off};
  auto al = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  const bool vecX = I % 4 == 0 && al(a.x) && al(a.dt) && al(a.z) && al(a.y), vecBC = N % 4 == 0 && al(a.Bm) && al(a.Cm);  // warp2N's rule
  const int N4 = (N + 3) / 4;
  if (N4 == 1) warp2<1, 0>(sh, a, CB, chunks, scratch.data(), vecX, vecBC);
  else if (N4 == 2) warp2<2, 0>(sh, a, CB, chunks, scratch.data(), vecX, vecBC);
  else if (N4 == 3) warp2<3, 0>(sh, a, CB, chunks, scratch.data(), vecX, vecBC);
  else if (poly == 3) warp2<4, 3>(sh, a, CB, chunks, scratch.data(), vecX, vecBC);
  else if (poly == 8) warp2<4, 8>(sh, a, CB, chunks, scratch.data(), vecX, vecBC);
  else if (R == 2) warp2<4, 0, 2>(sh, a, CB, chunks, scratch.data(), vecX, vecBC);
  else warp2<4, 0>(sh, a, CB, chunks, scratch.data(), vecX, vecBC);
  double worst = 0;
  for (int b = 0; b < B; b++) for (int i = 0; i < I; i++) {
    std::vector<double> h(N); for (int n = 0; n < N; n++) h[n] = h0[((size_t)b*I+i)*N+n];
    for (int t = 0; t < T; t++) {
      const size_t k = ((size_t)b*T+t)*I+i, kb = ((size_t)b*T+t)*N;
      const double v = a.dt[k] + bias[i], d = v > 20 ? v : log1p(exp(v)); double acc = 0;
      for (int n = 0; n < N; n++) { h[n] = exp(d * A[(size_t)i*N+n]) * h[n] + d * a.x[k] * a.Bm[kb+n]; acc += h[n] * a.Cm[kb+n]; }
      const double zv = a.z[k], yv = (acc + D[i] * a.x[k]) * (zv / (1 + exp(-zv)));
      worst = std::max(worst, fabs(yv - a.y[k]) / std::max(1.0, fabs(yv)));
      if (std::isnan(a.y[k])) worst = INFINITY;
    }
    for (int n = 0; n < N; n++) { double w = h[n], gv = st[((size_t)b*I+i)*N+n]; worst = std::max(worst, fabs(w - gv) / std::max(1.0, fabs(w))); if (std::isnan(gv)) worst = INFINITY; }
  }
  // Nothing written outside y's [B, T, I]: the float before it (off ≥ 1) and the 4 − off after it stay NaN.
  for (int e = 0; e < off; e++) if (!std::isnan(y[e])) worst = INFINITY;
  for (size_t e = (size_t)B*T*I + off; e < y.size(); e++) if (!std::isnan(y[e])) worst = INFINITY;
  const bool ok = worst < 1e-4; if (!ok) fails++;
  printf("%s B %d T %d I %d N %d CB %d R %d chunks %d vec %d/%d poly %d: worst %.2e\n", ok ? "ok  " : "FAIL", B, T, I, N, CB, R, chunks, vecX, vecBC, poly, worst);
  fflush(stdout);
}

int main() {
  // [B, T, I, N, CB, chunks, misaligned, poly]: every T class (one step, a partial tile, one short of / at / past a
  // 256-step tile, many tiles through the double buffer), I off the blocks (1, 5, 63: partial blocks of 4 / 8 / 12),
  // I = 1,540 (128 + 1 blocks of 12), N = 1, 5 (4-byte B / C copies), 16; batch 3; three passes with the carry
  // (chunks of 334 / 1,025 steps: not tile multiples) and the polynomial 2^x for the top 3 / 8 states.
  const int cases[][8] = {
    {1, 1, 5, 16, 4, 1, 0, 0}, {3, 2, 13, 16, 8, 1, 0, 0}, {1, 31, 63, 16, 12, 1, 0, 0}, {2, 32, 64, 16, 8, 1, 0, 0},
    {1, 255, 5, 16, 4, 1, 0, 0}, {1, 256, 12, 16, 12, 1, 0, 0}, {3, 257, 8, 16, 8, 1, 0, 0}, {1, 1000, 5, 5, 4, 1, 1, 0},
    {1, 4099, 4, 16, 4, 1, 0, 0}, {1, 70, 1540, 16, 12, 1, 0, 0}, {1, 40, 1, 1, 4, 1, 0, 0}, {2, 300, 63, 1, 8, 1, 0, 0},
    {1, 513, 63, 5, 12, 1, 0, 0}, {2, 300, 64, 16, 8, 1, 1, 0}, {1, 1000, 13, 16, 4, 3, 0, 0}, {3, 2200, 5, 16, 4, 3, 0, 0},
    {1, 4099, 5, 16, 8, 4, 1, 0}, {2, 700, 12, 12, 12, 2, 0, 0}, {1, 600, 64, 16, 8, 1, 0, 3}, {1, 1100, 13, 16, 4, 2, 0, 8},
    {2, 257, 1540, 16, 12, 1, 0, 0},
  };
  unsigned seed = 7;
  for (auto& c : cases) run(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], 1, seed++);
  // Two channels a warp (MAMBA_EDGE_CUDA_SCAN_R=2; N 13-16, no polynomial states): a last warp with one channel and a
  // duplicate (I = 63 in blocks of 12, I = 13 in blocks of 4), three passes, misaligned inputs, 1,540 channels.
  const int cases2[][8] = {
    {1, 31, 63, 16, 12, 1, 0, 0}, {3, 257, 8, 16, 8, 1, 0, 0}, {1, 1000, 13, 16, 4, 3, 0, 0}, {2, 300, 64, 16, 8, 1, 1, 0},
    {1, 4099, 4, 16, 4, 1, 0, 0}, {1, 70, 1540, 16, 12, 1, 0, 0}, {2, 700, 13, 13, 12, 2, 0, 0},
  };
  for (auto& c : cases2) run(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], 2, seed++);
  printf("%d failed\n", fails);
  return fails != 0;
}
