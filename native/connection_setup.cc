// connectionSetUp (Linux; docs/ADDON-CONTRACT.md): what every connection of a transport gets as
// it is accepted or opened, in one call rather than one per option: who is on the other end
// (SO_PEERCRED) and its socket options (SO_SNDBUF, SO_PASSRIGHTS). A connection is short work
// (~30 µs with the kernel's part), and each crossing into the addon costs it about one per cent.
#ifdef __linux__

#include <sys/socket.h>

#include <cerrno>

#include "args.h"
#include "errors.h"
#include "modules.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

namespace plugsock {
namespace {

// connectionSetUp(fd, out: Int32Array(3) | null, sendBufferSize, passRights) -> undefined.
// out <- pid, uid, gid (null: not asked; they are read later, if ever). sendBufferSize: 0 leaves
// the kernel's; else SO_SNDBUF. passRights: -1 leaves it (the listener's, inherited, or the
// kernel's default), 0 or 1 sets SO_PASSRIGHTS, where the kernel has it (ENOPROTOOPT is not an
// error: the caller probed for it). Throws the first failing call's errno; the fd stays the
// caller's either way.
Napi::Value ConnectionSetUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int sendBufferSize = 0;
  int passRights = -1;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  bool wantCred = info.Length() >= 2 && !info[1].IsNull();
  if (wantCred && (!info[1].IsTypedArray() ||
                   info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
                   info[1].As<Napi::Int32Array>().ElementLength() < 3)) {
    return ThrowTypeError(env, "The \"out\" argument must be an Int32Array of length 3, or null");
  }
  if (!ArgInt(info, 2, "sendBufferSize", 0, 1073741824.0, &sendBufferSize) ||
      !ArgInt(info, 3, "passRights", -1, 1, &passRights)) {
    return env.Undefined();
  }
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (wantCred && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ThrowErrno(env, errno, "getsockopt");
  }
  if (sendBufferSize > 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sendBufferSize, sizeof sendBufferSize) != 0) {
    return ThrowErrno(env, errno, "setsockopt");
  }
  if (passRights >= 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &passRights, sizeof passRights) != 0 &&
      errno != ENOPROTOOPT) {
    return ThrowErrno(env, errno, "setsockopt");
  }
  if (!wantCred) return env.Undefined();
  Napi::Int32Array out = info[1].As<Napi::Int32Array>();
  out[0] = cred.pid;
  out[1] = static_cast<int32_t>(cred.uid);
  out[2] = static_cast<int32_t>(cred.gid);
  return env.Undefined();
}

}  // namespace

void InitConnectionSetUp(Napi::Env env, Napi::Object exports) {
  exports.Set("connectionSetUp", Napi::Function::New(env, ConnectionSetUp, "connectionSetUp"));
}

}  // namespace plugsock

#else

#include "modules.h"

namespace plugsock {
void InitConnectionSetUp(Napi::Env, Napi::Object) {}  // macOS: peerCred, one option at a time
}  // namespace plugsock

#endif  // __linux__
