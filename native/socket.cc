// connectUnix / setSendBufferSize / closeFd (docs/ADDON-CONTRACT.md): what Node's net cannot do
// for a connected socket. Listening sockets are made by the claim protocol (claim.cc).
#include <fcntl.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "modules.h"
#include "sockaddr.h"

namespace plugsock {
namespace {

// connect() by path. A path that fits sun_path goes to the kernel as it is; a longer one (names
// up to NAME_MAX, paths up to PATH_MAX) is opened O_PATH and connected through
// /proc/self/fd/<fd>, which is always short and reaches exactly the file that was opened.
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgPath(info, 0, "path", &path)) return env.Undefined();
  Fd file;
  std::string kernel = path;
  if (!FitsSunPath(path)) {
#ifdef __linux__
    file.reset(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!file) return ThrowErrno(env, errno, "open", path);
    kernel = "/proc/self/fd/" + std::to_string(file.get());
#else
    return ThrowErrno(env, ENAMETOOLONG, "connect", path);  // no /proc/self/fd here
#endif
  }
  Fd fd(NewStreamSocket());
  if (!fd) return ThrowErrno(env, errno, "socket");
  sockaddr_un addr;
  socklen_t len = MakeAddr(kernel, &addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int err = errno;
    // AF_UNIX never completes a connect later; a pending one means "no room now" (full backlog).
    if (err == EINPROGRESS) err = EAGAIN;
    return ThrowErrno(env, err, "connect", path);
  }
  return Napi::Number::New(env, fd.release());
}

// Node has no SO_SNDBUF for stream sockets. On a Unix stream socket only the sender's buffer
// counts (the bytes in flight are charged to it), and a writer blocked on a small one wakes the
// reader in lockstep; a larger one keeps the reader fed. Returns what the kernel applied:
// Linux doubles the request and caps it at net.core.wmem_max.
Napi::Value SetSendBufferSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int size = 0;
  if (!ArgFd(info, "fd", &fd) || !ArgInt(info, 1, "size", 1, 1073741824.0, &size)) return env.Undefined();
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0) return ThrowErrno(env, errno, "setsockopt");
  int applied = 0;
  socklen_t len = sizeof applied;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &applied, &len) != 0) return ThrowErrno(env, errno, "getsockopt");
  return Napi::Number::New(env, applied);
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgInt(info, 0, "fd", 0, 2147483647.0, &fd)) return env.Undefined();
  // EINTR still released the fd (Linux); reporting it would invite a double close.
  if (::close(fd) != 0 && errno != EINTR) return ThrowErrno(env, errno, "close");
  return env.Undefined();
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix, "connectUnix"));
  exports.Set("setSendBufferSize", Napi::Function::New(env, SetSendBufferSize, "setSendBufferSize"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
}

}  // namespace plugsock
