# tools/cuda-probe's binaries, which build.sh strips and packs as $K/probe/probes.tar.xz (xz shares their CUDA runtime;
# PROBES there picks which: the once-* ones by default, the tiled ones measured in the ninth session).
PROBES_TILED="default noexp nosfu l2"
PROBES_ONCE="once-default once-split once-noexp once-nosfu once-noscan once-l2"
probeUnpack() { [ -e /tmp/probes-unpacked ] || { tar xJf $D/probe/probes.tar.xz -C /tmp && touch /tmp/probes-unpacked && for v in $PROBES_TILED $PROBES_ONCE; do [ -f /tmp/s-$v ] && mv /tmp/s-$v /tmp/scan-probe-$v; done; }; }
probeRounds() { # name, variants…: 2 interleaved rounds
  local name=$1 r v; shift
  for r in 1 2; do for v in "$@"; do
    timeout $(cap 25) /tmp/scan-probe-$v > $RES/probe-$v-$r.log 2>&1; echo "[$v $r] rc=$?" | tee -a $L; grep -E "clock|ex2|copy|\[1," $RES/probe-$v-$r.log | cut -c1-230 | tee -a $L
  done; done
}
step_probe() { # tools/cuda-probe: the tiled scan's passes, default / without the decays' ex2 / without any SFU / DRAM; ex2 rate, clock, copy
  stamp "probe: scan-probe $PROBES_TILED, 2 rounds"
  probeUnpack; probeRounds probe $PROBES_TILED
}
step_onceprobe() { # tools/cuda-probe: scanOnce beside the tiled passes, and without its ex2 / SFU / lane scan / DRAM
  stamp "onceprobe: scan-probe $PROBES_ONCE, 2 rounds"
  probeUnpack; probeRounds onceprobe $PROBES_ONCE
}
