# CUDAPP (issue 9): the run-ahead step graph without the undo copy — ping-pong state blocks.
# MAMBA_EDGE_CUDA_PINGPONG=on (opt-in, UNMEASURED on a GPU: compiled with nvcc on the CPU machine, kernels checked by
# node tools/cuda-emu/run-decode.mjs — every state-writing kernel with source != destination equals itself in place,
# bit for bit; the test/cuda suites skip there). The step graph's two captures become A: state S0 -> S1 and
# B: S1 -> S0, so a run-ahead token no longer writes an undo copy of the state (mamba2-130m: ~19 MB a token,
# ~3 % of a step); undo is a parity flip; SampledStep.settle copies S1 -> S0 once a generate when a run stands odd.
# For .dev-lead2/run.sh (sourced after steps.sh: stamp, cap, summ, cudab, $VT, $RES, $L), the CUDA addon rebuilt
# from h/cudapp (it adds the `stateSources` accessor; an addon without it keeps the undo copy even with PINGPONG=on,
# which the tests catch: they assert backend.pingPong). At most 85 s of device time (caps 35 + 20 + 15 + 15).
# The bench rows assume /tmp/cb already holds the two models (a cudab row before this step); if this step runs
# first, call it as CUDAPP_CAP1=28 step_cudapp (the first row writes the random weights) and drop the third row.
#
# 1. Correctness, PINGPONG=on: test/cuda/runahead.test.ts (every existing run-ahead case with ping-pong on: tokens
#    equal wasm and the one-read-back path, saveState bytes after EOS / stop string / maxTokens / break / abort,
#    redos, the unit's undo test in both modes; plus the new "ping-pong step graph against the undo copy" groups:
#    greedy + 2 sampled generates token for token and saveState equal to PINGPONG=off in the same process, second
#    and third generates after the first (odd and even standing runs), stops/abort mid-run-ahead, redos, and the
#    conv1dStepBatch / convShift / ssdConvStep paths) + test/cuda/decode.test.ts.
# 2. Decode A/B, one process per row, mamba2-130m (the target) first: off | on | on + SPLITK=on SSDHOLD=on.
step_cudapp() {
  stamp "cudapp: PINGPONG=on — test/cuda/runahead + decode"
  MAMBA_EDGE_CUDA_PINGPONG=on timeout $(cap 35) $VT test/cuda/runahead.test.ts test/cuda/decode.test.ts > $RES/cudapp-on.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/cudapp-on.log 6
  grep -E "ping-pong|undo copy" $RES/cudapp-on.log | grep -E "✗|×|FAIL" | head -4 | cut -c1-240 | tee -a $L
  local CB_ARGS="--dir /tmp/cb --models mamba2-130m,mamba-130m"  # cudab reads it (dynamic scope): the target model's rows first
  CAPB=${CUDAPP_CAP1:-20} cudab cudapp-off MAMBA_EDGE_CUDA_PINGPONG=off
  CAPB=15 cudab cudapp-on MAMBA_EDGE_CUDA_PINGPONG=on
  CAPB=15 cudab cudapp-on-dec2 MAMBA_EDGE_CUDA_PINGPONG=on MAMBA_EDGE_CUDA_SPLITK=on MAMBA_EDGE_CUDA_SSDHOLD=on
}
# What it measures: the rows' "step graph with its draw N nodes, X ms a token back to back" (bench/cuda.ts: the
# recordSampled unit run 200 times fed on the device, no host wait — the row ping-pong changes; 0.617 ms for
# mamba2-130m and 0.544 ms for mamba-130m on main, BENCHMARKS.md "fourth session") and "decode (generate) 512 tokens:
# T tok/s (run-ahead)" (end to end, one settle copy at most). "recorded step" (recordStep, no draw, no undo point)
# should not move between off and on: it is the control — if it moves > 1 %, the rows are noise; decide nothing.
# What makes PINGPONG the default (one line: `const pingPongOn = () => !off('MAMBA_EDGE_CUDA_PINGPONG')` in
# src/backends/cuda/index.ts, and the two README sentences saying opt-in):
# - step 1 passes ("Tests N passed", none failed; the ping-pong groups pass), AND
# - the on row's mamba2-130m step graph is >= 1 % faster than the off row's (0.617 -> <= 0.611 ms; expected
#   ~0.60: 19 MB less writing at ~1.45 TB/s is ~0.013 ms) and its generate tok/s is not lower (> -0.5 %), AND
# - mamba-130m's step graph and generate are not > 1 % worse (its undo copy is small: 24 × 1,536 × 16 × 4 B + conv
#   states ≈ 2.8 MB, so ~0.2-0.4 % gain or none is expected there).
# A gain < 1 % for mamba2 with everything else equal: leave it off, record the rows in BENCHMARKS.md. The third row
# says whether ping-pong adds to h/cudadec2's switches (mamba2 generate toward 60 % of the roofline: >= ~1,690
# tok/s at the fourth session's 2,817 tok/s roofline, i.e. <= 0.592 ms a token).
# Failure hints: a token/state mismatch only in the "conv kernels / folded convs" case points at conv1dStepBatch's
# srcs or convShift's src (CONVEPI=off / CONVGEMV=on paths, not the default); "settled" errors at settle's guard.
