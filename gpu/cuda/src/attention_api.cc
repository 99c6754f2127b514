// The Node-API face of the attention-family kernels (attention.h), exported as the addon's `attention`
// object beside `Device` (addon.cc). Plain functions over device pointers (BigInts), like Device's op
// methods: src/backends/cuda/index.ts allocates every buffer (outputs, KV caches, split partials,
// routing tables) from its pool and passes pointers, so nothing here owns memory. Everything is enqueued
// on the legacy default stream, in call order; it is ordered with the Device's own stream (a blocking
// stream, addon.cc) both ways, so these and Device's ops run in call order; only `readBytes` waits.
// A failed launch throws a JS Error with `code` E_BACKEND (E_MEMORY for out of memory), as Device's do.
#include <napi.h>
#include <cuda_runtime_api.h>
#include <string>
#include "attention.h"

namespace me {

namespace {

constexpr cudaStream_t kStream = 0;

void* ptr(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  bool lossless = true;
  return reinterpret_cast<void*>(static_cast<uintptr_t>(v.As<Napi::BigInt>().Uint64Value(&lossless)));
}
float* fptr(const Napi::Value& v) { return static_cast<float*>(ptr(v)); }
int32_t* iptr(const Napi::Value& v) { return static_cast<int32_t*>(ptr(v)); }
int i32(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }
int64_t i64(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }

void check(Napi::Env env, cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next launch does not report it again
  Napi::Error err = Napi::Error::New(env, "cuda: " + what + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  err.Set("code", Napi::String::New(env, e == cudaErrorMemoryAllocation ? "E_MEMORY" : "E_BACKEND"));
  err.Set("cudaError", Napi::Number::New(env, static_cast<int>(e)));
  throw err;
}

WeightType wtype(Napi::Env env, const Napi::Value& v) {
  const int t = i32(v);
  if (t < kF32 || t > kBF16) {
    Napi::Error err = Napi::Error::New(env, "cuda: unknown weight dtype code " + std::to_string(t));
    err.Set("code", Napi::String::New(env, "E_DTYPE"));
    throw err;
  }
  return static_cast<WeightType>(t);
}

// rope(y, x, invFreq, B, T, H, Dh, R, position)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  check(info.Env(),
        launchRope(fptr(info[0]), fptr(info[1]), fptr(info[2]), i32(info[3]), i32(info[4]), i32(info[5]), i32(info[6]), i32(info[7]),
                   i32(info[8]), kStream),
        "launching rope");
  return info.Env().Undefined();
}

// kvAppend(cacheK, cacheV, k, v, B, T, G, Dh, capacity, P)
Napi::Value KvAppend(const Napi::CallbackInfo& info) {
  check(info.Env(),
        launchKvAppend(fptr(info[0]), fptr(info[1]), fptr(info[2]), fptr(info[3]), i32(info[4]), i32(info[5]), i32(info[6]), i32(info[7]),
                       i32(info[8]), i32(info[9]), kStream),
        "launching kvAppend");
  return info.Env().Undefined();
}

// copy2d(dst, dstPitchBytes, src, srcPitchBytes, widthBytes, height): a KV cache's rows into a grown block
Napi::Value Copy2d(const Napi::CallbackInfo& info) {
  check(info.Env(),
        cudaMemcpy2DAsync(ptr(info[0]), (size_t)i64(info[1]), ptr(info[2]), (size_t)i64(info[3]), (size_t)i64(info[4]), (size_t)i64(info[5]),
                          cudaMemcpyDeviceToDevice, kStream),
        "cudaMemcpy2DAsync (KV cache growth)");
  return info.Env().Undefined();
}

// attention(y, partials|null, q, cacheK, cacheV, B, T, H, G, Dh, capacity, P, splits, keysPerSplit, scale)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  AttentionShape sh{};
  sh.B = i32(info[5]);
  sh.T = i32(info[6]);
  sh.H = i32(info[7]);
  sh.G = i32(info[8]);
  sh.Dh = i32(info[9]);
  sh.capacity = i32(info[10]);
  sh.P = i32(info[11]);
  sh.splits = i32(info[12]);
  sh.keysPerSplit = i32(info[13]);
  sh.scale = (float)info[14].As<Napi::Number>().DoubleValue();
  check(info.Env(), launchAttention(fptr(info[0]), fptr(info[1]), fptr(info[2]), fptr(info[3]), fptr(info[4]), sh, kStream),
        "launching attention");
  return info.Env().Undefined();
}

// swiglu(y, gate, up, n)
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  check(info.Env(), launchSwiglu(fptr(info[0]), fptr(info[1]), fptr(info[2]), i64(info[3]), kStream), "launching swiglu");
  return info.Env().Undefined();
}

// relu2(y, x, n)
Napi::Value Relu2(const Napi::CallbackInfo& info) {
  check(info.Env(), launchRelu2(fptr(info[0]), fptr(info[1]), i64(info[2]), kStream), "launching relu2");
  return info.Env().Undefined();
}

// moeRoute(idx, weight, logits, rows, E, K, normalize)
Napi::Value MoeRoute(const Napi::CallbackInfo& info) {
  check(info.Env(),
        launchMoeRoute(iptr(info[0]), fptr(info[1]), fptr(info[2]), i32(info[3]), i32(info[4]), i32(info[5]), info[6].As<Napi::Boolean>().Value(),
                       kStream),
        "launching moeRoute");
  return info.Env().Undefined();
}

// moeGateUp(h, x, gateTable, upTable, idx, dtype, rows, K, D, I)
Napi::Value MoeGateUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check(env,
        launchMoeGateUp(fptr(info[0]), fptr(info[1]), static_cast<const void* const*>(ptr(info[2])), static_cast<const void* const*>(ptr(info[3])),
                        iptr(info[4]), wtype(env, info[5]), i32(info[6]), i32(info[7]), i32(info[8]), i32(info[9]), kStream),
        "launching moeGateUp");
  return env.Undefined();
}

// moeDown(y, h, downTable, idx, weight, dtype, rows, K, D, I)
Napi::Value MoeDown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  check(env,
        launchMoeDown(fptr(info[0]), fptr(info[1]), static_cast<const void* const*>(ptr(info[2])), iptr(info[3]), fptr(info[4]),
                      wtype(env, info[5]), i32(info[6]), i32(info[7]), i32(info[8]), i32(info[9]), kStream),
        "launching moeDown");
  return env.Undefined();
}

// gatherRows(out, x, rows, n, D)
Napi::Value GatherRows(const Napi::CallbackInfo& info) {
  check(info.Env(), launchGatherRows(fptr(info[0]), fptr(info[1]), iptr(info[2]), i32(info[3]), i32(info[4]), kStream), "launching gatherRows");
  return info.Env().Undefined();
}

// scatterAddRows(out, y, rows, w, n, D)
Napi::Value ScatterAddRows(const Napi::CallbackInfo& info) {
  check(info.Env(), launchScatterAddRows(fptr(info[0]), fptr(info[1]), iptr(info[2]), fptr(info[3]), i32(info[4]), i32(info[5]), kStream),
        "launching scatterAddRows");
  return info.Env().Undefined();
}

// writeBytes(dst, TypedArray): raw bytes to the device (index lists, pointer tables), in stream order
Napi::Value WriteBytes(const Napi::CallbackInfo& info) {
  Napi::TypedArray a = info[1].As<Napi::TypedArray>();
  const size_t bytes = a.ByteLength();
  const uint8_t* src = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  if (bytes) check(info.Env(), cudaMemcpy(ptr(info[0]), src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy (writeBytes)");
  return info.Env().Undefined();
}

// readBytes(src, TypedArray): waits for the ops before it, then copies (the MoE prefill's routing)
Napi::Value ReadBytes(const Napi::CallbackInfo& info) {
  Napi::TypedArray a = info[1].As<Napi::TypedArray>();
  const size_t bytes = a.ByteLength();
  uint8_t* dst = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  if (bytes) check(info.Env(), cudaMemcpy(dst, ptr(info[0]), bytes, cudaMemcpyDeviceToHost), "running the enqueued kernels (readBytes)");
  return info.Env().Undefined();
}

}  // namespace

Napi::Object attentionApi(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rope", Napi::Function::New(env, Rope));
  o.Set("kvAppend", Napi::Function::New(env, KvAppend));
  o.Set("copy2d", Napi::Function::New(env, Copy2d));
  o.Set("attention", Napi::Function::New(env, Attention));
  o.Set("maxHeadDim", Napi::Number::New(env, kAttnMaxHeadDim));
  o.Set("swiglu", Napi::Function::New(env, Swiglu));
  o.Set("relu2", Napi::Function::New(env, Relu2));
  o.Set("moeRoute", Napi::Function::New(env, MoeRoute));
  o.Set("maxExperts", Napi::Number::New(env, kMoeMaxExperts));
  o.Set("moeGateUp", Napi::Function::New(env, MoeGateUp));
  o.Set("moeDown", Napi::Function::New(env, MoeDown));
  o.Set("gatherRows", Napi::Function::New(env, GatherRows));
  o.Set("scatterAddRows", Napi::Function::New(env, ScatterAddRows));
  o.Set("writeBytes", Napi::Function::New(env, WriteBytes));
  o.Set("readBytes", Napi::Function::New(env, ReadBytes));
  return o;
}

}  // namespace me
