# h/webdec5's device step (style of /work/main/.dev-lead2/steps.sh: $RES, $L, cap, stamp defined there).
# Mamba-1 decode at 3 dispatches a layer (x_proj's split-K partial sums inside the in_proj dispatch,
# WebGpuBackend.xProjPartials, on by default) against 4 (x_proj's own dispatch), one process, mamba-130m,
# random f32 weights, prefill 2048, decode 128 (issue 5). bench/webgpu.ts --switches runs greedy
# `generate` once per switch between two default rows ("switch row": tok/s, % of the roofline from the
# vec4 copy measured in the same process, Dawn dispatches a token: 76 on / 100 off a step, printed per
# emitted token over tokens 5..128, so ~75.4 / ~99.2);
# the recorded-step rows add "xProjPartials off" beside the default: host (encoding + submitting) and
# GPU ms a step, so the A/B shows which side the 24 dispatches came off.
# Keep xProjPartials on (the default) if both "default" switch rows beat the "xProjPartials off" row by
# more than the two default rows differ, and the recorded "folds on (default)" row's GPU ms a step is not
# above the "xProjPartials off" row's by more than its host ms drop; else set `xProjPartials = false`
# (src/backends/webgpu/index.ts) and the env-switch test's expected default.
# ~6 s random weights + prefill + 10 generate rows + 5 recorded rows of 128 tokens; capped at 60 s.
step_webdec5() {
  stamp "webdec5: Mamba-1 x_proj partials in in_proj (xProjPartials) on vs off, mamba-130m, one process"
  timeout $(cap 60) node --import tsx bench/webgpu.ts --models mamba-130m --prefill 2048 --decode 128 --copy --switches --budget-s 50 --json $RES/webdec5.json > $RES/webdec5.log 2>&1; echo "webdec5 rc=$?" | tee -a $L
  grep -hE "switch row|roofline|recorded step|prefill 2048|Error" $RES/webdec5.log | sed 's/^\[ *[0-9]* s\] //' | cut -c1-300 | tee -a $L
}
