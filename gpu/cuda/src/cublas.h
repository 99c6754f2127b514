// cuBLAS, loaded at run time (dlopen) rather than linked: the addon then builds where the toolkit has
// no cuBLAS (nvcc alone) and runs where it finds one — the CUDA toolkit's or the one PyTorch's wheels
// bring (LD_LIBRARY_PATH, or MAMBA_EDGE_CUBLAS naming the file; MAMBA_EDGE_CUBLAS=off disables it, to
// test the fallback). Without it, matmul uses the addon's own kernels. Only the v2 entry points used
// here are declared, with cuBLAS's ABI values.
#pragma once
#include <cuda_runtime_api.h>
#include <string>

namespace me {

struct Cublas {
  using Handle = void*;
  int (*create)(Handle*) = nullptr;
  int (*destroy)(Handle) = nullptr;
  int (*setStream)(Handle, cudaStream_t) = nullptr;
  int (*sgemm)(Handle, int transa, int transb, int m, int n, int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
               const float* beta, float* C, int ldc) = nullptr;
  int (*getVersion)(Handle, int*) = nullptr;
  static constexpr int kOpN = 0, kOpT = 1;  // cublasOperation_t
  std::string library;                      // the file that loaded, for backendInfo
  bool loaded() const { return sgemm != nullptr; }
};

/** Loads cuBLAS once per process; `why` says what was tried when it is not found. */
const Cublas& cublas(std::string* why);

}  // namespace me
