// top_k.wgsl then sample_top_k.wgsl in ONE dispatch (decode's device sampling, WebGpuBackend.fuseSampling):
// both are one workgroup of 256 threads, so the candidates top_k writes are handed to the draw through a
// storage + workgroup barrier instead of a second dispatch (one setPipeline, setBindGroup and
// dispatchWorkgroups a token fewer). The same functions, so the same candidates and the same choice.
//   logits: [.., V] f32   cand: [2 + 2k] u32 = count, ids[k], value bits[k], the chosen id
//   n0 V  n1 offset of the row  n2 k  n3 greedy (1) or sampled (0)   f0 temperature  f1 topP  f2 u ∈ [0, 1)
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> cand: array<u32>;
//#include "include/top_k_body.wgsl"
//#include "include/sample_top_k_body.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  topK(lid, prm.n0, prm.n1, prm.n2);
  storageBarrier();   // top_k's writes to cand, visible to every thread of the workgroup
  workgroupBarrier();
  sampleTopK(lid, prm.n2, prm.n3 == 1u, prm.f0, prm.f1, prm.f2);
}
