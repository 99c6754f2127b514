# h/webargmax's device step (style of /work/main/.dev-lead2/steps.sh: $RES, $L, cap, stamp, $VT defined there).
# Issue 5, the WebGPU greedy draw folded into the head (WebGpuBackend.argmaxInHead, env MAMBA_EDGE_WEBGPU_ARGMAX_HEAD,
# default OFF): the head's matrix-vector dispatch (matvec_argmax_{,norm_}{f32x4,f16x8}: 8 vocabulary rows a
# workgroup instead of 1, the same dot products and sums) also writes each workgroup's best (key, row), and the
# greedy draw (argmax_sample.wgsl) reads those ceil(50,280 / 8) = 6,285 pairs instead of top_k_sample's one
# workgroup walking all 50,280 logits (45 us alone, ~85 us in the step on the H100: BENCHMARKS.md "fifth session").
# Same dispatches a token (76), same token words / read-back / run-ahead.
#
# 1. Correctness on the GPU (~10 s, capped at 20): the argmaxInHead tests of test/backends/webgpu-runahead.test.ts (crafted
#    rows with ties / +inf / NaN / -inf / -0 through the head, f32 and f16, norm folded or not, V 1 / 7 / 1003 /
#    5001, against the switch off bit for bit and against sampler.ts; greedy generate on vs off: tokens, saved
#    state and dispatches equal for mamba, mamba2, a vocab-16,411 mamba2 and the bamba hybrid, and a sampled
#    generation after them; webgpu-recorded: the recorded step's logits with the argmax head equal the plain
#    head's, vocab 1031). NOTE: these
#    compare logits bit for bit (lavapipe: equal); if ONLY a "saveState"/logits-bits check fails on the H100
#    while the token checks pass, it is NVIDIA's per-shader FMA contraction (as for fuseInProj) — not a bug.
# 2. The A/B (~30 s expected from the fifth session's one-model --switches run, capped at 55): bench/webgpu.ts --switches, both 130M models, one process each: greedy `generate` rows
#    default | argmaxInHead on | stepOutputs 1 | fuseSampling off | both | foldHeadNorm on | xProjPartials off |
#    default, again | argmaxInHead on, again ("switch row" lines: tok/s, % of the roofline, dispatches a token),
#    plus recorded-step rows "argmaxInHead on" (twice) beside "folds on (default)" (run-ahead loop and pipelined
#    ms a step, which include the draw; the "GPU ... ms a step" column does not include the draw).
#    The "argmaxInHead on: N of 128 greedy draws read the head's best rows" lines must say N >= 126 (else the
#    switch was not taken).
# 3. Where the time goes with it on (~10 s, capped at 15): bench/webgpu-decode-profile.ts for mamba2-130m (its
#    head is the step's only plain matrix-vector dispatch) with MAMBA_EDGE_WEBGPU_ARGMAX_HEAD=1: the rows
#    matvec_argmax_f32x4 (the head, 6,285 workgroups of 8 rows) and argmax_sample, alone and in the step, against
#    the fifth session's matvec_f32x4 (head) 88.5 / 95.3 us and top_k_sample 44.7 / 83.8 us (BENCHMARKS.md).
#    (A different call: a hint of which part moved, not the A/B; the A/B is step 2.)
# Make it the default (argmaxInHead = true in src/backends/webgpu/index.ts, and the default in the runahead test's
# "expect(b.argmaxInHead).toBe(false)") when, for BOTH mamba-130m and mamba2-130m, each "argmaxInHead on" switch
# row is >= 2 % faster than the default row next to it (on vs default, on again vs default again), and the
# recorded "argmaxInHead on" rows' pipelined ms a step are below "folds on (default)"'s; and step 1 passed.
step_webargmax() {
  stamp "webargmax: argmaxInHead tests on the GPU"
  CI=true timeout $(cap 20) $VT test/backends/webgpu-runahead.test.ts test/backends/webgpu-recorded.test.ts -t "argmaxInHead" > $RES/webargmax-tests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/webargmax-tests.log 6
  stamp "webargmax: argmaxInHead on vs off (--switches + recorded rows), mamba-130m + mamba2-130m"
  timeout $(cap 55) node --import tsx bench/webgpu.ts --models mamba-130m,mamba2-130m --prefill 2048 --decode 128 --copy --switches --budget-s 48 --json $RES/webargmax.json > $RES/webargmax.log 2>&1; echo "webargmax rc=$?" | tee -a $L
  grep -hE "switch row|argmaxInHead|roofline|recorded step|Error" $RES/webargmax.log | sed 's/^\[ *[0-9]* s\] //' | cut -c1-300 | tee -a $L
  stamp "webargmax: decode-step profile with argmaxInHead on, mamba2-130m"
  MAMBA_EDGE_WEBGPU_ARGMAX_HEAD=1 MAMBA_EDGE_DAWN_FLAGS=disable-dawn-features=timestamp_quantization timeout $(cap 15) node --import tsx bench/webgpu-decode-profile.ts --models mamba2-130m --reps 100 --step-reps 20 --rounds 3 --json $RES/webargmax-prof.json > $RES/webargmax-prof.md 2> $RES/webargmax-prof.err; echo "webargmax-prof rc=$?" | tee -a $L
  grep -E "^## |^\| [a-z]|^sum of|WARNING|Error" $RES/webargmax-prof.md | grep -v "^| kernel |" | cut -c1-240 | tee -a $L
}
