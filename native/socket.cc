// socketConnect / socketSetSendBufferSize / socketSetPassRights / socketProbePassRights /
// socketIsHungUp (docs/ADDON-CONTRACT.md): what Node's net cannot do for a connected socket.
// Listening sockets are made by the claim protocol (claim.cc); fdClose is with the fd utilities
// (fd_utils.cc).
#include <fcntl.h>
#include <poll.h>
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
// /proc/self/fd/<fd>, which is always short and reaches exactly the file that was opened. A
// string that starts with a NUL is an abstract address (Linux): the name after it, exactly.
Napi::Value SocketConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  bool abstract = false;
  if (!ArgAddress(info, 0, "path", &path, &abstract)) return env.Undefined();
  Fd file;
  sockaddr_un addr;
  socklen_t len = 0;
  if (abstract) {
#ifdef __linux__
    len = MakeAbstractAddr(path, &addr);
    path.insert(0, "@");  // how errors (and ss, /proc/net/unix) show it
#else
    return ThrowErrno(env, EAFNOSUPPORT, "connect", "@" + path);  // Linux-only namespace
#endif
  } else if (!FitsSunPath(path)) {
#ifdef __linux__
    file.reset(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!file) return ThrowErrno(env, errno, "open", path);
    len = MakeAddr("/proc/self/fd/" + std::to_string(file.get()), &addr);
#else
    return ThrowErrno(env, ENAMETOOLONG, "connect", path);        // no /proc/self/fd here
#endif
  } else {
    len = MakeAddr(path, &addr);
  }
  Fd fd(NewStreamSocket());
  if (!fd) return ThrowErrno(env, errno, "socket");
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
Napi::Value SocketSetSendBufferSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int size = 0;
  if (!ArgFd(info, "fd", &fd) || !ArgInt(info, 1, "size", 1, 1073741824.0, &size)) {
    return env.Undefined();
  }
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0) {
    return ThrowErrno(env, errno, "setsockopt");
  }
  int applied = 0;
  socklen_t len = sizeof applied;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &applied, &len) != 0) {
    return ThrowErrno(env, errno, "getsockopt");
  }
  return Napi::Number::New(env, applied);
}

// SO_PASSRIGHTS (Linux 6.16+): whether the kernel lets a peer pass fds into this socket. Off on
// every connection that is not fdPassing, so a peer cannot park descriptors in its receive
// queue (libuv's read() would drop them only when it gets to them). Returns false where the
// kernel has no such option (ENOPROTOOPT), true when it is applied.
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif
Napi::Value SocketSetPassRights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsBoolean()) {
    return ThrowTypeError(env, "The \"on\" argument must be a boolean");
  }
#ifdef __linux__
  int on = info[1].As<Napi::Boolean>().Value() ? 1 : 0;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &on, sizeof on) == 0) {
    return Napi::Boolean::New(env, true);
  }
  if (errno == ENOPROTOOPT) return Napi::Boolean::New(env, false);
  return ThrowErrno(env, errno, "setsockopt");
#else
  return Napi::Boolean::New(env, false);
#endif
}

// socketIsHungUp(fd) -> boolean: whether the peer has closed its end (POLLRDHUP/POLLHUP), without
// reading: for a paused socket whose peer check is still running.
Napi::Value SocketIsHungUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
#ifdef POLLRDHUP
  struct pollfd p = {fd, POLLRDHUP, 0};
  int ready = ::poll(&p, 1, 0);
  if (ready < 0) return ThrowErrno(env, errno, "poll");
  if (p.revents & POLLNVAL) return ThrowErrno(env, EBADF, "poll");
  return Napi::Boolean::New(env, ready > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0);
#else
  return Napi::Boolean::New(env, false);  // macOS: no way to tell without reading
#endif
}

// socketProbePassRights() -> 0, 1 or 2 (asked once, on throwaway sockets): 0 where the kernel
// has no SO_PASSRIGHTS; 1 where it has; 2 where, besides, a connection accepted from a listener
// takes the listener's setting (Linux 6.16+ copies it at connect()), so a listener set once
// spares each accepted connection its own setsockopt. Measured, not assumed from the version:
// the listener is autobound (an abstract name the kernel picks: nothing on any filesystem).
Napi::Value SocketProbePassRights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fd probe(NewStreamSocket());
  if (!probe) return ThrowErrno(env, errno, "socket");
  int on = 1;
  if (::setsockopt(probe.get(), SOL_SOCKET, SO_PASSRIGHTS, &on, sizeof on) != 0) {
    return Napi::Number::New(env, 0);
  }
#ifdef __linux__
  int off = 0;
  sa_family_t family = AF_UNIX;
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  Fd client(NewStreamSocket());
  if (!client || ::setsockopt(probe.get(), SOL_SOCKET, SO_PASSRIGHTS, &off, sizeof off) != 0 ||
      ::bind(probe.get(), reinterpret_cast<sockaddr*>(&family), sizeof family) != 0 ||
      ::listen(probe.get(), 1) != 0 ||
      ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return Napi::Number::New(env, 1);
  }
  Fd accepted(::accept4(probe.get(), nullptr, nullptr, SOCK_CLOEXEC));
  int inherited = -1;
  socklen_t size = sizeof inherited;
  if (!accepted ||
      ::getsockopt(accepted.get(), SOL_SOCKET, SO_PASSRIGHTS, &inherited, &size) != 0) {
    return Napi::Number::New(env, 1);
  }
  return Napi::Number::New(env, inherited == 0 ? 2 : 1);
#else
  return Napi::Number::New(env, 1);
#endif
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("socketConnect", Napi::Function::New(env, SocketConnect, "socketConnect"));
  exports.Set("socketSetSendBufferSize",
              Napi::Function::New(env, SocketSetSendBufferSize, "socketSetSendBufferSize"));
  exports.Set("socketSetPassRights",
              Napi::Function::New(env, SocketSetPassRights, "socketSetPassRights"));
  exports.Set("socketProbePassRights",
              Napi::Function::New(env, SocketProbePassRights, "socketProbePassRights"));
  exports.Set("socketIsHungUp", Napi::Function::New(env, SocketIsHungUp, "socketIsHungUp"));
}

}  // namespace plugsock
