// The scan emulation's check (tools/cuda-emu/run.mjs, scan_tiled_main.cc): random inputs of one shape, the kernel's
// launch sequence, and every y and final state against a sequential scan in double precision
// (test/cuda/scan.test.ts's tolerance, 1e-4 of max(1, |ref|)). Include after kern.inc.
#pragma once
#include <vector>
#include <random>
#include <cstdio>
#include <cmath>
int fails = 0;
template <class Launch> void run(Launch&& launchScan, int B, int T, int I, int N, int chunks, bool vec, unsigned seed) {
  std::mt19937 g(seed); std::uniform_real_distribution<float> u(-1, 1);
  auto r = [&](size_t n, float s = 1, float sh = 0) { std::vector<float> v(n); for (auto& x : v) x = u(g) * s + sh; return v; };
  auto x = r((size_t)B*T*I), dt = r((size_t)B*T*I, 2), z = r((size_t)B*T*I), Bm = r((size_t)B*T*N), Cm = r((size_t)B*T*N);
  auto bias = r(I, 0.5), D = r(I), h0 = r((size_t)B*I*N); auto A = r((size_t)I*N); for (auto& v : A) v = -2 * fabsf(v) - 0.05f;
  std::vector<float> y((size_t)B*T*I, NAN), st = h0;
  std::vector<float> scratch((size_t)B*I*chunks*(N+1) + 16, NAN);
  ScanShape sh{false, B, T, I, N, 1, 1, 1, 0, INFINITY};
  ScanArgs a{x.data(), dt.data(), bias.data(), A.data(), Bm.data(), Cm.data(), D.data(), z.data(), st.data(), y.data()};
  launchScan(sh, a, chunks, scratch.data(), vec);
  double worst = 0;
  for (int b = 0; b < B; b++) for (int i = 0; i < I; i++) {
    std::vector<double> h(N); for (int n = 0; n < N; n++) h[n] = h0[((size_t)b*I+i)*N+n];
    for (int t = 0; t < T; t++) {
      size_t k = ((size_t)b*T+t)*I+i; double v = dt[k] + bias[i]; double d = v > 20 ? v : log1p(exp(v)); double acc = 0;
      for (int n = 0; n < N; n++) { h[n] = exp(d * A[(size_t)i*N+n]) * h[n] + d * x[k] * Bm[((size_t)b*T+t)*N+n]; acc += h[n] * Cm[((size_t)b*T+t)*N+n]; }
      double yv = (acc + D[i] * x[k]) * (z[k] / (1 + exp(-z[k])));
      worst = std::max(worst, fabs(yv - y[k]) / std::max(1.0, fabs(yv)));
      if (std::isnan(y[k])) worst = INFINITY;
    }
    for (int n = 0; n < N; n++) { double w = h[n], gv = st[((size_t)b*I+i)*N+n]; worst = std::max(worst, fabs(w - gv) / std::max(1.0, fabs(w))); if (std::isnan(gv)) worst = INFINITY; }
  }
  bool ok = worst < 1e-4; if (!ok) fails++;
  printf("%s B %d T %d I %d N %d chunks %d vec %d: worst %.2e\n", ok ? "ok  " : "FAIL", B, T, I, N, chunks, vec, worst);
}
