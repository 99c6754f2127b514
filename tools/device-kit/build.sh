#!/bin/bash
# Builds the device kit (default folder .dev-lead2, which .git/info/exclude should list): what the H100 machine
# needs to run this tree's suites and benches, within run's 64 MiB carry with the tracked tree (~23 MB):
#   node.xz       this machine's Node binary (the device has none), ~24 MB
#   mods.tar.xz   the node_modules closure of the test and bench tools and the runtime dependencies (closure.mjs),
#                 webgpu's dist for linux-x64 only, without dawn.node, ~11 MB
#   dawn.node.xz  webgpu's dawn.node, stripped, ~5 MB: apart, so a CUDA-only call can leave it behind
#   gl/*.deb      the Vulkan loader and GL dispatch libraries Dawn needs there (the device README's list)
#   addon.node.xz the CUDA addon built here for sm_90 (nvcc, no GPU needed)
#   probe/probes.tar.xz  tools/cuda-probe's timing binaries, stripped (step probe), ~0.8 MB
#   sh/           run.sh, steps.sh, step-*.sh: the call's driver and its steps (copied from tools/device-kit), HEAD
# Each part is rebuilt only when missing, except the addon and the scripts (always, they follow the tree).
#   bash tools/device-kit/build.sh [kit folder]
# A call:  run(command="STEPS='cudatests webtests' timeout 290 bash .dev-lead2/sh/run.sh 270 2>&1 | tail -70",
#              carry=[".dev-lead2"], timeout_s=300)
# A CUDA-only call may carry the parts without dawn.node (the tracked tree plus the whole kit is near run's 64 MiB):
#   carry=[".dev-lead2/sh", ".dev-lead2/node.xz", ".dev-lead2/mods.tar.xz", ".dev-lead2/addon.node.xz", ".dev-lead2/probe"]
set -euo pipefail
K=${1:-.dev-lead2}; here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$K/gl"
[ -s "$K/node.xz" ] || xz -T2 -9 -c "$(command -v node)" > "$K/node.xz"
if ! ls "$K"/gl/*.deb >/dev/null 2>&1; then
  (cd "$K/gl" && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
if [ ! -s "$K/mods.tar.xz" ] || [ ! -s "$K/dawn.node.xz" ]; then
  stage=$(mktemp -d)
  node "$here/closure.mjs" vitest tsx webgpu @huggingface/jinja @huggingface/tokenizers cli-progress comlink commander \
    @huggingface/gguf fast-check esbuild --exclude lightningcss,@types/node > "$stage/list"
  tar cf - -T "$stage/list" | tar xf - -C "$stage"
  find "$stage/node_modules/webgpu/dist" -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
  dawn="$stage/node_modules/webgpu/dist/linux-x64/dawn.node"
  strip --strip-unneeded "$dawn" && xz -T2 -9e -c "$dawn" > "$K/dawn.node.xz" && rm "$dawn"
  tar cf - -C "$stage" node_modules | xz -T2 -9e > "$K/mods.tar.xz"
  rm -rf "$stage"
fi
npx cmake-js rebuild --directory gpu/cuda --out /tmp/kit-cuda --CDCMAKE_CUDA_ARCHITECTURES=90-real > /tmp/kit-cuda.log 2>&1 \
  || { tail -20 /tmp/kit-cuda.log; exit 1; }
xz -T2 -9 -c /tmp/kit-cuda/Release/mamba_edge_cuda.node > "$K/addon.node.xz"
probes=${PROBES:-default noexp nosfu l2}
node "$here/../cuda-probe/build.mjs" /tmp/kit-probe > /tmp/kit-probe.log 2>&1 || { tail -20 /tmp/kit-probe.log; exit 1; }
mkdir -p "$K/probe"
(cd /tmp/kit-probe && for v in $probes; do strip -o s-$v scan-probe-$v; done && tar cf - $(for v in $probes; do echo s-$v; done)) | xz -T2 -9e > "$K/probe/probes.tar.xz"
rm -f "$K"/*.sh "$K/HEAD"  # the layout before sh/
rm -rf "$K/sh"; mkdir -p "$K/sh" && cp "$here"/run.sh "$here"/steps.sh "$here"/step-*.sh "$K/sh/"
git rev-parse --short HEAD > "$K/sh/HEAD"
du -cb "$K" | tail -1
