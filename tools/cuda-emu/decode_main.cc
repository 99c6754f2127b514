// decode.cu's decodeGemv on the CPU (tools/cuda-emu/run.mjs decode): launchDecodeGemv's grid and S (splitFor,
// or forced through setDecodeSplit) with each block run as 256 threads, against double-precision sums. Cases:
// K with an odd float4 count (193, 385) and K = 20 (slices with no work), three matrices of 7 / 130 / 769 rows
// (the last block's columns partly past the end), prologues 0 / 1 (add + RMSNorm) / 2 (gated, 4 groups), the
// conv epilogue on one output, the greedy draw on one matrix; 2 and 8 "SMs" so the grid is capped and blocks
// take several column groups (the double-buffered partial sums), 132 for splitFor's choice at out_proj's shape.
#include "kern.inc"  // written by run.mjs: decode.cu's GEMV with decode_emu.h
#include <thread>
#include <random>
#include <cstdio>
#include <array>
using namespace me;
template <class F> void launch(unsigned grid, int threads, size_t smemFloats, F f) {
  me_emu::gdim = dim3(grid, 1, 1); me_emu::bdim = dim3(threads, 1, 1);
  std::vector<float4> smem((smemFloats + 3) / 4 + 1);
  for (unsigned bx = 0; bx < grid; bx++) {
    me_emu::bid = make_uint3(bx, 0, 0);
    std::fill(smem.begin(), smem.end(), make_float4(NAN, NAN, NAN, NAN));  // stale shared memory shows as NaN
    me_emu::dyn = smem.data();
    std::barrier<> bar(threads); me_emu::bar = &bar;
    me_emu::warpBar.clear();
    for (int w = 0; w < threads / 32; w++) me_emu::warpBar.push_back(std::make_unique<std::barrier<>>(32));
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) ts.emplace_back([&, t] { me_emu::tid = make_uint3(t, 0, 0); f(); });
    for (auto& t : ts) t.join();
  }
}
int fails = 0;
std::mt19937 g(7);
std::vector<float> rnd(size_t n, float s = 1) { std::uniform_real_distribution<float> u(-1, 1); std::vector<float> v(n); for (auto& x : v) x = u(g) * s; return v; }
/** One launch as launchDecodeGemv makes it (its grid, S and shared size), EPI 0 / 1 / 2. */
void run(int K, int proKind, int epi, int sms, int mode, int expectS = 0) {
  const std::vector<int> Ms = epi == 2 ? std::vector<int>{769} : std::vector<int>{7, 130, 769};
  auto x = rnd(K), xb = rnd(K), nw = rnd(K, 2);
  std::vector<std::vector<float>> W, Bi, Y;
  GemvBatch batch{};
  batch.count = (int)Ms.size();
  int total = 0;
  for (size_t i = 0; i < Ms.size(); i++) {
    W.push_back(rnd((size_t)Ms[i] * K)); Bi.push_back(rnd(Ms[i])); Y.push_back(std::vector<float>(Ms[i], NAN));
    batch.item[i] = GemvItem{Y[i].data(), W[i].data(), i == 1 ? nullptr : Bi[i].data(), Ms[i]};
    total += Ms[i];
  }
  std::vector<float> sum(K, NAN), normed(K, NAN);
  RowPrologue pro{};
  pro.kind = proKind; pro.a = x.data(); pro.b = proKind ? xb.data() : nullptr; pro.w = nw.data(); pro.sum = proKind == 1 ? sum.data() : nullptr;
  pro.normed = proKind ? normed.data() : nullptr; pro.eps = 1e-5f; pro.group = K / 4;
  // conv epilogue on item 1 (130 channels, K 4, bias, silu)
  const int CC = 130, CK = 4;
  auto cw = rnd((size_t)CC * CK), cb = rnd(CC), cs0 = rnd((size_t)CC * (CK - 1));
  std::vector<float> cs = cs0, cout(CC, NAN), snap(cs.size(), NAN);
  ConvEpilogues e{};
  if (epi == 1) { e.count = 1; e.K = CK; e.silu = true; e.e[0] = ConvEpilogue{1, cw.data(), cb.data(), cs.data(), cout.data(), snap.data()}; }
  unsigned long long scratch[2] = {0, 0}; uint32_t amOut[5] = {9, 9, 9, 9, 9}; int32_t idOut = -5;
  ArgmaxEpilogue am{scratch, amOut, &idOut};
  setDecodeSplit(mode);
  const int S = splitFor(total, K, sms);
  if (expectS && S != expectS) { printf("FAIL splitFor(%d, %d, %d) = %d, expected %d\n", total, K, sms, S, expectS); fails++; }
  const unsigned grid = (unsigned)std::min<int64_t>(blocksFor(total, kDgWarps / S), 4LL * std::max(1, sms));
  const size_t smem = (size_t)K + (S > 1 ? 2 * kDgWarps : 0);
  if (epi == 0) launch(grid, kDgWarps * 32, smem, [&] { decodeGemv<kF32, 0>(batch, x.data(), K, pro, total, e, am, S); });
  if (epi == 1) launch(grid, kDgWarps * 32, smem, [&] { decodeGemv<kF32, 1>(batch, x.data(), K, pro, total, e, am, S); });
  if (epi == 2) launch(grid, kDgWarps * 32, smem, [&] { decodeGemv<kF32, 2>(batch, x.data(), K, pro, total, e, am, S); });
  // the row in double precision (norms.cu's definitions)
  std::vector<double> row(K);
  if (proKind == 0) for (int k = 0; k < K; k++) row[k] = x[k];
  if (proKind == 1) { double ss = 0; for (int k = 0; k < K; k++) { row[k] = (double)x[k] + xb[k]; ss += row[k] * row[k]; } const double inv = 1 / sqrt(ss / K + 1e-5); for (int k = 0; k < K; k++) row[k] = nw[k] * row[k] * inv; }
  if (proKind == 2) for (int g0 = 0; g0 < K; g0 += K / 4) { double ss = 0; for (int k = g0; k < g0 + K / 4; k++) { row[k] = x[k] * (xb[k] / (1 + exp(-(double)xb[k]))); ss += row[k] * row[k]; } const double inv = 1 / sqrt(ss / (K / 4) + 1e-5); for (int k = g0; k < g0 + K / 4; k++) row[k] = nw[k] * row[k] * inv; }
  double worst = 0;
  auto cmp = [&](double want, float got) { worst = std::max(worst, std::isnan(got) ? INFINITY : fabs(want - got) / std::max(1.0, fabs(want))); };
  for (size_t i = 0; i < Ms.size(); i++) for (int m = 0; m < Ms[i]; m++) {
    double acc = batch.item[i].bias ? batch.item[i].bias[m] : 0; for (int k = 0; k < K; k++) acc += (double)W[i][(size_t)m * K + k] * row[k];
    cmp(acc, Y[i][m]);
  }
  if (proKind) for (int k = 0; k < K; k++) cmp(row[k], normed[k]);
  if (proKind == 1) for (int k = 0; k < K; k++) cmp((double)x[k] + xb[k], sum[k]);
  if (epi == 1) for (int c = 0; c < CC; c++) {  // conv of the kernel's own y (conv1dStepBatch's arithmetic)
    double acc = cb[c]; for (int k = 0; k < CK - 1; k++) acc += (double)cw[c * CK + k] * cs0[c * (CK - 1) + k];
    acc += (double)cw[c * CK + CK - 1] * Y[1][c]; cmp(acc / (1 + exp(-acc)), cout[c]);
    for (int k = 0; k < CK - 1; k++) { cmp(cs0[c * (CK - 1) + k], snap[c * (CK - 1) + k]); cmp(k + 1 < CK - 1 ? cs0[c * (CK - 1) + k + 1] : Y[1][c], cs[c * (CK - 1) + k]); }
  }
  if (epi == 2) {
    int best = 0; for (int m = 1; m < Ms[0]; m++) if (Y[0][m] > Y[0][best]) best = m;
    if (amOut[0] != 1 || (int)amOut[1] != best || (int)amOut[4] != best || idOut != best || scratch[0] || scratch[1]) worst = INFINITY;
  }
  const bool ok = worst < 2e-5 * sqrt(K / 64.0) + 1e-6; if (!ok) fails++;  // test/cuda/decode.test.ts's tolerance: f32 sums in another order
  printf("%s K %d prologue %d epilogue %d SMs %d mode %d: S %d, grid %u, worst %.2e\n", ok ? "ok  " : "FAIL", K, proKind, epi, sms, mode, S, grid, worst);
}
/** ssdStep<false, HOLD> (batch 1, one token) as launchSsdStep launches it, twice: HOLD's outputs must equal the plain loop's bit for bit. */
void ssd(int H, int P, int G, int N, bool snap) {
  const int I = H * P;
  int L = 1;
  while (L < N && L < 32) L <<= 1;
  auto x = rnd(I), dt = rnd(H, 2), Bm = rnd((size_t)G * N), Cm = rnd((size_t)G * N), dtBias = rnd(H, 0.5), A = rnd(H), D = rnd(H), h0 = rnd((size_t)I * N);
  for (auto& v : A) v = -fabsf(v) - 0.05f;
  std::vector<float> outs[2][3];
  for (int hold = 0; hold < 2; hold++) {
    std::vector<float> st = h0, y(I, NAN), sn(snap ? h0.size() : 0, NAN);
    SsdStepArgs a{};
    a.x = x.data(); a.dt = dt.data(); a.dtBias = dtBias.data(); a.A = A.data(); a.Bm = Bm.data(); a.Cm = Cm.data(); a.D = D.data();
    a.state = st.data(); a.y = y.data(); a.H = H; a.P = P; a.G = G; a.N = N; a.dtMin = 0.01f; a.dtMax = 1.5f; a.snap = snap ? sn.data() : nullptr;
    const unsigned grid = blocksFor((int64_t)I * L, 256);
    if (hold) launch(grid, 256, 0, [&] { ssdStep<false, true>(a, SsdConv{}, L); });
    else launch(grid, 256, 0, [&] { ssdStep<false, false>(a, SsdConv{}, L); });
    outs[hold][0] = y; outs[hold][1] = st; outs[hold][2] = sn;
  }
  double worst = 0;
  for (int c = 0; c < I; c++) {
    const int head = c / P, g = head / (H / G);
    double v = (double)dt[head] + dtBias[head]; double d = v > 20 ? v : log1p(exp(v)); d = std::min(std::max(d, 0.01), 1.5);
    double acc = 0;
    for (int n = 0; n < N; n++) {
      const double h = exp(d * A[head]) * h0[(size_t)c * N + n] + d * x[c] * Bm[(size_t)g * N + n];
      acc += h * Cm[(size_t)g * N + n];
      worst = std::max(worst, fabs(h - outs[1][1][(size_t)c * N + n]) / std::max(1.0, fabs(h)));
    }
    const double y = acc + D[head] * x[c];
    worst = std::max(worst, std::isnan(outs[1][0][c]) ? INFINITY : fabs(y - outs[1][0][c]) / std::max(1.0, fabs(y)));
  }
  bool same = true;
  for (int k = 0; k < 3; k++) same = same && (outs[0][k].empty() || memcmp(outs[0][k].data(), outs[1][k].data(), outs[0][k].size() * 4) == 0);
  if (snap) same = same && memcmp(outs[1][2].data(), h0.data(), h0.size() * 4) == 0;
  const bool ok = same && worst < 1e-5; if (!ok) fails++;
  printf("%s ssdStep H %d P %d G %d N %d snap %d: held = plain bit for bit %d, worst %.2e\n", ok ? "ok  " : "FAIL", H, P, G, N, snap, same, worst);
}
/**
 * Ping-pong (MAMBA_EDGE_CUDA_PINGPONG): a kernel reading the state before the step from `src` and writing the new
 * one to a separate `dst` (filled with NaN first: every entry must be written) gives, bit for bit, the outputs and
 * the state it gives in place, and leaves `src` as it was. `step(src, dst, outs)` launches the kernel: src == dst
 * is the in-place run. Several state buffers (a kernel writing two states) are one vector here, split by the caller.
 */
template <class F> void pingPong(const char* what, const std::vector<float>& s0, int nOuts, size_t outLen, F step) {
  std::vector<float> inPlace = s0, src = s0, dst(s0.size(), NAN);
  std::vector<std::vector<float>> o1(nOuts, std::vector<float>(outLen, NAN)), o2 = o1;
  step(inPlace.data(), inPlace.data(), o1);
  step(src.data(), dst.data(), o2);
  bool same = memcmp(inPlace.data(), dst.data(), s0.size() * 4) == 0 && memcmp(src.data(), s0.data(), s0.size() * 4) == 0;
  for (int i = 0; i < nOuts; i++) same = same && memcmp(o1[i].data(), o2[i].data(), outLen * 4) == 0;
  bool moved = memcmp(inPlace.data(), s0.data(), s0.size() * 4) != 0;  // the step did change the state
  const bool ok = same && moved; if (!ok) fails++;
  printf("%s ping-pong %s: src != dst = in place bit for bit %d, state changed %d\n", ok ? "ok  " : "FAIL", what, same, moved);
}
void pingPongCases() {
  {  // the conv epilogue of a decode GEMV (item 1 of 3: 130 channels, K 4), with and without the undo point
    const int K = 772, CC = 130, CK = 4;
    const std::vector<int> Ms{7, 130, 769};
    auto x = rnd(K), cw = rnd((size_t)CC * CK), cb = rnd(CC), cs0 = rnd((size_t)CC * (CK - 1));
    std::vector<std::vector<float>> W;
    for (int M : Ms) W.push_back(rnd((size_t)M * K));
    for (int snapOn = 0; snapOn < 2; snapOn++) {
      std::vector<float> snap(cs0.size(), NAN);
      pingPong(snapOn ? "conv epilogue (with undo point)" : "conv epilogue", cs0, 4, 769, [&](float* src, float* dst, std::vector<std::vector<float>>& o) {
        GemvBatch batch{};
        batch.count = 3;
        for (int i = 0; i < 3; i++) batch.item[i] = GemvItem{o[i].data(), W[i].data(), nullptr, Ms[i]};
        ConvEpilogues e{};
        e.count = 1; e.K = CK; e.silu = true;
        e.e[0] = ConvEpilogue{1, cw.data(), cb.data(), dst, o[3].data(), snapOn ? snap.data() : nullptr, src == dst ? nullptr : src};
        RowPrologue pro{};
        ArgmaxEpilogue am{};
        setDecodeSplit(0);
        launch(blocksFor(906, kDgWarps), kDgWarps * 32, K, [&] { decodeGemv<kF32, 1>(batch, x.data(), K, pro, 906, e, am, 1); });
        if (snapOn && memcmp(snap.data(), cs0.data(), cs0.size() * 4) != 0) { printf("FAIL conv epilogue undo point\n"); fails++; }
      });
    }
  }
  for (int hold = 0; hold < 2; hold++) for (auto [H, P, G, N] : {std::array<int, 4>{6, 5, 3, 7}, {3, 9, 1, 200}, {4, 16, 2, 128}}) {  // ssdStep (N 200: part held, part looped)
    const int I = H * P;
    int L = 1;
    while (L < N && L < 32) L <<= 1;
    auto x = rnd(I), dt = rnd(H, 2), Bm = rnd((size_t)G * N), Cm = rnd((size_t)G * N), dtBias = rnd(H, 0.5), A = rnd(H), D = rnd(H), h0 = rnd((size_t)I * N);
    for (auto& v : A) v = -fabsf(v) - 0.05f;
    char what[96];
    snprintf(what, sizeof what, "ssdStep hold %d H %d P %d G %d N %d", hold, H, P, G, N);
    pingPong(what, h0, 1, I, [&](float* src, float* dst, std::vector<std::vector<float>>& o) {
      SsdStepArgs a{};
      a.x = x.data(); a.dt = dt.data(); a.dtBias = dtBias.data(); a.A = A.data(); a.Bm = Bm.data(); a.Cm = Cm.data(); a.D = D.data();
      a.state = dst; a.stateIn = src == dst ? nullptr : src; a.y = o[0].data(); a.H = H; a.P = P; a.G = G; a.N = N; a.dtMin = 0.01f; a.dtMax = 1.5f;
      const unsigned grid = blocksFor((int64_t)I * L, 256);
      if (hold) launch(grid, 256, 0, [&] { ssdStep<false, true>(a, SsdConv{}, L); });
      else launch(grid, 256, 0, [&] { ssdStep<false, false>(a, SsdConv{}, L); });
    });
  }
  for (auto [I, N, R, CK] : {std::array<int, 4>{37, 7, 5, 4}, {70, 40, 9, 3}}) {  // scanDtStep with the conv shift a folded conv left (two states: h, then the conv's)
    int L = 1;
    while (L < N && L < 32) L <<= 1;
    auto x = rnd(I), dtLow = rnd(R), wDt = rnd((size_t)I * R), dtBias = rnd(I, 0.5), A = rnd((size_t)I * N), Bm = rnd(N), Cm = rnd(N), D = rnd(I), z = rnd(I);
    auto convX = rnd(I);
    for (auto& v : A) v = -fabsf(v) - 0.05f;
    const size_t nh = (size_t)I * N, nc = (size_t)I * (CK - 1);
    auto s0 = rnd(nh + nc);
    char what[96];
    snprintf(what, sizeof what, "scanDtStep + conv shift I %d N %d R %d K %d", I, N, R, CK);
    pingPong(what, s0, 2, I, [&](float* src, float* dst, std::vector<std::vector<float>>& o) {
      ScanDtArgs a{};
      a.x = x.data(); a.dtLow = dtLow.data(); a.wDt = wDt.data(); a.dtBias = dtBias.data(); a.A = A.data(); a.Bm = Bm.data(); a.Cm = Cm.data();
      a.D = D.data(); a.z = z.data(); a.state = dst; a.y = o[0].data(); a.dtOut = o[1].data(); a.I = I; a.N = N; a.R = R;
      a.convState = dst + nh; a.convX = convX.data(); a.convK = CK;
      if (src != dst) { a.stateIn = src; a.convIn = src + nh; }
      launch(blocksFor((int64_t)I * L, 256), 256, 0, [&] { scanDtStep<kF32>(a, L); });
    });
  }
  {  // convShift (a conv folded into a GEMV left it)
    const int C = 301, K = 4;
    auto x = rnd(C);
    pingPong("convShift C 301 K 4", rnd((size_t)C * (K - 1)), 0, 0, [&](float* src, float* dst, std::vector<std::vector<float>>&) {
      launch(blocksFor(C, 256), 256, 0, [&] { convShift(dst, src, x.data(), C, K); });
    });
  }
  {  // conv1dStepBatch: three convs (Mamba-2's x, B, C; the undo point on one), batch 2
    const int B = 2, K = 4;
    const int Cs[3] = {37, 12, 12};
    std::vector<std::vector<float>> xs, ws, bs;
    size_t total = 0;
    for (int C : Cs) { xs.push_back(rnd((size_t)B * C)); ws.push_back(rnd((size_t)C * K)); bs.push_back(rnd(C)); total += (size_t)B * C * (K - 1); }
    std::vector<float> snap((size_t)B * Cs[0] * (K - 1), NAN);
    pingPong("conv1dStepBatch (3 convs, batch 2)", rnd(total), 3, (size_t)B * 37, [&](float* src, float* dst, std::vector<std::vector<float>>& o) {
      Conv1dStepBatch batch{};
      batch.count = 3;
      size_t off = 0;
      for (int j = 0; j < 3; j++) {
        batch.item[j] = Conv1dStepItem{o[j].data(), xs[j].data(), ws[j].data(), j == 1 ? nullptr : bs[j].data(), dst + off, Cs[j], j == 0 ? snap.data() : nullptr,
                                       src == dst ? nullptr : src + off};
        off += (size_t)B * Cs[j] * (K - 1);
      }
      int64_t n = 0;
      for (int C : Cs) n += (int64_t)B * C;
      launch(blocksFor(n, 256), 256, 0, [&] { conv1dStepBatch(batch, B, K, true); });
    });
  }
}
int main() {
  pingPongCases();
  ssd(6, 5, 3, 7, false); ssd(4, 16, 2, 40, true); ssd(24, 64, 1, 128, true); ssd(3, 9, 1, 200, false); ssd(2, 3, 1, 5, true);
  for (int K : {20, 772, 1540})
    for (int mode : {0, 2, 4, 8})
      for (int epi : {0, 1, 2}) run(K, epi == 1 ? 2 : epi == 2 ? 1 : 0, epi, mode == 4 ? 8 : 2, mode);
  run(1540, 1, 1, 2, -1);
  run(1536, 0, 0, 132, -1, 4);  // out_proj's shape class (3 matrices here: 906 columns; 768 alone is S = 4 too)
  printf("splitFor at the 130M shapes on 132 SMs: out_proj 768x1536 -> %d, mamba2 in_proj 3352x768 -> %d, head 50280x768 -> %d, mamba1 x_proj 80x1536 -> %d\n",
         (setDecodeSplit(-1), splitFor(768, 1536, 132)), splitFor(3352, 768, 132), splitFor(50280, 768, 132), splitFor(80, 1536, 132));
  setDecodeSplit(0);
  printf("%s\n", fails ? "FAILED" : "all ok");
  return fails ? 1 : 0;
}
