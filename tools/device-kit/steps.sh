# Small steps; bigger ones live in step-<name>.sh. Sourced by run.sh ($VT, $RES, $L, cap, stamp, summ).
step_cudatests() { # every CUDA suite with the defaults (main's addon)
  stamp "cudatests: test/cuda (defaults)"
  CI=true timeout $(cap ${CUDATESTS_CAP:-90}) $VT test/cuda > $RES/cudatests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/cudatests.log 8
}
step_webtests() { # the webgpu suites on the H100
  stamp "webtests: test/backends/webgpu*"
  CI=true timeout $(cap ${WEBTESTS_CAP:-90}) $VT test/backends/webgpu > $RES/webtests.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/webtests.log 8
}
step_forced() { # the remaining forced scan kernels after warp2 / POLY left
  stamp "forced: scan + goldens with MAMBA_EDGE_CUDA_SCAN=tiled3, scan with tiled3one"
  MAMBA_EDGE_CUDA_SCAN=tiled3 CI=true timeout $(cap 30) $VT test/cuda/scan.test.ts test/cuda/goldens.test.ts > $RES/forced-tiled3.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/forced-tiled3.log 3
  MAMBA_EDGE_CUDA_SCAN=tiled3one CI=true timeout $(cap 20) $VT test/cuda/scan.test.ts > $RES/forced-tiled3one.log 2>&1; echo "rc=$?" | tee -a $L; summ $RES/forced-tiled3one.log 3
}
step_scanrows() { # the default scan rows once more, both backends (the removals must not move them)
  stamp "scanrows: cuda --only-bandwidth, webgpu --kernels at 16k"
  timeout $(cap 25) node --import tsx bench/cuda.ts --only-bandwidth --no-ssd --scan-widths 1536,4096 --scan-tokens 16384 --scan-reps 20 2>&1 | grep -E "GB/s" | cut -c1-200 | tee -a $L
  timeout $(cap 35) node --import tsx bench/webgpu.ts --models mamba-130m --prefill 2048 --decode 0 --kernels --scan-tokens 16384 --scan-chunks 64 --kernel-shapes mamba-1.4b > $RES/scanrows-web.log 2>&1; grep -v "^Warning" $RES/scanrows-web.log | grep -E "kernel (copy, vec4|Mamba-1 selective scan)|agree|DIFFER|Error" | cut -c1-200 | tee -a $L
}
step_cudascan() { # the CUDA scan rows, both shares of the copy: Mamba-1 at 1536 / 4096 channels, the SSD at 24 / 64 heads
  stamp "cudascan: cuda --only-bandwidth (Mamba-1 and SSD) x ${ROUNDS:-2} processes"
  local r
  for r in $(seq ${ROUNDS:-2}); do
    timeout $(cap 40) node --import tsx bench/cuda.ts --only-bandwidth --scan-widths 1536,4096 --scan-tokens 16384 --ssd-heads 24,64 --scan-reps 20 > $RES/cudascan-$r.log 2>&1
    echo "[$r] rc=$?" | tee -a $L; grep -E "GB/s" $RES/cudascan-$r.log | cut -c1-260 | tee -a $L
  done
}
step_webadapter() { # what Dawn reports for the H100: features, subgroup-matrix configurations (tools/probe/webgpu-adapter.mjs)
  stamp "webadapter: tools/probe/webgpu-adapter.mjs"
  timeout $(cap 30) node tools/probe/webgpu-adapter.mjs > $RES/webadapter.log 2>&1; echo "rc=$?" | tee -a $L
  grep -v '^Warning' $RES/webadapter.log | cut -c1-400 | tee -a $L
}
