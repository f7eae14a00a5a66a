// fd utilities (docs/ADDON-CONTRACT.md): fdDup, memfdCreate, fdClose, fdSetCloexec. Every fd
// returned here is CLOEXEC and owned by the caller.
#include <fcntl.h>
#include <napi.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "modules.h"

namespace plugsock {
namespace {

// fdDup(fd): a CLOEXEC duplicate the caller owns, e.g. to take over a socket libuv accepted
// before destroying the net.Socket that wraps the original.
Napi::Value FdDup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowTypeError(env, "fdDup(fd: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, copy);
}

// memfdCreate(name): an anonymous in-memory file (Linux), CLOEXEC, owned by the caller.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowTypeError(env, "memfdCreate(name: string)");
#ifdef __linux__
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Fd fd(static_cast<int>(memfd_create(name.c_str(), MFD_CLOEXEC)));
  if (!fd) return ThrowErrno(env, errno, "memfd_create");
  return Napi::Number::New(env, fd.release());
#else
  return ThrowErrno(env, ENOSYS, "memfd_create");
#endif
}

// fdClose(fd): close(2).
Napi::Value FdClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgInt(info, 0, "fd", 0, 2147483647.0, &fd)) return env.Undefined();
  // EINTR still released the fd (Linux); reporting it would invite a double close.
  if (CloseFd(fd) != 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

// fdSetCloexec(fd): FD_CLOEXEC on an fd this process inherited (systemd's LISTEN_FDS come
// without it), so no child it spawns inherits the fd in turn.
Napi::Value FdSetCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return ThrowErrno(env, errno, "fcntl");
  if ((flags & FD_CLOEXEC) == 0 && ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
    return ThrowErrno(env, errno, "fcntl");
  }
  return env.Undefined();
}

}  // namespace

void InitFdUtils(Napi::Env env, Napi::Object exports) {
  exports.Set("fdDup", Napi::Function::New<FdDup>(env, "fdDup"));
  exports.Set("memfdCreate", Napi::Function::New<MemfdCreate>(env, "memfdCreate"));
  exports.Set("fdClose", Napi::Function::New(env, FdClose, "fdClose"));
  exports.Set("fdSetCloexec", Napi::Function::New(env, FdSetCloexec, "fdSetCloexec"));
}

}  // namespace plugsock
