# WEBDEC4 (issue 5): WebGPU decode at the 130M shapes, fewer Dawn calls a token. For .dev-lead2/run.sh
# (sourced after steps.sh: stamp, cap, summ, $VT, $RES, $L defined there). About 80 s of device time.
#
# 1. bench/webgpu.ts, ONE process, both 130M shapes (prefill 2048, decode 128, --copy for the roofline),
#    with --switches: greedy session.generate once per decode-tail switch between two default rows —
#      default                 stepOutputs 4 (the sampler reads the recorded step's output ring: no logits copy),
#                              foldXProj off, foldHeadNorm off
#      stepOutputs 1           the logits copy a token, as in main
#      fuseSampling off        top_k and sample_top_k as two dispatches, as in main
#      stepOutputs 1 + fuseSampling off   main's dispatches (102 / 78 a token; less main's per-token
#                              read-back createBuffer and its greedy writeBuffer, which are not switchable)
#      foldXProj on            Mamba-1 x_proj inside the scan step (3 dispatches a layer; Mamba-2: no change)
#      foldHeadNorm on         the final RMSNorm inside the head's matvec (one dispatch a token fewer)
#      foldXProj + foldHeadNorm
#      default, again
#    Each "switch row" line: tok/s | % of roofline | dispatches a token | the other Dawn calls a token.
#    (--no-recorded: the recorded-loop A/B of earlier rounds is left out to fit the time.)
# 2. The recorded-step and run-ahead suites with both folds switched on by the environment (the new
#    defaults-to-be must stay correct on NVIDIA's compiler, not only on lavapipe).
step_webdec4() {
  stamp "webdec4: webgpu decode switches (stepOutputs / foldXProj / foldHeadNorm), one process"
  timeout $(cap 50) node --import tsx bench/webgpu.ts --models mamba-130m,mamba2-130m --prefill 2048 --decode 128 --copy --switches --no-recorded --budget-s 45 --json $RES/webdec4.json > $RES/webdec4.log 2>&1; echo "rc=$?" | tee -a $L
  grep -hE "prefill 2048 tokens|decode greedy, run-ahead|switch row|roofline|FAILED" $RES/webdec4.log | sed 's/^\[ *[0-9]* s\] //' | cut -c1-330 | tee -a $L
  stamp "webdec4: recorded + run-ahead suites with FOLD_XPROJ=1 FOLD_HEAD_NORM=1"
  MAMBA_EDGE_WEBGPU_FOLD_XPROJ=1 MAMBA_EDGE_WEBGPU_FOLD_HEAD_NORM=1 CI=true timeout $(cap 35) $VT test/backends/webgpu-recorded.test.ts test/backends/webgpu-runahead.test.ts > $RES/webdec4-tests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/webdec4-tests.log 8
}
# What makes each switch the default (compare rows of the same model in this one process; "spread" =
# |default − default, again|, the run-to-run noise):
# - stepOutputs 4 and fuseSampling (both already the default, 102 → 100 / 78 → 76 dispatches): stay if
#   "default" and "default, again" are both ≥ the "stepOutputs 1" / "fuseSampling off" rows − spread
#   (expected ~+14 µs host each a token, ≈ +0.5–1 % each, likely inside the spread; "stepOutputs 1 +
#   fuseSampling off" should be the slowest of the three). Turn one off only if its "off" row beats both
#   default rows by more than the spread (e.g. the fused top_k_sample workgroup costing more GPU time than
#   the dispatch it saves, which the GPU-bound Mamba-2 step would show first).
# - foldXProj: default on for Mamba-1 if mamba-130m "foldXProj on" beats the better default row by more
#   than the spread (expected: 24 dispatches a token fewer, ~0.3 ms of Dawn host time, up to ~+15 %), and
#   the step-2 suites pass. If it is slower, the extra GPU work per workgroup (x_proj recomputed from
#   cache in each of I/64 = 24 workgroups) costs more than the dispatch saved: keep it off.
# - foldHeadNorm: default on if "foldHeadNorm on" ≥ the better default row for BOTH models (the head's
#   extra work is K loads of x and K of the norm weight per row, from cache, next to K weights from
#   memory; a GPU-bound step would show it as a loss) and the suites pass; otherwise off.
