// mamba_edge_cuda: the Node-API face of the CUDA kernels (node-addon-api, C++ exceptions on).
//
// JavaScript holds device pointers as BigInts and owns their lifetime (src/backends/cuda/index.ts pools
// them); this file checks every CUDA call and turns a failure into a JS Error whose `code` is
// E_MEMORY (out of device memory) or E_BACKEND (anything else), so the call that failed throws and
// the process keeps running. Every op is enqueued on the device's one stream in call order; only
// `downloadAsync` (off the JS thread) and `synchronize` wait, and report kernels that failed while running.
//
// Recorded steps: between `beginCapture` and `endCapture` the ops are not run but recorded (CUDA stream
// capture) into a graph that `replay` launches again as one unit, with new token ids copied in first —
// a decode step of ~300 ops becomes one launch (src/backends/cuda/index.ts `recordStep`).
#include <napi.h>
#include <cuda_runtime_api.h>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>
#include "cublas.h"
#include "kernels.h"

namespace me {
Napi::Object attentionApi(Napi::Env env);  // attention_api.cc: the attention-family kernels (issue 8)
}

namespace {

using me::WeightType;
constexpr int kMinMajor = 8;         // built for sm_80 + sm_90 machine code and compute_80 PTX (CMakeLists.txt)

[[noreturn]] void throwCuda(Napi::Env env, cudaError_t e, const std::string& what) {
  // A failed call also leaves its error as the runtime's "last error" (a failed cudaMalloc included):
  // clear it, or the next op's launch check would report it again. Sticky errors (a kernel fault) stay.
  cudaGetLastError();
  const char* code = e == cudaErrorMemoryAllocation ? "E_MEMORY" : "E_BACKEND";
  Napi::Error err = Napi::Error::New(env, "cuda: " + what + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  err.Set("code", Napi::String::New(env, code));
  err.Set("cudaError", Napi::Number::New(env, static_cast<int>(e)));
  throw err;
}

Napi::Error cudaError(Napi::Env env, cudaError_t e, const std::string& what) {
  Napi::Error err = Napi::Error::New(env, "cuda: " + what + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  err.Set("code", Napi::String::New(env, e == cudaErrorMemoryAllocation ? "E_MEMORY" : "E_BACKEND"));
  err.Set("cudaError", Napi::Number::New(env, static_cast<int>(e)));
  return err;
}

[[noreturn]] void throwCode(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

void check(Napi::Env env, cudaError_t e, const char* what) {
  if (e != cudaSuccess) throwCuda(env, e, what);
}

void* ptr(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  bool lossless = true;
  return reinterpret_cast<void*>(static_cast<uintptr_t>(v.As<Napi::BigInt>().Uint64Value(&lossless)));
}
float* fptr(const Napi::Value& v) { return static_cast<float*>(ptr(v)); }
int64_t i64(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }
int i32(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }
double f64(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
WeightType wtype(Napi::Env env, const Napi::Value& v) {
  const int t = i32(v);
  if (t < me::kF32 || t > me::kBF16) throwCode(env, "E_DTYPE", "cuda: unknown weight dtype code " + std::to_string(t));
  return static_cast<WeightType>(t);
}

/** Why CUDA cannot run here, or "" when device 0 can run this build. */
std::string unavailableReason(cudaDeviceProp* props) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice || e == cudaErrorCompatNotSupportedOnDevice) {
    cudaGetLastError();
    return std::string(e == cudaErrorNoDevice ? "no CUDA device" : "no usable CUDA driver") + " (" + cudaGetErrorName(e) + ": " +
           cudaGetErrorString(e) + ")";
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("CUDA cannot start: ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
  }
  if (count == 0) return "no CUDA device";
  if ((e = cudaGetDeviceProperties(props, 0)) != cudaSuccess) return std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(e);
  if (props->major < kMinMajor) {
    return std::string(props->name) + " has compute capability " + std::to_string(props->major) + "." + std::to_string(props->minor) +
           "; this addon needs " + std::to_string(kMinMajor) + ".0 or newer";
  }
  if ((e = cudaSetDevice(0)) != cudaSuccess) return std::string("cudaSetDevice: ") + cudaGetErrorString(e);
  if ((e = me::probeKernelImage()) != cudaSuccess) {
    cudaGetLastError();
    return std::string("this build has no code for ") + props->name + ": " + cudaGetErrorString(e);
  }
  return "";
}

Napi::Object deviceInfo(Napi::Env env, const cudaDeviceProp& p) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", p.name);
  o.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
  o.Set("multiprocessors", p.multiProcessorCount);
  o.Set("totalBytes", static_cast<double>(p.totalGlobalMem));
  return o;
}

/** probe() → { available: true, device } | { available: false, reason } — never throws for a missing GPU. */
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cudaDeviceProp props{};
  const std::string why = unavailableReason(&props);
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", why.empty());
  if (why.empty()) o.Set("device", deviceInfo(env, props));
  else o.Set("reason", why);
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  o.Set("runtimeVersion", rt);
  return o;
}

class Device : public Napi::ObjectWrap<Device> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Device",
                       {
                           InstanceMethod("malloc", &Device::Malloc),
                           InstanceMethod("free", &Device::Free),
                           InstanceMethod("memsetZero", &Device::MemsetZero),
                           InstanceMethod("upload", &Device::Upload),
                           InstanceMethod("downloadAsync", &Device::DownloadAsync),
                           InstanceMethod("copy", &Device::Copy),
                           InstanceMethod("synchronize", &Device::Synchronize),
                           InstanceMethod("memInfo", &Device::MemInfo),
                           InstanceMethod("dispose", &Device::Dispose),
                           InstanceMethod("embedding", &Device::Embedding),
                           InstanceMethod("rmsNorm", &Device::RmsNorm),
                           InstanceMethod("gatedRmsNorm", &Device::GatedRmsNorm),
                           InstanceMethod("add", &Device::Add),
                           InstanceMethod("glu", &Device::Glu),
                           InstanceMethod("matmul", &Device::Matmul),
                           InstanceMethod("conv1d", &Device::Conv1d),
                           InstanceMethod("scan", &Device::Scan),
                           InstanceMethod("embeddingIds", &Device::EmbeddingIds),
                           InstanceMethod("gemvBatch", &Device::GemvBatchOp),
                           InstanceMethod("addRmsNorm", &Device::AddRmsNorm),
                           InstanceMethod("conv1dStepBatch", &Device::Conv1dStepBatchOp),
                           InstanceMethod("topK", &Device::TopK),
                           InstanceMethod("beginCapture", &Device::BeginCapture),
                           InstanceMethod("endCapture", &Device::EndCapture),
                           InstanceMethod("abortCapture", &Device::AbortCapture),
                           InstanceMethod("replay", &Device::Replay),
                           InstanceMethod("releaseGraph", &Device::ReleaseGraph),
                           InstanceMethod("setPdl", &Device::SetPdl),
                           InstanceMethod("setDecodeSplit", &Device::SetDecodeSplit),
                           InstanceMethod("setSsdHold", &Device::SetSsdHold),
                           InstanceMethod("decodeGemv", &Device::DecodeGemvOp),
                           InstanceMethod("scanDtStep", &Device::ScanDtStepOp),
                           InstanceMethod("topKSample", &Device::TopKSample),
                           InstanceMethod("replayFrom", &Device::ReplayFrom),
                           InstanceMethod("ssdStep", &Device::SsdStepOp),
                           InstanceMethod("convShift", &Device::ConvShiftOp),
                           InstanceMethod("ssdConvStep", &Device::SsdConvStepOp),
                           InstanceMethod("topKSampleFrom", &Device::TopKSampleFrom),
                           InstanceMethod("stateCopy", &Device::StateCopy),
                           InstanceMethod("launchGraph", &Device::LaunchGraph),
                           InstanceMethod("writeAsync", &Device::WriteAsync),
                           InstanceAccessor("convEpilogues", &Device::ConvEpiloguesMax, nullptr),
                           InstanceAccessor("stateSources", &Device::StateSources, nullptr),
                           InstanceAccessor("info", &Device::Info, nullptr),
                       });
  }

  explicit Device(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Device>(info) {
    Napi::Env env = info.Env();
    const std::string why = unavailableReason(&props_);
    if (!why.empty()) throwCode(env, "E_BACKEND", "cuda: " + why);
    // A blocking stream (not cudaStreamNonBlocking): it stays ordered with the synchronous copies of
    // upload/write on the legacy stream, and unlike the legacy stream it can be captured.
    check(env, cudaStreamCreate(&stream_), "cudaStreamCreate");
    // A zeroed word for kernels that find their grid's last block (decode.cu ssdStep with its convs), made
    // here because neither an allocation nor a memset may happen while a step is being recorded.
    check(env, cudaMalloc(reinterpret_cast<void**>(&counter_), sizeof(unsigned)), "cudaMalloc (counter)");
    check(env, cudaMemset(counter_, 0, sizeof(unsigned)), "cudaMemset (counter)");
    std::string cublasWhy;
    const me::Cublas& cb = me::cublas(&cublasWhy);
    if (cb.loaded()) {
      if (cb.create(&blas_) != 0 || cb.setStream(blas_, stream_) != 0) {
        blas_ = nullptr;
        cublasNote_ = "cuBLAS (" + cb.library + ") did not initialise; matmul uses the addon's own kernels";
      } else {
        int v = 0;
        if (cb.getVersion) cb.getVersion(blas_, &v);
        cublasNote_ = "cuBLAS " + std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + " (" + cb.library + ")";
      }
    } else {
      cublasNote_ = "cuBLAS not found (" + cublasWhy + "); matmul uses the addon's own kernels";
    }
  }

  ~Device() { release(); }

 private:
  cudaDeviceProp props_{};
  cudaStream_t stream_ = nullptr;
  bool capturing_ = false;
  std::set<cudaGraphExec_t> graphs_;  // instantiated recordings, destroyed on dispose
  void* blas_ = nullptr;
  std::string cublasNote_;
  void* scratch_ = nullptr;
  size_t scratchBytes_ = 0;
  int32_t* ids_ = nullptr;
  size_t idsBytes_ = 0;
  unsigned* counter_ = nullptr;
  bool disposed_ = false;
  std::map<size_t, std::vector<void*>> pinned_;  // page-locked host buffers for downloadAsync, by size

  void release() {
    if (disposed_) return;
    disposed_ = true;
    for (auto& [bytes, list] : pinned_)
      for (void* p : list) cudaFreeHost(p);
    pinned_.clear();
    abortCapture();
    if (stream_) cudaStreamSynchronize(stream_);
    for (cudaGraphExec_t g : graphs_) cudaGraphExecDestroy(g);
    graphs_.clear();
    if (blas_) me::cublas(nullptr).destroy(blas_);
    blas_ = nullptr;
    if (scratch_) cudaFree(scratch_);
    if (ids_) cudaFree(ids_);
    if (counter_) cudaFree(counter_);
    scratch_ = nullptr;
    ids_ = nullptr;
    counter_ = nullptr;
    if (stream_) cudaStreamDestroy(stream_);
    stream_ = nullptr;
    cudaGetLastError();
  }

  /** Ends a capture in progress and drops what it recorded (after a failed op, or on dispose). */
  void abortCapture() {
    if (!capturing_) return;
    capturing_ = false;
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream_, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
  }

  void live(Napi::Env env) {
    if (disposed_) throwCode(env, "E_BACKEND", "cuda: the backend was disposed");
  }

  /** Calls that copy from or to the host, or wait, cannot be part of a recording. */
  void notCapturing(Napi::Env env, const char* what) {
    if (capturing_) throwCode(env, "E_BACKEND", std::string("cuda: ") + what + " cannot be recorded in a captured step");
  }

  /** A device buffer of at least `bytes`, reused across ops (stream order makes reuse safe; cudaFree waits). */
  void* scratch(Napi::Env env, size_t bytes) {
    if (bytes <= scratchBytes_) return scratch_;
    // Growing would free a block the recording may use and synchronise: such an op is not recordable.
    if (capturing_) throwCode(env, "E_BACKEND", "cuda: an op that needs " + std::to_string(bytes) + " bytes of scratch cannot be recorded");
    if (scratch_) cudaFree(scratch_);
    scratch_ = nullptr;
    scratchBytes_ = 0;
    check(env, cudaMalloc(&scratch_, bytes), "cudaMalloc (scratch)");
    scratchBytes_ = bytes;
    return scratch_;
  }

  void launched(Napi::Env env, cudaError_t e, const char* op) {
    if (e != cudaSuccess) throwCuda(env, e, std::string("launching ") + op);
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Object o = deviceInfo(info.Env(), props_);
    o.Set("cublas", cublasNote_);
    o.Set("cublasLoaded", blas_ != nullptr);
    return o;
  }

  Napi::Value Malloc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    const int64_t bytes = i64(info[0]);
    void* p = nullptr;
    check(env, cudaMalloc(&p, bytes > 0 ? bytes : 1), ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str());
    return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)));
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    if (cudaFree(ptr(info[0])) != cudaSuccess) cudaGetLastError();  // after a sticky error cudaFree fails too; nothing more to do
    return info.Env().Undefined();
  }

  Napi::Value MemsetZero(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    check(env, cudaMemsetAsync(ptr(info[0]), 0, i64(info[1]), stream_), "cudaMemsetAsync");
    return env.Undefined();
  }

  /** upload(dst, Float32Array, dtype): f32 copies; f16/bf16 convert on the device (round to nearest even). */
  Napi::Value Upload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    notCapturing(env, "upload");
    void* dst = ptr(info[0]);
    Napi::Float32Array src = info[1].As<Napi::Float32Array>();
    const WeightType wt = wtype(env, info[2]);
    const size_t n = src.ElementLength();
    if (wt == me::kF32) {
      check(env, cudaMemcpy(dst, src.Data(), n * 4, cudaMemcpyHostToDevice), "cudaMemcpy (upload)");
    } else {
      float* stage = static_cast<float*>(scratch(env, n * 4));
      check(env, cudaMemcpy(stage, src.Data(), n * 4, cudaMemcpyHostToDevice), "cudaMemcpy (upload)");
      launched(env, me::launchConvertFromF32(dst, stage, n, wt, stream_), "convert");
    }
    return env.Undefined();
  }

  /** A page-locked buffer of at least `bytes` (sizes rounded up to a power of two, so decode's reads reuse one). */
  std::pair<void*, size_t> takePinned(Napi::Env env, size_t bytes) {
    size_t size = 4096;
    while (size < bytes) size <<= 1;
    auto& list = pinned_[size];
    if (!list.empty()) {
      void* p = list.back();
      list.pop_back();
      return {p, size};
    }
    void* p = nullptr;
    check(env, cudaMallocHost(&p, size), "cudaMallocHost (read-back buffer)");
    return {p, size};
  }

 public:
  void givePinned(void* p, size_t size) {
    if (disposed_) cudaFreeHost(p);
    else pinned_[size].push_back(p);
  }

 private:
  /**
   * downloadAsync(src, Float32Array, dtype, byKernel?) → Promise<void>. The copy is enqueued now, in call order
   * (so it reads the tensor as it is after the ops before it, whatever is enqueued later), into a
   * page-locked buffer; a worker thread waits for it and fills the array, so the event loop runs
   * while the GPU works. A kernel that failed rejects the promise with E_BACKEND.
   */
  Napi::Value DownloadAsync(const Napi::CallbackInfo& info);

  Napi::Value Copy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    check(env, cudaMemcpyAsync(ptr(info[0]), ptr(info[1]), i64(info[2]), cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync");
    return env.Undefined();
  }

  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    notCapturing(env, "synchronize");
    check(env, cudaDeviceSynchronize(), "running the enqueued kernels");
    return env.Undefined();
  }

  Napi::Value MemInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    size_t freeB = 0, total = 0;
    check(env, cudaMemGetInfo(&freeB, &total), "cudaMemGetInfo");
    Napi::Object o = Napi::Object::New(env);
    o.Set("free", static_cast<double>(freeB));
    o.Set("total", static_cast<double>(total));
    return o;
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }

  // ---- ops (argument order mirrors src/backends/cuda/index.ts) ------------------------------------

  Napi::Value Embedding(const Napi::CallbackInfo& info) {  // (out, table, dtype, Int32Array ids, dim)
    Napi::Env env = info.Env();
    live(env);
    Napi::Int32Array ids = info[3].As<Napi::Int32Array>();
    notCapturing(env, "embedding with host ids (embeddingIds reads them from the device)");
    const size_t bytes = ids.ElementLength() * 4;
    if (bytes > idsBytes_) {
      if (ids_) cudaFree(ids_);
      ids_ = nullptr;
      idsBytes_ = 0;
      check(env, cudaMalloc(reinterpret_cast<void**>(&ids_), bytes), "cudaMalloc (ids)");
      idsBytes_ = bytes;
    }
    check(env, cudaMemcpy(ids_, ids.Data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy (ids)");
    launched(env, me::launchEmbedding(fptr(info[0]), ptr(info[1]), wtype(env, info[2]), ids_, (int)ids.ElementLength(), i32(info[4]), stream_),
             "embedding");
    return env.Undefined();
  }

  Napi::Value RmsNorm(const Napi::CallbackInfo& info) {  // (out, x, w, rows, dim, eps)
    Napi::Env env = info.Env();
    live(env);
    launched(env, me::launchRmsNorm(fptr(info[0]), fptr(info[1]), fptr(info[2]), i64(info[3]), i32(info[4]), (float)f64(info[5]), stream_),
             "rmsNorm");
    return env.Undefined();
  }

  Napi::Value GatedRmsNorm(const Napi::CallbackInfo& info) {  // (out, x, gate, w, groups, groupSize, dim, eps)
    Napi::Env env = info.Env();
    live(env);
    launched(env,
             me::launchGatedRmsNorm(fptr(info[0]), fptr(info[1]), fptr(info[2]), fptr(info[3]), i64(info[4]), i32(info[5]), i32(info[6]),
                                    (float)f64(info[7]), stream_),
             "gatedRmsNorm");
    return env.Undefined();
  }

  Napi::Value Add(const Napi::CallbackInfo& info) {  // (out, a, b, n)
    Napi::Env env = info.Env();
    live(env);
    launched(env, me::launchAdd(fptr(info[0]), fptr(info[1]), fptr(info[2]), i64(info[3]), stream_), "add");
    return env.Undefined();
  }

  Napi::Value Glu(const Napi::CallbackInfo& info) {  // (out, a, gate, n)
    Napi::Env env = info.Env();
    live(env);
    launched(env, me::launchGlu(fptr(info[0]), fptr(info[1]), fptr(info[2]), i64(info[3]), stream_), "glu");
    return env.Undefined();
  }

  /**
   * matmul(out, x, w, dtype, bias|null, rows, K, M): y = x·Wᵀ + bias.
   * ≤ 8 rows (decode): the GEMV kernel, reading f16/bf16 weights directly. More rows: cuBLAS SGEMM in
   * f32 (half weights widened into scratch first, so activations never round to 16 bits), or the tiled
   * kernel without cuBLAS. cuBLAS's default math mode keeps f32 (no TF32) unless NVIDIA_TF32_OVERRIDE says so.
   */
  Napi::Value Matmul(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    float* y = fptr(info[0]);
    const float* x = fptr(info[1]);
    const void* w = ptr(info[2]);
    const WeightType wt = wtype(env, info[3]);
    const float* bias = fptr(info[4]);
    const int64_t rows = i64(info[5]);
    const int K = i32(info[6]), M = i32(info[7]);
    if (rows <= me::kGemvMaxRows) {
      launched(env, me::launchGemv(y, x, w, wt, bias, (int)rows, K, M, stream_), "gemv");
    } else if (blas_ && rows <= INT32_MAX) {
      const float* wf = static_cast<const float*>(w);
      if (wt != me::kF32) {
        float* wide = static_cast<float*>(scratch(env, (size_t)M * K * 4));
        launched(env, me::launchConvertToF32(wide, w, (int64_t)M * K, wt, stream_), "convert");
        wf = wide;
      }
      float beta = 0.f;
      if (bias) {
        launched(env, me::launchBroadcastRows(y, bias, rows, M, stream_), "bias");
        beta = 1.f;
      }
      const float alpha = 1.f;
      // Column-major view: yᵀ [M × rows] = (W viewed K × M)ᵀ · (x viewed K × rows).
      const int st = me::cublas(nullptr).sgemm(blas_, me::Cublas::kOpT, me::Cublas::kOpN, M, (int)rows, K, &alpha, wf, K, x, K, &beta, y, M);
      if (st != 0) throwCode(env, st == 3 ? "E_MEMORY" : "E_BACKEND", "cuda: cublasSgemm failed with status " + std::to_string(st));
    } else {
      launched(env, me::launchTiledGemm(y, x, w, wt, bias, rows, K, M, stream_), "tiledGemm");
    }
    return env.Undefined();
  }

  Napi::Value Conv1d(const Napi::CallbackInfo& info) {  // (out, x, w, bias|null, state, B, T, C, K, silu)
    Napi::Env env = info.Env();
    live(env);
    launched(env,
             me::launchConv1d(fptr(info[0]), fptr(info[1]), fptr(info[2]), fptr(info[3]), fptr(info[4]), i32(info[5]), i32(info[6]),
                              i32(info[7]), i32(info[8]), info[9].As<Napi::Boolean>().Value(), stream_),
             "conv1d");
    return env.Undefined();
  }

  /**
   * scan(ssd, y, x, dt, dtBias, A, B, C, D, z|null, state, Bsz, T, I, N, H, P, G, dtMin, dtMax) → chunks used.
   * Mamba-1 when ssd is false (I = d_inner), Mamba-2 when true (I = H·P).
   */
  Napi::Value Scan(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    me::ScanShape sh{};
    sh.ssd = info[0].As<Napi::Boolean>().Value();
    me::ScanArgs a{};
    a.y = fptr(info[1]);
    a.x = fptr(info[2]);
    a.dt = fptr(info[3]);
    a.dtBias = fptr(info[4]);
    a.A = fptr(info[5]);
    a.Bm = fptr(info[6]);
    a.Cm = fptr(info[7]);
    a.D = fptr(info[8]);
    a.z = fptr(info[9]);
    a.state = fptr(info[10]);
    sh.B = i32(info[11]);
    sh.T = i32(info[12]);
    sh.I = i32(info[13]);
    sh.N = i32(info[14]);
    sh.H = i32(info[15]);
    sh.P = i32(info[16]);
    sh.G = i32(info[17]);
    sh.dtMin = (float)f64(info[18]);
    sh.dtMax = (float)f64(info[19]);
    if (sh.N > 256) throwCode(env, "E_SHAPE", "cuda: state size " + std::to_string(sh.N) + " is above the scan kernel's 256");
    if (me::ssdTiledWanted(sh)) {  // MAMBA_EDGE_CUDA_SSD=tiled: ssd_tiled.cu's four passes (chunks of 64 steps)
      void* st = scratch(env, me::ssdTiledScratchBytes(sh));
      launched(env, me::launchSsdTiled(sh, a, st, stream_), "ssdScan (tiled)");
      return Napi::Number::New(env, me::ssdTiledChunks(sh));
    }
    const int chunks = me::scanChunks(sh, props_.multiProcessorCount);
    const size_t bytes = me::scanScratchBytes(sh, chunks);
    void* s = bytes ? scratch(env, bytes) : nullptr;
    launched(env, me::launchScan(sh, a, chunks, s, stream_), sh.ssd ? "ssdScan" : "selectiveScan");
    return Napi::Number::New(env, chunks);
  }

  Napi::Value EmbeddingIds(const Napi::CallbackInfo& info) {  // (out, table, dtype, idsPtr, n, dim): ids already on the device
    Napi::Env env = info.Env();
    live(env);
    launched(env,
             me::launchEmbedding(fptr(info[0]), ptr(info[1]), wtype(env, info[2]), static_cast<const int32_t*>(ptr(info[3])), i32(info[4]),
                                 i32(info[5]), stream_),
             "embedding");
    return env.Undefined();
  }

  /** gemvBatch(x, rows, K, dtype, outs[], ws[], biases[] (null entries), Ms[]): y_i = x · W_iᵀ (+ b_i), ≤ 8 rows, one launch. */
  Napi::Value GemvBatchOp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Napi::Array outs = info[4].As<Napi::Array>(), ws = info[5].As<Napi::Array>(), biases = info[6].As<Napi::Array>(), Ms = info[7].As<Napi::Array>();
    const int rows = i32(info[1]);
    if (rows > me::kGemvMaxRows || outs.Length() > (uint32_t)me::kGemvBatchMax || outs.Length() == 0) {
      throwCode(env, "E_ARGUMENT", "cuda: gemvBatch takes 1.." + std::to_string(me::kGemvBatchMax) + " matrices of ≤ 8 rows");
    }
    me::GemvBatch batch{};
    batch.count = (int)outs.Length();
    for (uint32_t i = 0; i < outs.Length(); i++) {
      batch.item[i].y = fptr(outs.Get(i));
      batch.item[i].w = ptr(ws.Get(i));
      batch.item[i].bias = fptr(biases.Get(i));
      batch.item[i].M = i32(Ms.Get(i));
    }
    launched(env, me::launchGemvBatch(batch, fptr(info[0]), wtype(env, info[3]), rows, i32(info[2]), stream_), "gemvBatch");
    return env.Undefined();
  }

  /** conv1dStepBatch(B, K, silu, outs[], xs[], ws[], biases[] (null entries), states[], Cs[]): T = 1 convs, one launch. */
  Napi::Value Conv1dStepBatchOp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Napi::Array outs = info[3].As<Napi::Array>(), xs = info[4].As<Napi::Array>(), ws = info[5].As<Napi::Array>(), biases = info[6].As<Napi::Array>(),
                states = info[7].As<Napi::Array>(), Cs = info[8].As<Napi::Array>();
    if (outs.Length() == 0 || outs.Length() > (uint32_t)me::kConvBatchMax) {
      throwCode(env, "E_ARGUMENT", "cuda: conv1dStepBatch takes 1.." + std::to_string(me::kConvBatchMax) + " convs");
    }
    me::Conv1dStepBatch batch{};
    batch.count = (int)outs.Length();
    for (uint32_t i = 0; i < outs.Length(); i++) {
      batch.item[i] = {fptr(outs.Get(i)), fptr(xs.Get(i)), fptr(ws.Get(i)), fptr(biases.Get(i)), fptr(states.Get(i)), i32(Cs.Get(i)), nullptr};
    }
    if (info.Length() > 9 && info[9].IsArray()) {  // snaps[] (null entries): the states' undo points (a run-ahead step graph)
      Napi::Array snaps = info[9].As<Napi::Array>();
      for (uint32_t i = 0; i < outs.Length() && i < snaps.Length(); i++) batch.item[i].snap = fptr(snaps.Get(i));
    }
    if (info.Length() > 10 && info[10].IsArray()) {  // srcs[] (null entries: in place): where each state is read from (a ping-pong step graph)
      Napi::Array srcs = info[10].As<Napi::Array>();
      for (uint32_t i = 0; i < outs.Length() && i < srcs.Length(); i++) batch.item[i].src = fptr(srcs.Get(i));
    }
    launched(env, me::launchConv1dStepBatch(batch, i32(info[0]), i32(info[1]), info[2].As<Napi::Boolean>().Value(), stream_), "conv1dStepBatch");
    return env.Undefined();
  }

  Napi::Value AddRmsNorm(const Napi::CallbackInfo& info) {  // (sum, out, a, b, w, rows, dim, eps)
    Napi::Env env = info.Env();
    live(env);
    launched(env,
             me::launchAddRmsNorm(fptr(info[0]), fptr(info[1]), fptr(info[2]), fptr(info[3]), fptr(info[4]), i64(info[5]), i32(info[6]),
                                  (float)f64(info[7]), stream_),
             "addRmsNorm");
    return env.Undefined();
  }

  Napi::Value TopK(const Napi::CallbackInfo& info) {  // (out [1 + 2k] words, x, V, k)
    Napi::Env env = info.Env();
    live(env);
    launched(env, me::launchTopK(static_cast<uint32_t*>(ptr(info[0])), fptr(info[1]), i32(info[2]), i32(info[3]), stream_), "topK");
    return env.Undefined();
  }

  /** Ops from here to endCapture are recorded, not run. Relaxed mode: a cudaMalloc for a new pooled block may happen meanwhile. */
  Napi::Value BeginCapture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    if (capturing_) throwCode(env, "E_BACKEND", "cuda: a capture is already in progress");
    check(env, cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
    capturing_ = true;
    return env.Undefined();
  }

  /** → { graph: BigInt handle, nodes }: the recorded ops, instantiated for `replay`. */
  Napi::Value EndCapture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    if (!capturing_) throwCode(env, "E_BACKEND", "cuda: no capture in progress");
    capturing_ = false;
    cudaGraph_t g = nullptr;
    cudaError_t e = cudaStreamEndCapture(stream_, &g);
    if (e != cudaSuccess) {
      if (g) cudaGraphDestroy(g);
      throwCuda(env, e, "cudaStreamEndCapture");
    }
    size_t nodes = 0;
    cudaGraphGetNodes(g, nullptr, &nodes);
    cudaGraphExec_t exec = nullptr;
    e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) throwCuda(env, e, "cudaGraphInstantiate");
    graphs_.insert(exec);
    Napi::Object o = Napi::Object::New(env);
    o.Set("graph", Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(exec))));
    o.Set("nodes", static_cast<double>(nodes));
    return o;
  }

  Napi::Value AbortCapture(const Napi::CallbackInfo& info) {
    abortCapture();
    return info.Env().Undefined();
  }

  cudaGraphExec_t graphOf(Napi::Env env, const Napi::Value& v) {
    auto g = static_cast<cudaGraphExec_t>(ptr(v));
    if (!graphs_.count(g)) throwCode(env, "E_ARGUMENT", "cuda: not a live recorded step");
    return g;
  }

  /** replay(graph, idsPtr, Int32Array ids): copy the ids into the recording's id buffer, then launch it. */
  Napi::Value Replay(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    cudaGraphExec_t g = graphOf(env, info[0]);
    Napi::Int32Array ids = info[2].As<Napi::Int32Array>();
    // From pageable memory this returns once the ids are staged, so the array may change afterwards.
    check(env, cudaMemcpyAsync(ptr(info[1]), ids.Data(), ids.ElementLength() * 4, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (ids)");
    check(env, cudaGraphLaunch(g, stream_), "cudaGraphLaunch");
    return env.Undefined();
  }

  /** Waits for launches in flight, then destroys the recording. */
  Napi::Value ReleaseGraph(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (disposed_) return env.Undefined();
    cudaGraphExec_t g = graphOf(env, info[0]);
    cudaStreamSynchronize(stream_);
    cudaGraphExecDestroy(g);
    graphs_.erase(g);
    cudaGetLastError();
    return env.Undefined();
  }

  // ---- batch-1 decode (gpu/cuda/src/decode.cu) and device sampling ----

  /** setPdl(on) → whether programmatic dependent launch is now used (it needs sm_90+). */
  Napi::Value SetPdl(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), me::setPdl(info[0].As<Napi::Boolean>().Value(), props_.major));
  }

  /** setDecodeSplit(mode) → the mode now used: decodeGemv's warps per column (0 one, 2 / 4 / 8, −1 auto; me::setDecodeSplit). */
  Napi::Value SetDecodeSplit(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), me::setDecodeSplit(info[0].As<Napi::Number>().Int32Value()));
  }

  /** setSsdHold(on) → whether ssdStep now loads a lane's state entries at once (me::setSsdHold). */
  Napi::Value SetSsdHold(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), me::setSsdHold(info[0].As<Napi::Boolean>().Value()));
  }

  /**
   * decodeGemv(x|null, K, dtype, outs[], ws[], biases[] (null entries), Ms[], proKind, a|null, b|null, w|null, sum|null, normed|null,
   * eps, group, state|null, convK, silu): one row through ≤ 6 matrices, its x formed first by the prologue (me::RowPrologue).
   */
  Napi::Value DecodeGemvOp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Napi::Array outs = info[3].As<Napi::Array>(), ws = info[4].As<Napi::Array>(), biases = info[5].As<Napi::Array>(), Ms = info[6].As<Napi::Array>();
    if (outs.Length() > (uint32_t)me::kGemvBatchMax || outs.Length() == 0) {
      throwCode(env, "E_ARGUMENT", "cuda: decodeGemv takes 1.." + std::to_string(me::kGemvBatchMax) + " matrices");
    }
    me::GemvBatch batch{};
    batch.count = (int)outs.Length();
    for (uint32_t i = 0; i < outs.Length(); i++) {
      batch.item[i].y = fptr(outs.Get(i));
      batch.item[i].w = ptr(ws.Get(i));
      batch.item[i].bias = fptr(biases.Get(i));
      batch.item[i].M = i32(Ms.Get(i));
    }
    me::RowPrologue pro{};
    pro.kind = i32(info[7]);
    pro.a = fptr(info[8]);
    pro.b = fptr(info[9]);
    pro.w = fptr(info[10]);
    pro.sum = fptr(info[11]);
    pro.normed = fptr(info[12]);
    pro.eps = (float)f64(info[13]);
    pro.group = i32(info[14]);
    pro.state = fptr(info[15]);
    pro.convK = i32(info[16]);
    pro.silu = info[17].As<Napi::Boolean>().Value();
    // Optional (builds with conv epilogues): convs [{ item, w, bias|null, state, out, snap|null, src?|null }], convK, convSilu.
    me::ConvEpilogues epi{};
    if (info.Length() > 20 && info[18].IsArray()) {
      Napi::Array convs = info[18].As<Napi::Array>();
      if (convs.Length() > (uint32_t)me::kConvEpilogueMax) throwCode(env, "E_ARGUMENT", "cuda: decodeGemv takes at most " + std::to_string(me::kConvEpilogueMax) + " conv epilogues");
      epi.count = (int)convs.Length();
      for (uint32_t j = 0; j < convs.Length(); j++) {
        Napi::Object c = convs.Get(j).As<Napi::Object>();
        epi.e[j] = {i32(c.Get("item")), fptr(c.Get("w")), fptr(c.Get("bias")), fptr(c.Get("state")), fptr(c.Get("out")), fptr(c.Get("snap")), fptr(c.Get("src"))};
      }
      epi.K = i32(info[19]);
      epi.silu = info[20].As<Napi::Boolean>().Value();
    }
    // Optional: the greedy draw as its epilogue, { scratch, out, idOut|null } (one matrix).
    me::ArgmaxEpilogue am{};
    const bool argmax = info.Length() > 21 && info[21].IsObject();
    if (argmax) {
      Napi::Object o = info[21].As<Napi::Object>();
      am.scratch = static_cast<unsigned long long*>(ptr(o.Get("scratch")));
      am.out = static_cast<uint32_t*>(ptr(o.Get("out")));
      am.idOut = static_cast<int32_t*>(ptr(o.Get("idOut")));
    }
    launched(env,
             me::launchDecodeGemv(batch, fptr(info[0]), wtype(env, info[2]), i32(info[1]), pro, props_.multiProcessorCount, stream_, &epi,
                                  argmax ? &am : nullptr),
             "decodeGemv");
    return env.Undefined();
  }

  /**
   * scanDtStep(x, dtLow, wDt, dtype, dtBias, A, B, C, D, z, state, y, dtOut, I, N, R, convState|null, convX|null, convK): Mamba-1's
   * T = 1 scan with dt_proj folded in (and the conv state shift a conv folded into x_proj left to it).
   */
  Napi::Value ScanDtStepOp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    me::ScanDtArgs a{};
    a.x = fptr(info[0]);
    a.dtLow = fptr(info[1]);
    a.wDt = ptr(info[2]);
    const WeightType wt = wtype(env, info[3]);
    a.dtBias = fptr(info[4]);
    a.A = fptr(info[5]);
    a.Bm = fptr(info[6]);
    a.Cm = fptr(info[7]);
    a.D = fptr(info[8]);
    a.z = fptr(info[9]);
    a.state = fptr(info[10]);
    a.y = fptr(info[11]);
    a.dtOut = fptr(info[12]);
    a.I = i32(info[13]);
    a.N = i32(info[14]);
    a.R = i32(info[15]);
    a.convState = fptr(info[16]);  // (state|null, x|null, K): a conv state shift left by a folded conv
    a.convX = fptr(info[17]);
    a.convK = i32(info[18]);
    a.snap = fptr(info[19]);  // optional: h's undo point
    a.stateIn = fptr(info[20]);  // optional (ping-pong): h before the step, read here; `state` gets the new h
    a.convIn = fptr(info[21]);   // optional (ping-pong): the conv state before the shift
    launched(env, me::launchScanDtStep(a, wt, stream_), "scanDtStep");
    return env.Undefined();
  }

  /**
   * ssdConvStep(dt, dtBias, A, D, state, y, H, P, G, N, dtMin, dtMax, xin, Bin, Cin, wx, wB, wC, bx|null, bB|null, bC|null, sx, sB, sC,
   * xOut, BOut, COut, K, silu): Mamba-2's T = 1 convs and SSD step, batch 1, one launch (me::SsdConv).
   */
  Napi::Value SsdConvStepOp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    me::SsdStepArgs a{};
    a.dt = fptr(info[0]);
    a.dtBias = fptr(info[1]);
    a.A = fptr(info[2]);
    a.D = fptr(info[3]);
    a.state = fptr(info[4]);
    a.y = fptr(info[5]);
    a.H = i32(info[6]);
    a.P = i32(info[7]);
    a.G = i32(info[8]);
    a.N = i32(info[9]);
    a.dtMin = (float)f64(info[10]);
    a.dtMax = (float)f64(info[11]);
    me::SsdConv c{};
    c.xin = fptr(info[12]);
    c.Bin = fptr(info[13]);
    c.Cin = fptr(info[14]);
    c.wx = fptr(info[15]);
    c.wB = fptr(info[16]);
    c.wC = fptr(info[17]);
    c.bx = fptr(info[18]);
    c.bB = fptr(info[19]);
    c.bC = fptr(info[20]);
    c.sx = fptr(info[21]);
    c.sB = fptr(info[22]);
    c.sC = fptr(info[23]);
    c.xOut = fptr(info[24]);
    c.BOut = fptr(info[25]);
    c.COut = fptr(info[26]);
    c.K = i32(info[27]);
    c.silu = info[28].As<Napi::Boolean>().Value();
    c.counter = counter_;
    launched(env, me::launchSsdConvStep(a, c, stream_), "ssdConvStep");
    return env.Undefined();
  }

  /** convShift(state, x, C, K, src?): state [C, K − 1] ← src's (default: its own) last K − 2 entries ++ x (after a conv folded into a GEMV). */
  Napi::Value ConvShiftOp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    launched(env, me::launchConvShift(fptr(info[0]), fptr(info[1]), i32(info[2]), i32(info[3]), stream_, fptr(info[4])), "convShift");
    return env.Undefined();
  }

  /** ssdStep(x, dt, dtBias, A, B, C, D, state, y, H, P, G, N, dtMin, dtMax): Mamba-2's T = 1 SSD step, batch 1. */
  Napi::Value SsdStepOp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    me::SsdStepArgs a{};
    a.x = fptr(info[0]);
    a.dt = fptr(info[1]);
    a.dtBias = fptr(info[2]);
    a.A = fptr(info[3]);
    a.Bm = fptr(info[4]);
    a.Cm = fptr(info[5]);
    a.D = fptr(info[6]);
    a.state = fptr(info[7]);
    a.y = fptr(info[8]);
    a.H = i32(info[9]);
    a.P = i32(info[10]);
    a.G = i32(info[11]);
    a.N = i32(info[12]);
    a.dtMin = (float)f64(info[13]);
    a.dtMax = (float)f64(info[14]);
    a.snap = fptr(info[15]);  // optional: h's undo point
    a.stateIn = fptr(info[16]);  // optional (ping-pong): h before the step, read here; `state` gets the new h
    launched(env, me::launchSsdStep(a, stream_), "ssdStep");
    return env.Undefined();
  }

  /** replayFrom(graph, idsPtr, src, bytes): the ids copied from device memory (a device-sampled token), then the recording launched. */
  Napi::Value ReplayFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    cudaGraphExec_t g = graphOf(env, info[0]);
    check(env, cudaMemcpyAsync(ptr(info[1]), ptr(info[2]), i64(info[3]), cudaMemcpyDeviceToDevice, stream_), "cudaMemcpyAsync (device ids)");
    check(env, cudaGraphLaunch(g, stream_), "cudaGraphLaunch");
    return env.Undefined();
  }

  /** topKSample(out [3 + 2k] words, x, V, k, greedy, temperature, topP, u): the top-k and the sampler's choice, one launch. */
  Napi::Value TopKSample(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    launched(env,
             me::launchTopKSample(static_cast<uint32_t*>(ptr(info[0])), fptr(info[1]), i32(info[2]), i32(info[3]), info[4].As<Napi::Boolean>().Value(),
                                  (float)f64(info[5]), (float)f64(info[6]), (float)f64(info[7]), stream_),
             "topKSample");
    return env.Undefined();
  }

  /** How many conv epilogues decodeGemv takes (its trailing arguments; then the greedy draw); absent in builds without them. */
  Napi::Value ConvEpiloguesMax(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), me::kConvEpilogueMax); }
  /** Whether the state-writing decode kernels take a source state apart from the one they write (ping-pong step graphs). */
  Napi::Value StateSources(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), true); }

  // ---- the run-ahead step graph (src/backends/cuda/index.ts recordSampled) ----

  /**
   * topKSampleFrom(out [3 + 2k] words, x, V, k, greedy, params [3] | null, idOut | null): topKSample with temperature, top-p, u read on
   * the device, and the id the next step embeds also written to idOut.
   */
  Napi::Value TopKSampleFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    launched(env,
             me::launchTopKSampleFrom(static_cast<uint32_t*>(ptr(info[0])), fptr(info[1]), i32(info[2]), i32(info[3]), info[4].As<Napi::Boolean>().Value(),
                                      fptr(info[5]), static_cast<int32_t*>(ptr(info[6])), stream_),
             "topKSampleFrom");
    return env.Undefined();
  }

  /** stateCopy(dst, src, bytes): a kernel copy (so a graph holding it keeps kernel-to-kernel edges), bytes a multiple of 16. */
  Napi::Value StateCopy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    launched(env, me::launchStateCopy(ptr(info[0]), ptr(info[1]), (size_t)i64(info[2]), stream_), "stateCopy");
    return env.Undefined();
  }

  /** launchGraph(graph): the recording launched as it is (its inputs already in device memory). */
  Napi::Value LaunchGraph(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    cudaGraphExec_t g = graphOf(env, info[0]);
    check(env, cudaGraphLaunch(g, stream_), "cudaGraphLaunch");
    return env.Undefined();
  }

  /**
   * writeAsync(dst, TypedArray): host bytes into device memory in stream order, without waiting for the GPU
   * (from pageable memory the bytes are staged before it returns, so the array may change afterwards).
   */
  Napi::Value WriteAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    notCapturing(env, "a host write");
    Napi::TypedArray src = info[1].As<Napi::TypedArray>();
    const uint8_t* bytes = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
    check(env, cudaMemcpyAsync(ptr(info[0]), bytes, src.ByteLength(), cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (host write)");
    return env.Undefined();
  }
};

/** Waits (off the JS thread) for a read-back enqueued by Device::DownloadAsync, then fills the array. */
class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, Napi::Object device, Device* dev, Napi::Float32Array out, void* pinned, size_t pinnedSize, cudaEvent_t ev)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), dev_(dev), dst_(out.Data()),
        bytes_(out.ElementLength() * 4), pinned_(pinned), pinnedSize_(pinnedSize), ev_(ev) {
    deviceRef_ = Napi::Persistent(device);  // keeps the Device (and its pinned pool) alive until done
    outRef_ = Napi::Persistent(static_cast<Napi::Object>(out));
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    err_ = cudaEventSynchronize(ev_);
    if (err_ != cudaSuccess) {
      SetError("read back");
      return;
    }
    std::memcpy(dst_, pinned_, bytes_);
  }
  void OnOK() override {
    done();
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error&) override {
    done();
    deferred_.Reject(cudaError(Env(), err_, "running the enqueued kernels (read back)").Value());
  }

 private:
  void done() {
    cudaEventDestroy(ev_);
    dev_->givePinned(pinned_, pinnedSize_);
  }
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference deviceRef_, outRef_;
  Device* dev_;
  void* dst_;
  size_t bytes_;
  void* pinned_;
  size_t pinnedSize_;
  cudaEvent_t ev_;
  cudaError_t err_ = cudaSuccess;
};

Napi::Value Device::DownloadAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  live(env);
  notCapturing(env, "a read back");
  const void* src = ptr(info[0]);
  Napi::Float32Array dst = info[1].As<Napi::Float32Array>();
  const WeightType wt = wtype(env, info[2]);
  const size_t n = dst.ElementLength();
  if (wt != me::kF32) {
    float* wide = static_cast<float*>(scratch(env, n * 4));
    launched(env, me::launchConvertToF32(wide, src, n, wt, stream_), "convert");
    src = wide;
  }
  auto [pinned, size] = takePinned(env, n * 4);
  cudaEvent_t ev = nullptr;
  // byKernel (the caller's MAMBA_EDGE_CUDA_READKERNEL): a few words (decode's sampled token) copied by a kernel into
  // the page-locked buffer, not by the copy engine (elementwise.cu copyWordsToHost says why).
  const bool byKernel = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value() && n <= 1024;
  cudaError_t e = byKernel ? me::launchCopyWordsToHost(pinned, src, (int64_t)n, stream_)
                           : cudaMemcpyAsync(pinned, src, n * 4, cudaMemcpyDeviceToHost, stream_);
  if (e == cudaSuccess) e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
  if (e == cudaSuccess) e = cudaEventRecord(ev, stream_);
  if (e != cudaSuccess) {
    if (ev) cudaEventDestroy(ev);
    givePinned(pinned, size);
    throwCuda(env, e, "enqueueing a read back");
  }
  auto* worker = new ReadWorker(env, info.This().As<Napi::Object>(), this, dst, pinned, size, ev);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("Device", Device::Define(env));
  exports.Set("abi", 3);
  exports.Set("attention", me::attentionApi(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(mamba_edge_cuda, Init)
