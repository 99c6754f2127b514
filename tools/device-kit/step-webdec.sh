step_webdec() { # webgpu decode + 2k prefill rows after the lpcompile rewrite (compare sixth session 872-995 / 794-847 tok/s)
  stamp "webdec: bench/webgpu.ts mamba-130m, mamba2-130m --prefill 2048 --decode 512 --copy"
  timeout $(cap 120) node --import tsx bench/webgpu.ts --models mamba-130m,mamba2-130m --prefill 2048 --decode 512 --copy --json $RES/webdec.json > $RES/webdec.log 2>&1; echo "rc=$?" | tee -a $L
  grep -v "^Warning" $RES/webdec.log | grep -E "decode generate|prefill 2048 tokens:|recorded step|decode (run-ahead|pipelined)|FAIL|Error" | cut -c1-260 | tee -a $L
}
