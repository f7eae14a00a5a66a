// peerCred / peerPidfd / pidfdIsAlive on macOS (docs/ADDON-CONTRACT.md).
// UNTESTED: written against the macOS man pages; no macOS machine has compiled or run it yet.
#ifdef __APPLE__

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <string>

#include "args.h"
#include "errors.h"
#include "modules.h"

namespace plugsock {
namespace {

Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  uid_t uid;
  gid_t gid;
  if (::getpeereid(fd, &uid, &gid) != 0) return ThrowErrno(env, errno, "getpeereid");
  pid_t pid = 0;
  socklen_t len = sizeof(pid);
  if (::getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) != 0) {
    return ThrowErrno(env, errno, "getsockopt");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("uid", Napi::Number::New(env, uid));
  out.Set("gid", Napi::Number::New(env, gid));
  // LOCAL_PEERCRED caps groups at 16 (XU_NGROUPS), so a list could be silently short;
  // null says "unknown" honestly.
  out.Set("groups", env.Null());
  return out;
}

// No pidfds on macOS: -1 is the contract's "not available", so callers fall back as they do on
// old Linux kernels.
Napi::Value PeerPidfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  (void)fd;  // validated only, so bad calls fail the same way on every platform
  return Napi::Number::New(env, -1);
}

Napi::Value PidfdIsAlive(const Napi::CallbackInfo& info) {
  return ThrowErrno(info.Env(), ENOSYS, "pidfd_send_signal");
}

}  // namespace

void InitPeercred(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("peerPidfd", Napi::Function::New(env, PeerPidfd, "peerPidfd"));
  exports.Set("pidfdIsAlive", Napi::Function::New(env, PidfdIsAlive, "pidfdIsAlive"));
}

}  // namespace plugsock

#endif  // __APPLE__
