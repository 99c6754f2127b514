#!/bin/bash
# WEBDEC (issue 5): webgpu recorded decode steps + decode folds (h/webdec2) with CUDADEC's model.ts
# (recordDecodeStep replays the recorded step) — the webgpu suites on the H100, then bench/webgpu.ts
# alternating after (main + the diff) / before (main) twice, then transformers' decode beside it.
set -u
R=$(pwd); D=$R/.dev-webdec2; OUT=${OUT:-/tmp/out}; mkdir -p $OUT
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s]"; }
for f in $D/gl/*.deb; do dpkg -x $f /; done; ldconfig
mkdir -p /tmp/bin && xz -dc $D/node.xz > /tmp/bin/node && chmod +x /tmp/bin/node && export PATH=/tmp/bin:$PATH
cd $R && tar xJf $D/mods.tar.xz && tar xJf $D/hf.tar.xz
export XDG_RUNTIME_DIR=/tmp
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
mkdir -p /tmp/before && tar -C $R --exclude=./node_modules --exclude='./.dev-*' --exclude=./.git -cf - . | tar -C /tmp/before -xf - && ln -s $R/node_modules /tmp/before/node_modules
tar xJf $D/changed.tar.xz
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; grep -m1 'model name' /proc/cpuinfo; nproc; el
CI=true timeout 25 node node_modules/vitest/vitest.mjs run test/backends/webgpu-recorded.test.ts test/backends/webgpu-fused.test.ts 2>&1 | grep -v "^Warning" > $OUT/tests.log; echo "tests rc=$?"; grep -E "×|Test Files|Tests " $OUT/tests.log | tail -12; el
for run in after:mamba-130m before:mamba-130m after:mamba2-130m before:mamba2-130m; do
  tree=${run%%:*}; m=${run#*:}
  dir=$R; [ $tree = before ] && dir=/tmp/before
  cd $dir; timeout 26 node --import tsx bench/webgpu.ts --models $m --prefill 2048 --decode 128 --copy --budget-s 22 --json $OUT/$tree-$m.json > $OUT/$tree-$m.log 2>&1
  echo "== $tree $m rc=$? $(el)"; grep -E 'ready in|prefill 2048|decode greedy|recorded step|decode step:|roofline' $OUT/$tree-$m.log | sed 's/^\[ *[0-9]* s\] //' | cut -c1-330
done
cd $R; PYTHONUNBUFFERED=1 timeout 22 python3 bench/transformers_mamba.py --models mamba-130m,mamba2-130m --prefill 16 --decode 128 --max-s 10 --budget-s 18 --json $OUT/hf.json > $OUT/hf.log 2>&1; echo "hf rc=$? $(el)"; tail -6 $OUT/hf.log
