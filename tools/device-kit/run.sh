#!/bin/bash
# The lead's device call: unpack the kit, then run $STEPS (functions step_<name> in steps.sh and the step-*.sh files)
# in order within BUDGET seconds (arg 1). Results and the log in $OUT.
set -u
R=$(pwd); D=$R/.dev-lead2; OUT=${OUT:-/tmp/out}; RES=/tmp/res; mkdir -p $OUT $RES; L=$OUT/log
BUDGET=${1:-300}; T0=$(date +%s)
el() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(el) )); }
cap() { local l=$(left); [ $l -lt 3 ] && l=3; [ $1 -lt $l ] && echo $1 || echo $l; }
stamp() { echo "--- $1 [+$(el) s, $(left) s left]" | tee -a $L; }
summ() { grep -v '^Warning' $1 | grep -E " × | FAIL |Test Files|Tests |Error:" | tail -${2:-5} | cut -c1-220 | tee -a $L; }
for f in $D/gl/*.deb; do [ -e $f ] && dpkg -x $f /; done; ldconfig  # gl/ stays behind in a CUDA-only call
mkdir -p /tmp/bin && xz -dc $D/node.xz > /tmp/bin/node && chmod +x /tmp/bin/node && export PATH=/tmp/bin:$PATH
tar xJf $D/mods.tar.xz
# dawn.node travels apart so that a CUDA-only call can leave it behind (carry the kit's parts without it)
[ -s $D/dawn.node.xz ] && xz -dc $D/dawn.node.xz > node_modules/webgpu/dist/linux-x64/dawn.node
mkdir -p gpu/cuda/build/Release && xz -dc $D/addon.node.xz > gpu/cuda/build/Release/mamba_edge_cuda.node
export XDG_RUNTIME_DIR=/tmp NO_COLOR=1
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
VT="node node_modules/vitest/vitest.mjs run"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader; echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc); node $(node --version); tree $(cat $D/sh/HEAD 2>/dev/null)"; } | tee -a $L
source $D/sh/steps.sh
for f in $D/sh/step-*.sh; do source $f; done  # a file may hold several steps
for s in ${STEPS:-}; do
  [ $(left) -lt 8 ] && { echo "skipped $s: $(left) s left" | tee -a $L; continue; }
  step_$s
done
stamp done
tar czf $OUT/results.tgz -C $RES . && cp $L $RES/ 2>/dev/null; true
