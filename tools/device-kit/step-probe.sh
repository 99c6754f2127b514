# tools/cuda-probe's binaries, which build.sh strips and packs as $K/probe/probes.tar.xz (xz shares their CUDA runtime).
PROBES=${PROBES:-default noexp nosfu l2}
step_probe() { # tools/cuda-probe: the tiled scan's passes, default / without the decays' ex2 / without any SFU / DRAM; ex2 rate, clock, copy
  stamp "probe: scan-probe $PROBES, 2 rounds"
  local r v
  tar xJf $D/probe/probes.tar.xz -C /tmp && for v in $PROBES; do mv /tmp/s-$v /tmp/scan-probe-$v; done
  for r in 1 2; do for v in $PROBES; do
    timeout $(cap 25) /tmp/scan-probe-$v > $RES/probe-$v-$r.log 2>&1; echo "[$v $r] rc=$?" | tee -a $L; grep -E "clock|ex2|copy|\[1," $RES/probe-$v-$r.log | cut -c1-230 | tee -a $L
  done; done
}
