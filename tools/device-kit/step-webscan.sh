step_webscan() { # webgpu scan rows at 16k tokens (mamba-130m and 1.4b widths), one process a round (ROUNDS, default 3)
  stamp "webscan: bench/webgpu.ts --kernels 16k, ${ROUNDS:-3} rounds"
  local r
  for r in $(seq ${ROUNDS:-3}); do
    timeout $(cap 45) node --import tsx bench/webgpu.ts --models mamba-130m --prefill 2048 --decode 0 --kernels --scan-tokens 16384 --scan-chunks 64 --kernel-shapes mamba-1.4b > $RES/webscan-$r.log 2>&1
    echo "[$r] rc=$? $(grep -v '^Warning' $RES/webscan-$r.log | grep -E 'kernel (copy, vec4|Mamba-1 selective scan|Mamba-2)' | sed -E 's/^\[ *[0-9]+ s\] //' | cut -c1-150 | tr '\n' ';')" | tee -a $L
  done
}
