// ssd_tiled.cu's kernels on the CPU (tools/cuda-emu/run.mjs ssd): launchSsdTiled's four passes in its order, at
// chunks of 64 and of 128 steps (MAMBA_EDGE_CUDA_SSD=tiled / tiled128), with 16-byte staging where P, N allow it and
// (chunks of 64) with 4-byte staging too,
// each case checked against the SSD recurrence run sequentially in double precision,
//   Δ = clamp(softplus(dt + dt_bias), dtMin, dtMax);  h[p, n] ← exp(Δ·A_h)·h[p, n] + Δ·x_p·B_n;  y_p = Σ_n C_n·h[p, n] + D_h·x_p
// (HF Mamba2Mixer.torch_forward's recurrent form), with test/cuda/scan.test.ts's tolerance, 1e-4 of max(1, |ref|):
// a wrong index, a missing term or a dropped chunk is O(1) off; f32 sums in another order are ~1e-6.
#include "kern.inc"  // written by run.mjs: ssd_tiled.cu's kernels with emu.h
#include <thread>
#include <vector>
#include <random>
#include <cstdio>
using namespace me;
/** launchSsdTiled (ssdTiledT<L>) with each <<<grid, 256>>> run block by block (the carry, barrier-free, thread by thread). */
template <int L> void ssdTiled(const ScanShape& sh, const ScanArgs& a, std::vector<float>& scratch, bool vec) {
  const SsdTiledScratch l = ssdTiledScratch(sh, L);
  scratch.assign(l.total, NAN);  // NaN: a read of a slot no pass wrote shows in y (ASan stops a read past the end)
  float *hs = scratch.data() + l.hs, *aEnd = scratch.data() + l.aEnd, *cbT = scratch.data() + l.cb;
  const int nC = (sh.T + L - 1) / L;
  const unsigned bch = (unsigned)((int64_t)sh.B * nC * sh.H), pTiles = (unsigned)((sh.P + 63) / 64), nTiles = (unsigned)((sh.N + 63) / 64);
  launch(dim3(bch, nTiles * pTiles), kStThreads, [&] { ssdTiledState<L>(sh, a, nC, hs, aEnd, vec); });
  const unsigned nb = blocksFor((int64_t)sh.B * sh.H * sh.N * sh.P, kStThreads);
  me_emu::gdim = dim3(nb, 1, 1); me_emu::bdim = dim3(kStThreads, 1, 1);
  for (unsigned bx = 0; bx < nb; bx++) { me_emu::bid = make_uint3(bx, 0, 0); for (int t = 0; t < kStThreads; t++) { me_emu::tid = make_uint3(t, 0, 0); ssdTiledCarry(sh, nC, a.state, hs, aEnd); } }
  launch(dim3((unsigned)((int64_t)sh.B * nC * sh.G), (L / 64) * (L / 64)), kStThreads, [&] { ssdTiledCb<L>(sh, a, nC, cbT); });
  launch(dim3(bch, (L / 64) * pTiles), kStThreads, [&] { ssdTiledOut<L>(sh, a, nC, hs, cbT, vec); });
}
int fails = 0;
double worstAll = 0;
void run(int L, bool scalar, int B, int T, int H, int P, int G, int N, unsigned seed) {
  std::mt19937 g(seed); std::uniform_real_distribution<float> u(-1, 1);
  auto r = [&](size_t n, float s = 1, float sh = 0) { std::vector<float> v(n); for (auto& x : v) x = u(g) * s + sh; return v; };
  const int I = H * P, GN = G * N;
  auto x = r((size_t)B*T*I), dt = r((size_t)B*T*H, 2), Bm = r((size_t)B*T*GN), Cm = r((size_t)B*T*GN);
  auto bias = r(H), D = r(H), h0 = r((size_t)B*I*N); auto A = r(H); for (auto& v : A) v = -2 * fabsf(v) - 0.1f;
  std::vector<float> y((size_t)B*T*I, NAN), st = h0, scratch;
  const float dtMin = 0.001f, dtMax = 1.5f;
  ScanShape sh{true, B, T, I, N, H, P, G, dtMin, dtMax};
  ScanArgs a{x.data(), dt.data(), bias.data(), A.data(), Bm.data(), Cm.data(), D.data(), nullptr, st.data(), y.data()};
  const bool vec = !scalar && ssdTiledVec(sh, a);  // launchSsdTiled's choice, or the 4-byte staging forced
  if (L == 128) ssdTiled<128>(sh, a, scratch, vec); else ssdTiled<64>(sh, a, scratch, vec);
  double worst = 0;
  for (int b = 0; b < B; b++) for (int hh = 0; hh < H; hh++) {
    const int gg = hh / (H / G);
    std::vector<double> h((size_t)P * N);
    for (size_t k = 0; k < h.size(); k++) h[k] = h0[((size_t)b*I + (size_t)hh*P)*N + k];
    for (int t = 0; t < T; t++) {
      const size_t row = (size_t)b*T + t;
      double v = (double)dt[row*H + hh] + bias[hh]; double d = v > 20 ? v : log1p(exp(v)); d = std::min<double>(std::max<double>(d, dtMin), dtMax);
      const double dA = exp(d * A[hh]);
      const float* Bt = &Bm[row*GN + (size_t)gg*N]; const float* Ct = &Cm[row*GN + (size_t)gg*N];
      for (int p = 0; p < P; p++) {
        const double xv = x[row*I + (size_t)hh*P + p]; double acc = 0;
        for (int n = 0; n < N; n++) { double& hv = h[(size_t)p*N + n]; hv = dA * hv + d * xv * Bt[n]; acc += hv * Ct[n]; }
        const double yv = acc + D[hh] * xv, got = y[row*I + (size_t)hh*P + p];
        worst = std::max(worst, fabs(yv - got) / std::max(1.0, fabs(yv)));
        if (std::isnan(got)) worst = INFINITY;
      }
    }
    for (size_t k = 0; k < h.size(); k++) {
      const double w = h[k], gv = st[((size_t)b*I + (size_t)hh*P)*N + k];
      worst = std::max(worst, fabs(w - gv) / std::max(1.0, fabs(w))); if (std::isnan(gv)) worst = INFINITY;
    }
  }
  const bool ok = worst < 1e-4; if (!ok) fails++;
  worstAll = std::max(worstAll, worst);
  printf("%s L %d, %s: B %d T %d H %d P %d G %d N %d (%d chunks): worst %.2e\n", ok ? "ok  " : "FAIL", L, vec ? "16-byte staging" : "4-byte staging", B, T, H, P, G, N, (T + L - 1) / L, worst);
  fflush(stdout);
}
int main() {
  // [B, T, H, P, G, N]: T around a 64-step chunk (1, 2, 63, 64, 65, 127), long T (1,000 = 16 chunks, the carry's
  // 16 loaded ahead exactly; 1,100 = 18, its remainder), odd head counts, batch 2, groups shared by several heads,
  // T around a 128-step chunk (127, 128, 129), the models' P = 64 / N = 128, P and N off the 64-wide tiles (5, 70; 24, 130), a random carried state throughout.
  int cases[][6] = {{2,1,3,64,1,128},{2,2,3,64,1,128},{1,63,3,64,1,128},{1,64,3,64,1,128},{2,65,3,64,1,128},{2,127,5,16,1,32},
    {1,127,3,64,1,128},{1,128,3,64,1,128},{2,129,3,64,1,128},{2,1000,3,64,1,128},{1,1100,4,16,2,32},{2,300,6,32,3,64},{2,130,3,5,1,24},{1,200,3,70,3,130},{1,2200,1,8,1,16},{2,129,5,17,5,7}};
  unsigned seed = 1;
  for (int L : {64, 128})
    for (auto& c : cases) {
      run(L, false, c[0], c[1], c[2], c[3], c[4], c[5], seed++);
      if (L == 64 && c[3] % 4 == 0 && c[5] % 4 == 0) run(L, true, c[0], c[1], c[2], c[3], c[4], c[5], seed++);  // the 4-byte path too
    }
  printf("%d failed; worst %.2e\n", fails, worstAll);
  return fails != 0;
}
