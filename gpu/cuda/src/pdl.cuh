// Programmatic dependent launch (PDL, sm_90+): a kernel launched with the attribute
// cudaLaunchAttributeProgrammaticStreamSerialization may start while the kernel before it in the stream
// is still running, once every block of that one has called cudaTriggerProgrammaticLaunchCompletion (or
// exited). It must then call cudaGridDependencySynchronize — which returns once the kernel before has
// completed and its writes are visible — before it reads anything an earlier kernel wrote or writes
// anything at all (a pooled buffer it writes may still be read by the kernel before). What it may do
// before that wait: read what no kernel writes (weights), and so overlap its launch and its first weight
// loads with the previous kernel's tail. Inside a captured graph the attribute becomes a programmatic
// edge (CUDA 12.3+). A decode step is ~100 dependent kernels of a few µs each: this is where their
// launch latency goes.
//
// Rules kept by every kernel here: trigger only after the wait (so at most the next kernel waits
// beside a running one, never a chain of them holding the SMs the running one still needs), and a
// kernel without the wait is never launched with the attribute. A trigger in a kernel launched the
// ordinary way is harmless (it only lets a PDL-launched successor start its prologue early).
#pragma once
#include <cuda_runtime.h>
#include <utility>

namespace me {

/** Whether launchPdl sets the attribute (the device is sm_90+ and MAMBA_EDGE_CUDA_PDL is not "off"). */
bool pdlOn();

__device__ __forceinline__ void pdlWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
}

__device__ __forceinline__ void pdlTrigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}

/** kernel<<<grid, block, smem, s>>>(args...), with the PDL attribute when pdlOn(). */
template <typename... Params, typename... Args>
cudaError_t launchPdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdlOn() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

}  // namespace me
