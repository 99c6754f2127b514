// (through include/matvec_reduce.wgsl, or directly by a kernel that declares its own WG)
// Each of the workgroup's WG threads holds partial sums acc[r] for up to 8 rows; a tree reduction
// over the workgroup adds them up. The including file declares WG (threads a workgroup, a power of 2).
//
// Compile time on lavapipe (llvmpipe, the CI's software Vulkan): a shader with a barrier becomes an LLVM
// coroutine, and LLVM 15's CoroSplit takes time superlinear (about quadratic) in the shader's basic
// blocks. llvmpipe emits every memory access whose address differs between invocations (storage or
// workgroup memory) as per-lane branches: about 40 blocks a scalar, 160 a vec4, for each access the
// unrolled NIR holds. So count access *sites* after unrolling: a loop with a constant trip count (r < 8u,
// a tree's steps) multiplies its accesses. Rule: keep divergent loads out of unrolled loops when they do
// not depend on the loop index (load once, before it), and give the tree below one copy of its body (the
// steps a loop around an inner loop, which NIR does not unroll) rather than steps × 8 rows of copies.
// It costs a real GPU nothing: the same adds in the same order, each thread's loads no more than before.
var<workgroup> red: array<f32, 8u * WG>;

// Adds red's rows up within each group of L consecutive threads (L a power of 2 dividing WG), a tree:
// at step s = L/2, L/4, …, 1, red[r·WG + grp·L + i] += red[r·WG + grp·L + i + s] for every row r < rows,
// group grp and i < s — the adds of a thread-per-slot tree, in the same order, but spread over all WG
// threads (triple p = (r·(WG/L) + grp)·s + i to thread p mod WG) instead of slot i's thread adding all
// its rows, so the tree's body is one load-add-store (lavapipe: see above). Afterwards red[r·WG + grp·L]
// holds row r's sum over group grp. Has barriers (one a step): call from workgroup-uniform control flow
// after a barrier that follows the writes to red.
fn treeSums(rows: u32, lid: u32, L: u32) {
  var sh = countTrailingZeros(L); // log2(s) after the decrement below
  for (var s = L / 2u; s > 0u; s >>= 1u) {
    sh -= 1u;
    let n = rows * (WG / L) * s; // the step's adds
    for (var p = lid; p < n; p += WG) {
      let at = (p >> sh) * L + (p & (s - 1u));
      red[at] += red[at + s];
    }
    workgroupBarrier();
  }
}

// Σ over the workgroup's threads of acc[r], returned to thread r for r < rows (other threads get a
// value to ignore). Has barriers: call it from workgroup-uniform control flow.
fn rowSums(acc: array<f32, 8>, rows: u32, lid: u32) -> f32 {
  for (var r = 0u; r < 8u; r++) { red[r * WG + lid] = acc[r]; }
  workgroupBarrier();
  treeSums(rows, lid, WG);
  return red[min(lid, 7u) * WG];
}
