// Module init only: the exported functions live in one file per concern (modules.h).
#include <napi.h>

#include "modules.h"

#define PLUGSOCK_STR2(x) #x
#define PLUGSOCK_STR(x) PLUGSOCK_STR2(x)

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("sourceHash", Napi::String::New(env, PLUGSOCK_STR(PLUGSOCK_SOURCE_HASH)));
  plugsock::InitSocket(env, exports);
  plugsock::InitPeercred(env, exports);
  plugsock::InitFdpass(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(plugsock, Init)
