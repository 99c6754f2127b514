// scan_states.cu's kernel on the CPU (tools/cuda-emu/run.mjs): launchScanStates' launch at both pipeline depths,
// each case checked against a sequential scan in double precision (test/cuda/scan.test.ts's tolerance, 1e-4
// of max(1, |ref|)), with 16- and 4-byte staging.
#include "kern.inc"  // written by run.mjs: scan_states.cu's kernel with emu.h
using namespace me;
#include "scan_check.h"
/** scanStates<DEPTH> as one <<<B·⌈I/8⌉, 128>>> launch, run block by block; vec: 16-byte staging where the shape allows. */
template <int DEPTH> void states(const ScanShape& sh, const ScanArgs& a, int, float*, bool vec) {
  const bool vx = vec && sh.I % 4 == 0, vbc = vec && sh.N % 4 == 0;
  const dim3 grid((unsigned)scanStatesBlocks(sh), 1);
  if (vx && vbc) launch(grid, kSThreads, [&] { scanStates<DEPTH, true, true>(sh, a); });
  else if (vx) launch(grid, kSThreads, [&] { scanStates<DEPTH, true, false>(sh, a); });
  else if (vbc) launch(grid, kSThreads, [&] { scanStates<DEPTH, false, true>(sh, a); });
  else launch(grid, kSThreads, [&] { scanStates<DEPTH, false, false>(sh, a); });
}
int main() {
  // T around the 16-step walk, the 64-step tile and the pipeline's depth; I off the 8-channel block; N below 16.
  int cases[][4] = {{2,1,13,16},{2,2,13,16},{2,15,8,16},{1,16,9,16},{1,17,9,16},{2,63,16,16},{2,64,13,16},{2,65,12,16},{2,127,13,16},
    {1,128,9,16},{1,129,24,16},{1,191,9,16},{1,193,9,16},{2,1000,13,16},{1,700,301,16},{3,513,6,5},{1,300,9,3},{1,257,17,8},
    {1,129,13,12},{1,2200,5,16},{1,100,7,1}};
  unsigned seed = 1;
  for (auto& c : cases) {
    for (int depth = 2; depth <= 3; depth++) {
      auto go = depth == 2 ? states<2> : states<3>;
      run(go, c[0], c[1], c[2], c[3], 1, true, seed++);
      if (c[2] % 4 == 0 || c[3] % 4 == 0) run(go, c[0], c[1], c[2], c[3], 1, false, seed++);
    }
  }
  printf("%d failed\n", fails);
  return fails != 0;
}
