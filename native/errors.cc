#include "errors.h"

#include <cerrno>
#include <cstring>

namespace plugsock {
namespace {

// The symbolic name (ENOENT, ...) is what callers switch on; strerror text is for people.
const char* ErrnoName(int err) {
  switch (err) {
    // A table, kept as one (clang-format would put one entry per line at most).
    // clang-format off
#define PLUGSOCK_ERRNO(name) case name: return #name;
    PLUGSOCK_ERRNO(EPERM) PLUGSOCK_ERRNO(ENOENT) PLUGSOCK_ERRNO(ESRCH) PLUGSOCK_ERRNO(EINTR)
    PLUGSOCK_ERRNO(EIO) PLUGSOCK_ERRNO(EBADF) PLUGSOCK_ERRNO(EAGAIN) PLUGSOCK_ERRNO(ENOMEM)
    PLUGSOCK_ERRNO(EACCES) PLUGSOCK_ERRNO(EFAULT) PLUGSOCK_ERRNO(EEXIST) PLUGSOCK_ERRNO(EXDEV)
    PLUGSOCK_ERRNO(ENOTDIR) PLUGSOCK_ERRNO(EISDIR) PLUGSOCK_ERRNO(ENOTEMPTY) PLUGSOCK_ERRNO(EMLINK)
    PLUGSOCK_ERRNO(EINVAL) PLUGSOCK_ERRNO(ENFILE)
    PLUGSOCK_ERRNO(EMFILE) PLUGSOCK_ERRNO(ENOSPC) PLUGSOCK_ERRNO(EROFS) PLUGSOCK_ERRNO(EPIPE)
    PLUGSOCK_ERRNO(ENAMETOOLONG) PLUGSOCK_ERRNO(ENOSYS) PLUGSOCK_ERRNO(ELOOP)
    PLUGSOCK_ERRNO(ENOTSOCK) PLUGSOCK_ERRNO(EMSGSIZE) PLUGSOCK_ERRNO(EPROTOTYPE)
    PLUGSOCK_ERRNO(ENOPROTOOPT) PLUGSOCK_ERRNO(EOPNOTSUPP) PLUGSOCK_ERRNO(EADDRINUSE)
    PLUGSOCK_ERRNO(EADDRNOTAVAIL) PLUGSOCK_ERRNO(ENETDOWN) PLUGSOCK_ERRNO(ECONNABORTED)
    PLUGSOCK_ERRNO(ECONNRESET) PLUGSOCK_ERRNO(ENOBUFS) PLUGSOCK_ERRNO(EISCONN)
    PLUGSOCK_ERRNO(ENOTCONN) PLUGSOCK_ERRNO(ETIMEDOUT) PLUGSOCK_ERRNO(ECONNREFUSED)
    PLUGSOCK_ERRNO(EALREADY) PLUGSOCK_ERRNO(EINPROGRESS) PLUGSOCK_ERRNO(ETOOMANYREFS)
    PLUGSOCK_ERRNO(EAFNOSUPPORT)
#undef PLUGSOCK_ERRNO
    default: return "UNKNOWN";
    // clang-format on
  }
}

}  // namespace

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* code = ErrnoName(err);
  std::string message = std::string(syscall) + " " + code;
  if (!path.empty()) message += " " + path;
  message += " (" + std::string(std::strerror(err)) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("code", Napi::String::New(env, code));
  obj.Set("errno", Napi::Number::New(env, -err));
  obj.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) obj.Set("path", Napi::String::New(env, path));
  return error;
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path) {
  ErrnoError(env, err, syscall, path).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, message);
  error.Value().Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace plugsock
