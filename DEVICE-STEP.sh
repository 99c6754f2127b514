# h/webprof's device step (style of /work/main/.dev-lead2/steps.sh: $RES, $L, cap, stamp defined there).
# Where a WebGPU decode step's GPU time goes on the H100, kernel by kernel (issue 5): both 130M models,
# each dispatch of the step `generate` submits timed alone (100 reps in one pass, Vulkan timestamps,
# Dawn's timestamp quantization off), by kernel, and the sum beside the whole step back to back.
# ~15 s of loading (random weights) + ~2 s of profiling a model; capped at 40 s.
step_webprof() {
  stamp "webgpu decode-step profile (bench/webgpu-decode-profile.ts)"
  MAMBA_EDGE_DAWN_FLAGS=disable-dawn-features=timestamp_quantization timeout $(cap 40) node --import tsx bench/webgpu-decode-profile.ts --models mamba-130m,mamba2-130m --reps 100 --step-reps 20 --rounds 3 --json $RES/webprof.json > $RES/webprof.md 2> $RES/webprof.err; echo "webprof rc=$?" | tee -a $L
  grep -E "^## |^\| [a-z]|^sum of|WARNING|Error" $RES/webprof.md | grep -v "^| kernel |" | cut -c1-240 | tee -a $L
  tail -3 $RES/webprof.err | grep -v "^Warning" | tee -a $L
}
