// scan_tiled.cu's kernels on the CPU (tools/cuda-emu/run.mjs): tiledN's launch sequence, each case checked
// against a sequential scan in double precision (test/cuda/scan.test.ts's tolerance, 1e-4 of max(1, |ref|)).
#include "kern.inc"  // written by run.mjs: scan_tiled.cu's kernels with emu.h
using namespace me;
#include "scan_check.h"
/** scan_tiled.cu's tiledN with each <<<grid, 64>>> launch run block by block. */
template <int N4> void tiled(const ScanShape& sh, const ScanArgs& a, int chunks, float* scratch, bool vec) {
  const unsigned gx = (unsigned)((int64_t)sh.B * ((sh.I + kTC - 1) / kTC));
  if (chunks <= 1) { launch(dim3(gx, 1), kTC, [&] { scanTiledPass<true, N4>(sh, a, 1, sh.T, nullptr, nullptr, kFromState, kToState, vec); }); return; }
  const int chunkLen = (sh.T + chunks - 1) / chunks;
  chunks = (sh.T + chunkLen - 1) / chunkLen;
  float* hc = scratch; float* sd = hc + (size_t)sh.B * chunks * sh.N * sh.I;
  launch(dim3(gx, chunks), kTC, [&] { scanTiledPass<false, N4>(sh, a, chunks, chunkLen, hc, sd, kFromZero, kToScratch, vec); });
  const int64_t total = (int64_t)sh.B * sh.N * sh.I;
  const unsigned nb = blocksFor(total, 128);
  me_emu::gdim = dim3(nb, 1, 1); me_emu::bdim = dim3(128, 1, 1);
  for (unsigned bx = 0; bx < nb; bx++) { me_emu::bid = make_uint3(bx, 0, 0); for (int t = 0; t < 128; t++) { me_emu::tid = make_uint3(t, 0, 0); scanTiledCarry(sh, a.A, a.state, hc, sd, chunks); } }
  launch(dim3(gx, chunks), kTC, [&] { scanTiledPass<true, N4>(sh, a, chunks, chunkLen, hc, sd, kFromScratch, kNoEnd, vec); });
}
void tiledAny(const ScanShape& sh, const ScanArgs& a, int chunks, float* scratch, bool vec) {
  const int N4 = (sh.N + 3) / 4;
  if (N4 == 1) tiled<1>(sh, a, chunks, scratch, vec); else if (N4 == 2) tiled<2>(sh, a, chunks, scratch, vec);
  else if (N4 == 3) tiled<3>(sh, a, chunks, scratch, vec); else tiled<4>(sh, a, chunks, scratch, vec);
}
/** scanTiledChunks at the default chunk of 64 (these shapes never fill a GPU by their channels). */
int chunksFor(int T) { return T <= 64 ? 1 : (T + 63) / 64; }
int main() {
  int cases[][4] = {{2,1,13,16},{2,2,13,16},{2,127,13,16},{1,255,9,16},{1,256,9,16},{1,257,9,16},{2,1000,13,16},{2,1000,300,16},{2,700,301,16},{3,513,6,5},
    {1,63,70,16},{2,64,64,16},{2,65,65,16},{1,129,13,12},{2,1100,13,16},{2,1100,67,8},{1,300,9,3},{1,2200,5,16}};
  unsigned seed = 1;
  for (auto& c : cases) {
    for (int one = 0; one < 2; one++) {
      int ch = one ? 1 : chunksFor(c[1]);
      run(tiledAny, c[0], c[1], c[2], c[3], ch, c[3] % 4 == 0, seed++);
      if (c[3] % 4 == 0) run(tiledAny, c[0], c[1], c[2], c[3], ch, false, seed++);
    }
  }
  printf("%d failed\n", fails);
  return fails != 0;
}
