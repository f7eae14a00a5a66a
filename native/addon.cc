// Module init only: the exported functions live in one file per concern (modules.h).
#include <napi.h>

#if defined(__linux__) || defined(__APPLE__)
#include <dlfcn.h>
#endif

#include "modules.h"

// Bind dlopen/dladdr to their oldest symbol versions, so the prebuilds keep loading on
// glibc older than 2.34 (where these moved into libc with a new version).
#if defined(__linux__) && defined(__GLIBC__)
#if defined(__x86_64__)
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dladdr,dladdr@GLIBC_2.2.5");
#elif defined(__aarch64__)
__asm__(".symver dlopen,dlopen@GLIBC_2.17");
__asm__(".symver dladdr,dladdr@GLIBC_2.17");
#endif
#endif

#define PLUGSOCK_STR2(x) #x
#define PLUGSOCK_STR(x) PLUGSOCK_STR2(x)

namespace {

// Keeps this library mapped for the life of the process. When only worker threads load an
// addon, Node unloads it as the last such worker goes, while the uv_close() callbacks of
// handles closed during that worker's teardown still have to run: in unmapped code, a crash
// (seen on Node 22 and 24). RTLD_NOLOAD|RTLD_NODELETE just marks the loaded library.
void PinLibrary() {
#if defined(__linux__) || defined(__APPLE__)
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinLibrary), &info) != 0 && info.dli_fname != nullptr) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  }
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinLibrary();
  exports.Set("sourceHash", Napi::String::New(env, PLUGSOCK_STR(PLUGSOCK_SOURCE_HASH)));
  plugsock::InitSocket(env, exports);
  plugsock::InitPeercred(env, exports);
  plugsock::InitConnectionSetUp(env, exports);
  plugsock::InitFdChannel(env, exports);
  plugsock::InitFdUtils(env, exports);
  plugsock::InitClaim(env, exports);
  plugsock::InitDirFd(env, exports);
  plugsock::InitAbstract(env, exports);
  plugsock::InitSystemd(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(plugsock, Init)
