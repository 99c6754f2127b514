# CUDADEC2 (issue 9): mamba2-130m CUDA decode toward 60 % of the copy roofline. Two opt-in switches, both
# UNMEASURED on a GPU (compiled with nvcc on the CPU machine only; the test/cuda suites skip there):
#   MAMBA_EDGE_CUDA_SPLITK=on  decode.cu decodeGemv gives a matrix with few rows S warps per output column over
#                              K slices (split-K, fixed-order shared-memory sum); S chosen per launch (out_proj of
#                              both 130M models, 768 × 1,536: S = 4 on 132 SMs; in_proj and the head: S = 1).
#                              =2/4/8 forces S for every launch (tests: the head's greedy-draw epilogue split too).
#   MAMBA_EDGE_CUDA_SSDHOLD=on decode.cu ssdStep (Mamba-2 only) loads each lane's 4 state entries + B, C before its
#                              first store: one DRAM round trip instead of four (bit-equal results).
# For .dev-lead2/run.sh (sourced after steps.sh: stamp, cap, summ, cudab, $VT, $RES, $L), the CUDA addon
# rebuilt from h/cudadec2 (CPU check here: node tools/cuda-emu/run-decode.mjs, 43 cases pass). At most 88 s of device time (caps 22 + 12 + 3 × 18). The bench rows assume /tmp/cb
# already holds the two models (step_cuda_bench / cuda_quick before it); if it runs first, give the first
# cudab row 30 s instead.
#
# 1. Correctness with the switches on: test/cuda/decode.test.ts (incl. the new split-K case at S = 2/4/8/auto
#    and the SSD hold on/off bit-equality case) + runahead.test.ts (step graphs, greedy draw in the head's
#    epilogue), SPLITK=on SSDHOLD=on; then SPLITK=8 forced (every decode GEMV split, the head's argmax epilogue
#    included) on runahead's greedy cases + the transformers goldens (every decode step of real checkpoints).
# 2. Decode A/B, one process per row, mamba2-130m first (the target): off | SPLITK=on | SPLITK=on SSDHOLD=on.
step_cudadec2() {
  stamp "cudadec2: SPLITK=on SSDHOLD=on — test/cuda/decode + runahead"
  MAMBA_EDGE_CUDA_SPLITK=on MAMBA_EDGE_CUDA_SSDHOLD=on timeout $(cap 22) $VT test/cuda/decode.test.ts test/cuda/runahead.test.ts > $RES/cudadec2-on.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/cudadec2-on.log 6
  stamp "cudadec2: SPLITK=8 forced — runahead greedy + goldens"
  MAMBA_EDGE_CUDA_SPLITK=8 MAMBA_EDGE_CUDA_SSDHOLD=on timeout $(cap 12) $VT test/cuda/runahead.test.ts test/cuda/goldens.test.ts -t "greedy|cuda, f32" > $RES/cudadec2-split8.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/cudadec2-split8.log 6
  local CB_ARGS="--dir /tmp/cb --models mamba2-130m,mamba-130m"  # cudab reads it (dynamic scope): the target model's rows first
  CAPB=18 cudab cudadec2-off X=1
  CAPB=18 cudab cudadec2-splitk MAMBA_EDGE_CUDA_SPLITK=on
  CAPB=18 cudab cudadec2-both MAMBA_EDGE_CUDA_SPLITK=on MAMBA_EDGE_CUDA_SSDHOLD=on
}
# What makes each the default (one line each in src/backends/cuda/index.ts):
# - Both: step 1 passes ("Tests N passed", none failed) in both runs. A failure in the split-8 run only (e.g. a
#   greedy token differing from wasm at a near tie) is not a bug by itself; send the log back to this branch.
# - SPLITK: the splitk row's mamba2-130m "recorded step" is ≥ 2 % faster than the off row's (today's 0.594 ms →
#   ≤ 0.582 ms) and its generate tok/s is not lower, AND mamba-130m's recorded step is no more than 1 % slower
#   (it has the same 768 × 1,536 out_proj, so it should gain too). Then make SPLIT_K_MODE's fallback −1
#   (v === 'off' → 0, unset → −1). If mamba2 gains < 2 %: leave it off, record the rows in BENCHMARKS.md.
# - SSDHOLD: the both row's mamba2-130m recorded step is faster than the splitk row's by ≥ 1 % (it changes no
#   result, so any reproducible gain is enough). Then SSD_HOLD = env(...) !== 'off'. mamba-130m rows must be
#   unchanged (±1 %: it does not run ssdStep) — a larger swing there means the rows are noise, so decide nothing.
# Expected: out_proj now runs 96 blocks (768 warps) on 132 SMs; split 4 → 384 blocks, all weights prefetched
# before the PDL wait; ~24 × 2-3 µs a step ≈ 0.05-0.07 ms of 0.594. ssdStep: 4 serial round trips → 1,
# ~24 × 1-2 µs. Together they would reach the 60 % target (≤ 0.592 ms generate step) if half of that shows.
