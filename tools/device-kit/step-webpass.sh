step_webpass() { # webgpu Mamba-1 tiled scan (WEBPASS_TOKENS, default 16k): chunk lengths (WEBPASS_CHUNKS, default 32–256) and pass-by-pass times (timestamps), both widths
  stamp "webpass: bench/webgpu.ts --kernels --scan-tokens ${WEBPASS_TOKENS:-16384} --scan-chunks ${WEBPASS_CHUNKS:-32,64,128,256} --pass-chunks 64,-1"
  timeout $(cap 120) node --import tsx bench/webgpu.ts --models mamba-130m --prefill 2048 --decode 0 --kernels --scan-tokens ${WEBPASS_TOKENS:-16384} \
    --scan-chunks ${WEBPASS_CHUNKS:-32,64,128,256} --pass-chunks 64,-1 --kernel-shapes mamba-1.4b > $RES/webpass.log 2>&1
  echo "rc=$?" | tee -a $L
  grep -v '^Warning' $RES/webpass.log | grep -E 'kernel (copy, vec4|Mamba-1 selective scan, (chunked, tiled|chunk))' | sed -E 's/^\[ *[0-9]+ s\] //' | cut -c1-140 | tee -a $L
}
