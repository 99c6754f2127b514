#!/usr/bin/env bash
# Builds wasm/dist/kernels-c.wasm from wasm/c/*.c with the clang / wasm-ld that
# Debian's emscripten package installs (clang-14, wasm-ld-14). No emcc: its JS
# glue is broken on Node ≥ 18 ESM, and we need none of it (ABI.md: JavaScript
# owns the memory and the module imports it).
#
# The built .wasm is committed, so npm users never need a C toolchain.
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-$(command -v clang-14 || command -v clang || true)}
WASM_LD=${WASM_LD:-$(command -v wasm-ld-14 || command -v wasm-ld || true)}
if [[ -z "$CLANG" || -z "$WASM_LD" ]]; then
  echo "wasm/c/build.sh: clang-14 / wasm-ld-14 not found." >&2
  echo "  Install them with: apt-get install emscripten   (Debian; pulls clang-14, lld-14)" >&2
  exit 1
fi

mkdir -p ../dist

# Compile flags:
#  --target=wasm32 -nostdlib -ffreestanding: bare wasm32, no libc (kernels
#     call nothing);
#  -msimd128: SIMD128 (plain, not relaxed: Node 20 rejects relaxed SIMD);
#  -matomics -mbulk-memory: required by wasm-ld for --shared-memory; bulk
#     memory also lets the linker emit passive data segments plus
#     __wasm_init_memory, so instantiating in every worker on the same memory
#     initializes static data once instead of overwriting it;
#  -mmutable-globals: wasm-ld refuses to export the mutable __stack_pointer
#     global unless the objects declare this (long-standard) feature;
#  -O3; -fno-builtin stops clang from turning loops into memcpy/memset calls
#     that a libc-less module could not resolve.
CFLAGS=(--target=wasm32 -O3 -msimd128 -matomics -mbulk-memory -mmutable-globals -nostdlib -ffreestanding
        -fno-builtin -Wall -Wextra -Werror)

# Link flags (wasm/ABI.md):
#  --import-memory --shared-memory --max-memory=4 GiB: import env.memory, shared,
#     the same declaration as the AssemblyScript module's;
#  --global-base=65536: C static data at 64 KiB (ABI.md memory layout);
#  -z stack-size=65536: each thread's stack is 64 KiB, and JS points
#     __stack_pointer at its own thread's slot;
#  --export=__stack_pointer: so JS can do that (a mutable global, per instance);
#  --no-entry: a library, no main;
#  --export-dynamic: kept per ABI.md; the kernels are exported by name through
#     __attribute__((export_name)) (clang's wasm default visibility is hidden).
LDFLAGS=(-Wl,--import-memory,--shared-memory,--max-memory=4294967296,--global-base=65536
         -Wl,--no-entry,--export-dynamic,-z,stack-size=65536,--export=__stack_pointer)

"$CLANG" "${CFLAGS[@]}" "${LDFLAGS[@]}" -fuse-ld="$WASM_LD" -o ../dist/kernels-c.wasm matmul.c q8_0.c embed.c
echo "built $(cd .. && pwd)/dist/kernels-c.wasm ($(wc -c < ../dist/kernels-c.wasm) bytes)"

# The same kernels for runtimes without SharedArrayBuffer (edge functions, pages without
# COOP/COEP): a module importing a shared memory cannot take a plain one, so this variant
# drops the atomics feature and --shared-memory; everything else is identical.
ST_CFLAGS=("${CFLAGS[@]/-matomics/}")
ST_LDFLAGS=(-Wl,--import-memory,--max-memory=4294967296,--global-base=65536
            -Wl,--no-entry,--export-dynamic,-z,stack-size=65536,--export=__stack_pointer)
"$CLANG" "${ST_CFLAGS[@]}" "${ST_LDFLAGS[@]}" -fuse-ld="$WASM_LD" -o ../dist/kernels-c-st.wasm matmul.c q8_0.c embed.c
echo "built $(cd .. && pwd)/dist/kernels-c-st.wasm ($(wc -c < ../dist/kernels-c-st.wasm) bytes)"
