step_webrob() { # webgpu scans with and without Dawn's bounds clamps (disable_robustness), 2 interleaved rounds
  stamp "webrob: bench/webgpu.ts --kernels 16k, default | disable_robustness"
  local r v
  for r in 1 2; do for v in default norobust; do
    local e=X=1; [ $v = norobust ] && e=MAMBA_EDGE_DAWN_FLAGS=enable-dawn-features=disable_robustness
    env $e timeout $(cap 45) node --import tsx bench/webgpu.ts --models mamba-130m --prefill 2048 --decode 0 --kernels --scan-tokens 16384 --scan-chunks 64 > $RES/webrob-$v-$r.log 2>&1
    echo "[$v $r] rc=$? $(grep -v '^Warning' $RES/webrob-$v-$r.log | grep -E 'kernel (copy, vec4|Mamba-1 selective scan|Mamba-2)' | sed -E 's/^\[ *[0-9]+ s\] //' | cut -c1-150 | tr '\n' ';')" | tee -a $L
  done; done
}
