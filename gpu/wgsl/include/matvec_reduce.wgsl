// (shared by the matvec*.wgsl kernels through //#include, see gpu/wgsl/build.mjs)
// One workgroup of WG threads per output column; each thread holds partial sums acc[r] for up to
// 8 rows, and a tree reduction over the workgroup adds them up (include/row_sums.wgsl).
const WG: u32 = 64u;
//#include "include/row_sums.wgsl"
