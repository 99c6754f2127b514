step_webssd() { # webgpu Mamba-2 SSD rows at 16k tokens (mamba2-130m), GPU time from timestamps
  stamp "webssd: bench/webgpu.ts --models mamba2-130m --kernels --scan-tokens 16384"
  timeout $(cap 90) node --import tsx bench/webgpu.ts --models mamba2-130m --prefill 2048 --decode 0 --kernels --scan-tokens ${WEBSSD_TOKENS:-16384} ${WEBSSD_ARGS:-} > $RES/webssd.log 2>&1
  echo "rc=$?" | tee -a $L
  grep -v '^Warning' $RES/webssd.log | grep -E "kernel (copy, vec4|Mamba-2)|GPU time" | sed -E 's/^\[ *[0-9]+ s\] //' | cut -c1-170 | tee -a $L
}
