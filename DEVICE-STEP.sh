# CUDASSD (issue 9): Mamba-2's SSD prefill as the WebGPU four-pass tiled design on CUDA (gpu/cuda/src/ssd_tiled.cu),
# opt-in MAMBA_EDGE_CUDA_SSD=tiled (64-step chunks) | tiled128 (128-step chunks); ssdMma (ssd.cu, WMMA 3×TF32)
# stays the default. For .dev-lead2/run.sh (sourced after steps.sh: stamp, cap, summ, $VT, $RES, $L defined
# there; the CUDA addon rebuilt from h/cudassd). UNMEASURED on a GPU so far: checked on the CPU only
# (node tools/cuda-emu/run.mjs ssd). At most 71 s of device time (caps 18 + 10 + 16 + 3 × 9).
#
# 1. Correctness of the forced kernel on the GPU (test/cuda/scan.test.ts, Mamba-2 cases: reference backend,
#    1e-4; the chunk count is checked, so the forced kernel did run), tiled + goldens (transformers, 2e-5 of
#    the logit scale), tiled128, and compute-sanitizer memcheck on three tiled128 cases (tails, odd P / N, groups).
# 2. SSD bandwidth A/B at 16,384 tokens, P 64, N 128, one group: 24 heads (mamba2-130m) and 64 (mamba2-1.3b),
#    one process per kernel: default (ssdMma) | tiled | tiled128. Each line: GB/s, % of the copy, ms, chunks.
step_cudassd() {
  stamp "cudassd: MAMBA_EDGE_CUDA_SSD=tiled — Mamba-2 scan cases + goldens"
  MAMBA_EDGE_CUDA_SSD=tiled timeout $(cap 18) $VT test/cuda/scan.test.ts test/cuda/goldens.test.ts -t "Mamba-2|cuda, f32" > $RES/cudassd-tiled.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/cudassd-tiled.log 6
  stamp "cudassd: MAMBA_EDGE_CUDA_SSD=tiled128 — Mamba-2 scan cases"
  MAMBA_EDGE_CUDA_SSD=tiled128 timeout $(cap 10) $VT test/cuda/scan.test.ts -t "Mamba-2" > $RES/cudassd-tiled128.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/cudassd-tiled128.log 6
  stamp "cudassd: memcheck, tiled128 (its 64-row tiles: C·Bᵀ and output blocks below the diagonal)"
  MAMBA_EDGE_CUDA_SSD=tiled128 timeout $(cap 16) compute-sanitizer --tool memcheck --print-limit 5 $VT test/cuda/scan.test.ts -t "ssdChunkScan: (batch 2, T = 129 as|batch 1, T = 200 as|batch 1, T = 1100 as)" > $RES/cudassd-memcheck.log 2>&1
  grep -E "ERROR SUMMARY|Tests " $RES/cudassd-memcheck.log | tail -2 | tee -a $L
  for k in default tiled tiled128; do
    stamp "cudassd: SSD bandwidth, $k"
    local e=X=1; [ $k != default ] && e=MAMBA_EDGE_CUDA_SSD=$k
    env $e timeout $(cap 9) node --import tsx bench/cuda.ts --only-bandwidth --no-selective --ssd-heads 24,64 --scan-reps 20 --json $RES/cudassd-bw-$k.json 2>&1 | grep -E "GB/s|Error" | sed "s/^/[$k] /" | cut -c1-240 | tee -a $L
  done
}
# What makes it the default (kSsdTiledDefault in ssd_tiled.cu: 0 → 64 or 128, one line):
# - correct: step 1's runs pass ("Tests N passed", no failed) and the memcheck says "ERROR SUMMARY: 0 errors";
# - faster: the better of tiled / tiled128 takes less time than the default (ssdMma) row at BOTH 24 and 64 heads,
#   by more than ~5 % (run-to-run noise of one process's 20 reps). Set kSsdTiledDefault to that chunk length
#   (64 for tiled, 128 for tiled128). Expected from the WGSL on the same H100 (0.88 ms at chunk 128, 8 rows a
#   thread; 0.99 ms at chunk 64, 4 rows) vs ssdMma's 2.25 ms at 24 heads: ~1.0 ms or less here.
# - If correct but slower: leave kSsdTiledDefault = 0, record the rows in BENCHMARKS.md. If a test fails or memcheck
#   reports errors: leave it off and send the log ($RES/cudassd-*.log) back to this branch.
