#include "cublas.h"
#include <dlfcn.h>
#include <cstdlib>
#include <mutex>

namespace me {

const Cublas& cublas(std::string* why) {
  static Cublas lib;
  static std::string reason;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("MAMBA_EDGE_CUBLAS");
    if (env && std::string(env) == "off") {
      reason = "disabled by MAMBA_EDGE_CUBLAS=off";
      return;
    }
    const char* names[] = {env, "libcublas.so.13", "libcublas.so.12", "libcublas.so"};
    for (const char* name : names) {
      if (!name || !*name) continue;
      void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        reason += std::string(reason.empty() ? "" : "; ") + dlerror();
        continue;
      }
      Cublas c;
      c.create = reinterpret_cast<decltype(c.create)>(dlsym(h, "cublasCreate_v2"));
      c.destroy = reinterpret_cast<decltype(c.destroy)>(dlsym(h, "cublasDestroy_v2"));
      c.setStream = reinterpret_cast<decltype(c.setStream)>(dlsym(h, "cublasSetStream_v2"));
      c.sgemm = reinterpret_cast<decltype(c.sgemm)>(dlsym(h, "cublasSgemm_v2"));
      c.getVersion = reinterpret_cast<decltype(c.getVersion)>(dlsym(h, "cublasGetVersion_v2"));
      if (!c.create || !c.destroy || !c.setStream || !c.sgemm) {
        reason += std::string(reason.empty() ? "" : "; ") + name + " lacks the cuBLAS v2 entry points";
        dlclose(h);
        continue;
      }
      c.library = name;
      lib = c;
      return;
    }
  });
  if (why) *why = reason;
  return lib;
}

}  // namespace me
