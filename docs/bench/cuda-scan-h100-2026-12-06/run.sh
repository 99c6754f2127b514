#!/bin/bash
# CUDASCAN (issue 9): the prefill scan kernels on the GPU — tests (default kernels, then each forced),
# the kernel A/B next to a copy, an ncu profile, sanitizers, prefill. Each step capped; BUDGET seconds in all.
set -u
R=$(pwd); K=$R/.dev-cudascan; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; L=$OUT/log; TL=$OUT/tests.log
BUDGET=${1:-220}; T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }; left() { echo $(( BUDGET - $(el) )); }
stamp() { echo "--- $1 at +$(el) s" | tee -a "$L"; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$L"
mkdir -p /tmp/bin && xz -dc $K/node.xz > /tmp/bin/node && chmod +x /tmp/bin/node && export PATH=/tmp/bin:$PATH
mkdir -p /tmp/k && cd /tmp/k && tar xJf $K/check.tar.xz && xz -dc $K/addon.node.xz > addon.node
CB=$(find /usr/local/cuda*/targets /usr/local/cuda*/lib64 -name 'libcublas.so.1[23]*' 2>/dev/null | head -1)
export MAMBA_EDGE_CUBLAS=$CB LD_LIBRARY_PATH=$(dirname "$CB") MAMBA_EDGE_CUDA_ADDON=/tmp/k/addon.node
C=test/check/cuda-check.mjs; BN=test/check/cuda-bench.mjs
chk() { # label env regex cap [wrapper...]
  local lab=$1 e=$2 re=$3 cap=$4; shift 4
  local t=$(left); [ $t -lt 8 ] && { echo "skip $lab (no time)" | tee -a "$L"; return; }; [ $cap -gt $t ] && cap=$t
  stamp "check $lab (SCAN=$e, cap $cap s)"; echo "===== $lab SCAN=$e '$re'" >> "$TL"
  MAMBA_EDGE_CUDA_SCAN=$e timeout $cap "$@" node $C "$re" >> "$TL" 2>&1; echo "rc=$?" >> "$TL"
  tail -3 "$TL" | grep -E "passed|rc=|ERROR SUMMARY" | tee -a "$L"
}
bw() { MAMBA_EDGE_CUDA_SCAN=${1#default} timeout 30 node $BN --only-bandwidth --json /tmp/bw-$1.json 2>&1 | grep -E "GB/s" | tee -a "$L"; cat /tmp/bw-$1.json >> "$OUT/bench.json" 2>/dev/null; }

step_tests() { chk default "" 'prefill scan kernels|scan geometry|long sequences|selectiveScan|ssd|cuda, f32' ${CAP_TESTS:-90}; }
step_bw() { stamp "bandwidth A/B"; for e in ${BW_ENVS:-default tile warp8 mma1}; do bw "$e"; done; }
step_ncu() {
  stamp "ncu"
  timeout ${CAP_NCU:-70} ncu --clock-control none --set full -k regex:"scanWarp|ssdMma" --launch-skip 1 -c 3 -o /tmp/prof -f node $BN --only-bandwidth --scan-reps 1 > /tmp/ncu.log 2>&1; echo "ncu rc=$?" | tee -a "$L"
  tail -5 /tmp/ncu.log >> "$L"
  ncu -i /tmp/prof.ncu-rep --page details > "$OUT/ncu.txt" 2>&1
  grep -E "^  [a-zA-Z_].*\(|Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Registers Per|Issue Slots Busy|One or More Eligible" "$OUT/ncu.txt" | head -40 | tee -a "$L"
}
step_forced() { chk warp warp 'prefill scan kernels > Mamba-1|selectiveScan|m1-' 40; chk mma mma 'prefill scan kernels > Mamba-2|ssd|m2-' 40; }
step_san() {
  chk memcheck "" 'prefill scan kernels' 60 compute-sanitizer --tool memcheck --print-limit 5
  chk racecheck "" 'prefill scan kernels > .*(1000 as 600|700 as 300)' 45 compute-sanitizer --tool racecheck --print-limit 5
}
step_prefill() {
  stamp "prefill"
  for e in "" tile; do MAMBA_EDGE_CUDA_SCAN=$e timeout $(( $(left) > 45 ? 40 : 20 )) node $BN --dir /tmp/cb --prefill 2048,16384 --decode 0 --no-bandwidth --json /tmp/pf-$e.json 2>&1 | grep -E "prefill" | sed "s/^/[${e:-default}] /" | tee -a "$L"; cat /tmp/pf-$e.json >> "$OUT/bench.json" 2>/dev/null; done
}
step_others() { chk tile tile 'prefill scan kernels' 30; chk warp8 warp8 'prefill scan kernels > Mamba-1' 20; chk mma1 mma1 'prefill scan kernels > Mamba-2' 20; }
for st in ${STEPS:-tests bw ncu forced san prefill others}; do step_$st; done
grep -B2 -A3 "✗" "$TL" | grep -E "✗|worst|Error|error" | cut -c1-220 | head -40 >> "$L"
stamp done
