#!/bin/bash
# One GPU-machine run for BENCHMARKS.md's WebGPU sections (issues 5, 8 item 5, 12), in priority order,
# each step capped so the whole ends within TOTAL seconds (a skipped step or prompt length says so):
#   1. bench:context on webgpu, 1k → 128k, 60 s per model (attention vs Mamba-2 vs hybrid)
#   2. bench/webgpu.ts, mamba-130m / mamba2-130m: prefill 2k/16k/128k + GPU bytes held, decode,
#      the plain sequential scan's prefill at 16k, the scan kernels alone beside two copies
#   3. the same for mamba-1.4b / mamba2-1.3b
#   4. PyTorch + transformers on the same GPU, same shapes (2k; 16k where it fits in 60 s)
#   5. a GPU-buffer soak (bench/soak.ts --backend webgpu: one long generate on the default model) with what time is left
# Kit (KIT, default .dev-gpubench in the repository root): node.xz (a Node 20 binary), gl/*.deb (the
# Vulkan loader), webgpu-mod.tar.xz (node_modules/webgpu), bench/* from `node tools/gpu-bench-kit.mjs`.
#   bash .dev-gpubench/run.sh [TOTAL_S]       from the repository root; results in $OUT
# A smoke run on a software adapter (no kit setup; bundles already in bench/; small sizes first, as
# the scripts take the first occurrence of a flag):
#   LOCAL=1 CONTEXTS=256,512 SMALL='--tiny --prefill 256 --scan-tokens 256 --plain-prefill 256' bash tools/gpu-bench-run.sh 600
set -u
R=$(pwd); K=${KIT:-$R/.dev-gpubench}; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
TOTAL=${1:-360}
T0=$(date +%s); el() { echo $(( $(date +%s) - T0 )); }; left() { echo $(( TOTAL - $(el) )); }
L="$OUT/log"
stamp() { echo "--- $1 at +$(el) s ($(left) s left)" | tee -a "$L"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$L"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) × $(nproc)" | tee -a "$L"
[ -e "$K/HEAD" ] && echo "bundled from: $(cat "$K/HEAD")" | tee -a "$L"
if [ -z "${LOCAL:-}" ]; then
  mkdir -p /tmp/bin && xz -dc "$K/node.xz" > /tmp/bin/node && chmod +x /tmp/bin/node && export PATH=/tmp/bin:$PATH
  for f in "$K"/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  tar xJf "$K/webgpu-mod.tar.xz" && cp "$K"/bench/* bench/
fi
CONTEXTS=${CONTEXTS:-1024,4096,16384,32768,65536,131072}; SMALL=${SMALL:-}
export XDG_RUNTIME_DIR=/tmp
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
echo "node $(node --version)" | tee -a "$L"
quiet() { grep -v '^Warning' ; }   # Dawn's Vulkan loader warnings

stamp "1 context"
timeout 210 node bench/context.mjs --backend webgpu --contexts $CONTEXTS --model-budget-s 60 \
  --no-write --json "$OUT/context-webgpu.json" 2>&1 | quiet >> "$L"; echo "context rc=${PIPESTATUS[0]}" | tee -a "$L"
tail -25 "$L" | grep -E '^\| |^  [0-9]+k|minutes'

B=$(( $(left) - 110 )); [ $B -gt 60 ] && B=60; [ $B -lt 25 ] && B=25
stamp "2 webgpu 130m (budget $B s)"
timeout $(( B + 40 )) node bench/webgpu.mjs $SMALL --models mamba-130m,mamba2-130m --prefill 2048,16384,131072 --decode 128 \
  --plain-prefill 16384 --kernels --budget-s $B --json "$OUT/webgpu-130m.json" 2>&1 | quiet >> "$L"; echo "webgpu-130m rc=${PIPESTATUS[0]}" | tee -a "$L"

B=$(( $(left) - 55 )); [ $B -lt 15 ] && B=15
stamp "3 webgpu large (budget $B s)"
timeout $(( B + 45 )) node bench/webgpu.mjs $SMALL --models mamba-1.4b,mamba2-1.3b --prefill 2048,16384,131072 --decode 64 \
  --kernels --budget-s $B --json "$OUT/webgpu-large.json" 2>&1 | quiet >> "$L"; echo "webgpu-large rc=${PIPESTATUS[0]}" | tee -a "$L"

B=$(( $(left) - 20 )); [ $B -lt 15 ] && B=15
stamp "4 transformers (budget $B s)"
PYTHONUNBUFFERED=1 timeout $(( B + 20 )) python3 bench/transformers_mamba.py --models mamba-1.4b,mamba2-1.3b,mamba-130m,mamba2-130m \
  --prefill 2048,16384 --decode 64 --max-s 60 --budget-s $B --json "$OUT/hf.json" >> "$L" 2>&1; echo "transformers rc=$?" | tee -a "$L"

D=$(( $(left) - 10 )); [ $D -lt 10 ] && D=10
stamp "5 soak (duration $D s)"
timeout $(( D + 25 )) node --expose-gc bench/soak.mjs --backend webgpu --phases generate --tokens 20000 --every 250 --duration $D \
  --out /tmp/soak --json "$OUT/soak.json" 2>&1 | quiet | grep -v '^\[soak' >> "$L"; echo "soak rc=${PIPESTATUS[0]}" | tee -a "$L"
cp /tmp/soak/*generate*.csv "$OUT/soak.csv" 2>/dev/null
stamp done
grep -vE '^\[ *[0-9]+ s\]' "$L" | tail -40
