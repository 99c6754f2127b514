# h/webchain: scanMode 'subgroup-chain' (selective_scan_subgroup_chain.wgsl, opt-in) on the H100.
# Sourced by the lead's run.sh (cap, stamp, summ, $VT, $RES, $L defined there). ≤ 60 s of device time.
# 1. test/backends/webgpu-subgroup-scan.test.ts on the GPU (76 tests, both 'subgroup' and 'subgroup-chain':
#    vs the reference at T 1..4100, I 1..64, N 1/5/16, batch 2, state in/out; time units of several tiles;
#    two chained scans in one submission; the spin bound (a unit whose predecessor never runs gives up,
#    NaN, no hang); m1-long golden greedy tokens equal the default's). Prints the subgroup sizes and the
#    spin bound's give-up time.
# 2. bench/webgpu.ts --kernels at 16k tokens, mamba-130m's shape (I 1536) and mamba-1.4b's (I 4096), N 16:
#    rows 'chunked, tiled, chunk 64', 'one pass, subgroup per channel' and '..., time tiles chained', each
#    checked vs sequential (agree/DIFFER); the same command as step_websg. A second run (same command)
#    only where the first left time inside this step's 60 s, for a second sample of every row.
# Decision rule: make 'subgroup-chain' the default Mamba-1 prefill scan (WebGpuBackend.scanMode default)
# where its row is ≥ 5 % faster (GPU ms) than the tiled chunk-64 row at BOTH widths (in every run made),
# its rows say 'agree', and step 1 passes; otherwise it stays opt-in. If 'subgroup' beats it, websg's
# rule decides instead (the chain is then not worth its scratch).
step_webchain() {
  local t0=$SECONDS
  stamp "webchain: subgroup + subgroup-chain scan tests (H100)"
  CI=true timeout $(cap 22) $VT test/backends/webgpu-subgroup-scan.test.ts > $RES/webchain-tests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/webchain-tests.log 4
  grep -hE "subgroup sizes|spin bound: gave up" $RES/webchain-tests.log | head -2 | cut -c1-200 | tee -a $L
  local run
  for run in 1 2; do
    if [ $run = 2 ] && [ $((SECONDS - t0)) -gt 28 ]; then echo "webchain: no second bench run ($((SECONDS - t0)) s used)" | tee -a $L; break; fi
    stamp "webchain: scan kernels at 16k, tiled vs subgroup vs subgroup-chain, run $run (mamba-130m + mamba-1.4b shapes)"
    local c=32; [ $run = 2 ] && c=$((60 - (SECONDS - t0)))
    timeout $(cap $c) node --import tsx bench/webgpu.ts --models mamba-130m --prefill 2048 --decode 0 --kernels --scan-tokens 16384 --scan-chunks 64 --kernel-shapes mamba-1.4b --json $RES/webchain-kernels-$run.json > $RES/webchain-kernels-$run.log 2>&1; echo "rc=$?" | tee -a $L
    grep -v "^Warning" $RES/webchain-kernels-$run.log | grep -E "^\[.*kernel (copy, vec4|Mamba-1 selective scan, (chunked, tiled|one pass))|^\[.*\] Mamba-1 selective scan, (chunked, tiled|one pass).*(agree|DIFFER)|Error" | cut -c1-240 | tail -16 | tee -a $L
  done
}
