# h/websg: the one-pass subgroup Mamba-1 prefill scan (scanMode 'subgroup', opt-in) on the H100.
# Sourced by the lead's run.sh (cap, stamp, summ, $VT, $RES, $L defined there). ≤ 60 s of device time.
# 1. test/backends/webgpu-subgroup-scan.test.ts on the GPU (33 tests: vs the reference at T 1..1000, I 1..64,
#    N 1/5/16, batch 2, state in/out; m1-long golden greedy tokens equal the default's); prints the subgroup sizes.
# 2. bench/webgpu.ts --kernels at 16k tokens, mamba-130m's shape (I 1536) and mamba-1.4b's (I 4096), N 16: the
#    'one pass, subgroup per channel' row beside 'chunked, tiled, chunk 64', each checked vs sequential (agree/DIFFER).
# Decision rule: make 'subgroup' the default Mamba-1 prefill scan where its row is ≥ 5 % faster (GPU ms) than the
# tiled chunk-64 row at BOTH widths, its rows say 'agree', and step 1 passes; otherwise it stays opt-in.
step_websg() {
  stamp "websg: subgroup scan tests (H100)"
  CI=true timeout $(cap 25) $VT test/backends/webgpu-subgroup-scan.test.ts > $RES/websg-tests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/websg-tests.log 4
  grep -hE "subgroup sizes" $RES/websg-tests.log | head -1 | cut -c1-200 | tee -a $L
  stamp "websg: scan kernels at 16k, tiled vs one-pass subgroup (mamba-130m + mamba-1.4b shapes)"
  timeout $(cap 35) node --import tsx bench/webgpu.ts --models mamba-130m --prefill 2048 --decode 0 --kernels --scan-tokens 16384 --scan-chunks 64 --kernel-shapes mamba-1.4b --json $RES/websg-kernels.json > $RES/websg-kernels.log 2>&1; echo "rc=$?" | tee -a $L
  grep -v "^Warning" $RES/websg-kernels.log | grep -E "^\[.*kernel Mamba-1|Mamba-1 selective scan.*(agree|DIFFER)|copy|Error" | cut -c1-240 | tail -16 | tee -a $L
}
