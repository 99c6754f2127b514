# Build the binaries into the kit first (stripped, one archive: xz shares their CUDA runtime):
#   node tools/cuda-probe/build.mjs /tmp/cuda-probe && cd /tmp/cuda-probe && for v in default noexp nosfu l2; do strip -o s-$v scan-probe-$v; done \
#     && mkdir -p $K/probe && tar cf - s-default s-noexp s-nosfu s-l2 | xz -9e > $K/probe/probes.tar.xz
step_probe() { # tools/cuda-probe: the tiled scan's passes, default / without the decays' ex2 / without any SFU / DRAM; ex2 rate, clock, copy
  stamp "probe: scan-probe default | noexp | nosfu | l2, 2 rounds"
  local r v
  tar xJf $D/probe/probes.tar.xz -C /tmp && for v in default noexp nosfu l2; do mv /tmp/s-$v /tmp/scan-probe-$v; done
  for r in 1 2; do for v in default noexp nosfu l2; do
    timeout $(cap 25) /tmp/scan-probe-$v > $RES/probe-$v-$r.log 2>&1; echo "[$v $r] rc=$?" | tee -a $L; grep -E "clock|ex2|copy|\[1," $RES/probe-$v-$r.log | cut -c1-230 | tee -a $L
  done; done
}
