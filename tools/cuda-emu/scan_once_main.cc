// scan_once.cu's kernel on the CPU (tools/cuda-emu/run.mjs): launchScanOnce's one launch, each case checked against
// a sequential scan in double precision (scan_check.h). The cases cross its 512-step tiles (T = 1, 2, 511, 512,
// 513, 1,100, 2,200), its 4-channel blocks (I = 1, 5, 13, 64, 65, 70: idle warps, 4-byte staging) and its
// 8-state halves of B, C (N = 3, 5, 8, 12, 16), at batch 1-3, with 16-byte loads where I and N allow and without.
#include "kern.inc"  // written by run.mjs: scan_once.cu's kernel with emu.h
using namespace me;
#include "scan_check.h"
void onceLaunch(const ScanShape& sh, const ScanArgs& a, int, float*, bool vec) {
  const unsigned gx = (unsigned)((int64_t)sh.B * ((sh.I + kOC - 1) / kOC));
  launch(dim3(gx, 1), kOC * 32, [&] { scanOnce(sh, a, vec && sh.I % 4 == 0, vec && sh.N % 4 == 0); });
}
int main() {
  int cases[][4] = {{2,1,13,16},{2,2,13,16},{1,511,9,16},{1,512,8,16},{2,513,13,16},{1,1100,5,16},{3,600,6,5},
    {1,700,64,16},{2,300,65,8},{1,520,70,12},{1,2200,4,16},{1,530,1,3},{2,100,8,16}};
  unsigned seed = 1;
  for (auto& c : cases) {
    run(onceLaunch, c[0], c[1], c[2], c[3], 1, true, seed++);
    if (c[2] % 4 == 0 || c[3] % 4 == 0) run(onceLaunch, c[0], c[1], c[2], c[3], 1, false, seed++);
  }
  printf("%d failed\n", fails);
  return fails != 0;
}
