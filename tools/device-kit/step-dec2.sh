step_dec2() {
  stamp "dec2: mamba-130m + mamba2-130m decode 2048, default | READKERNEL=on, 2 rounds"
  node --import tsx bench/cuda.ts --models mamba-130m,mamba2-130m --write-only > /dev/null 2>&1
  local r v
  for r in 1 2; do for v in default readkernel; do
    local e=X=1; [ $v = readkernel ] && e=MAMBA_EDGE_CUDA_READKERNEL=on
    env $e timeout $(cap 30) node --import tsx bench/cuda.ts --models mamba-130m,mamba2-130m --prefill 64 --decode 2048 --no-bandwidth --no-gpu-step --json $RES/dec2-$v-$r.json > $RES/dec2-$v-$r.log 2>&1
    echo "[$v $r] rc=$? $(grep -E 'copy 256|decode \(generate' $RES/dec2-$v-$r.log | sed -E 's/.*(copy 256 MiB: [0-9]+ GB\/s moved).*/\1/; s/^(mamba[0-9-]*m) cuda: decode \((generate[a-z ]*)\) 2048 tokens: ([0-9]+ tok\/s).*: ([0-9.]+ %)/\1 \2 \3 \4/' | tr '\n' ';')" | tee -a $L
  done; done
}
