// socketInspect / notifySend (docs/ADDON-CONTRACT.md): what systemd socket activation and its
// notify protocol need that Node cannot do. socketInspect tells what an inherited fd is
// (LISTEN_FDS); notifySend sends one datagram to NOTIFY_SOCKET, fds included (the fd store):
// Node has no datagram sockets in the Unix domain.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "modules.h"
#include "scm_rights.h"
#include "sockaddr.h"
#ifdef __linux__
#include "claim.h"
#endif

namespace plugsock {
namespace {

// systemd reads notify messages into a buffer of this size (NOTIFY_BUFFER_MAX, PIPE_BUF).
constexpr size_t kNotifyMax = 4096;

const char* DomainName(int domain) {
  switch (domain) {
    case AF_UNIX: return "unix";
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    default: return "other";
  }
}

const char* TypeName(int type) {
  switch (type) {
    case SOCK_STREAM: return "stream";
    case SOCK_DGRAM: return "dgram";
    case SOCK_SEQPACKET: return "seqpacket";
    case SOCK_RAW: return "raw";
    default: return "other";
  }
}

int GetInt(int fd, int option, int* out) {
  socklen_t len = sizeof *out;
  return ::getsockopt(fd, SOL_SOCKET, option, out, &len);
}

// The bound address of an AF_UNIX socket: "" unnamed, a path, or a NUL and an abstract name
// (exactly as long as it was bound: Node's padded names keep their NULs).
std::string UnixAddress(const sockaddr_un& addr, socklen_t len) {
  size_t base = offsetof(sockaddr_un, sun_path);
  if (len <= base) return "";
  size_t n = len - base;
  if (addr.sun_path[0] == '\0') return std::string(addr.sun_path, n);
  return std::string(addr.sun_path, strnlen(addr.sun_path, n));
}

// fstat(2) of an fd. On Linux the system call itself (claim.h's Fstat): glibc >= 2.33's `fstat`
// symbol would raise the prebuilds' glibc floor (2.28, docs/compat.md).
static int StatFd(int fd, struct stat* st) {
#ifdef __linux__
  return claim::Fstat(fd, st);
#else
  return ::fstat(fd, st);
#endif
}

// socketInspect(fd) -> { domain, type, listening, path } | null: what the socket `fd` is
// (SO_DOMAIN, SO_TYPE, SO_ACCEPTCONN, getsockname); null when `fd` is open but not a socket.
Napi::Value SocketInspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  struct stat st;
  if (StatFd(fd, &st) != 0) return ThrowErrno(env, errno, "fstat");
  if (!S_ISSOCK(st.st_mode)) return env.Null();
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ThrowErrno(env, errno, "getsockname");
  }
  int domain = addr.sun_family;
#ifdef SO_DOMAIN
  if (GetInt(fd, SO_DOMAIN, &domain) != 0) return ThrowErrno(env, errno, "getsockopt");
#endif
  int type = 0;
  int listening = 0;
  if (GetInt(fd, SO_TYPE, &type) != 0 || GetInt(fd, SO_ACCEPTCONN, &listening) != 0) {
    return ThrowErrno(env, errno, "getsockopt");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("domain", DomainName(domain));
  out.Set("type", TypeName(type));
  out.Set("listening", Napi::Boolean::New(env, listening != 0));
  // A long sockaddr of another family was cut to sockaddr_un's size: only AF_UNIX's is read.
  if (domain == AF_UNIX) {
    out.Set("path", UnixAddress(addr, len));
  } else {
    out.Set("path", env.Null());
  }
  return out;
}

// The fds argument: an array of at most kMaxFds fds (the caller's: they are not closed here).
bool ArgFdList(const Napi::CallbackInfo& info, size_t i, std::vector<int>* out) {
  if (info.Length() <= i || !info[i].IsArray()) {
    ThrowTypeError(info.Env(), "The \"fds\" argument must be an array of file descriptors");
    return false;
  }
  Napi::Array list = info[i].As<Napi::Array>();
  if (list.Length() > static_cast<uint32_t>(kMaxFds)) {
    ThrowTypeError(info.Env(), "The \"fds\" argument holds more than 253 file descriptors");
    return false;
  }
  for (uint32_t k = 0; k < list.Length(); k++) {
    Napi::Value v = list.Get(k);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d <= 2147483647.0) || static_cast<double>(static_cast<int>(d)) != d) {
      ThrowTypeError(info.Env(), "The \"fds\" argument must hold non-negative integers");
      return false;
    }
    out->push_back(static_cast<int>(d));
  }
  return true;
}

int NewDatagramSocket() {
#ifdef SOCK_CLOEXEC
  return ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
#else
  Fd fd(::socket(AF_UNIX, SOCK_DGRAM, 0));
  int fl = fd ? ::fcntl(fd.get(), F_GETFL) : -1;
  if (fl < 0 || ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0 ||
      ::fcntl(fd.get(), F_SETFL, fl | O_NONBLOCK) != 0) {
    int err = errno;
    fd.reset();
    errno = err;
    return -1;
  }
  return fd.release();
#endif
}

// notifySend(address, message, fds): one datagram, `message` (1 to 4096 bytes) and `fds` (at
// most 253, SCM_RIGHTS) to the AF_UNIX datagram socket at `address` (a path, or a NUL and an
// abstract name): sd_notify's wire. Never blocks: EAGAIN when the receiver's queue is full.
Napi::Value NotifySend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target;
  bool abstract = false;
  std::vector<int> fds;
  if (!ArgAddress(info, 0, "address", &target, &abstract)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsString()) {
    return ThrowTypeError(env, "The \"message\" argument must be a string");
  }
  std::string message = info[1].As<Napi::String>().Utf8Value();
  if (message.empty() || message.size() > kNotifyMax) {
    return ThrowTypeError(env, "The \"message\" argument must be 1 to 4096 bytes");
  }
  if (!ArgFdList(info, 2, &fds)) return env.Undefined();
  sockaddr_un addr;
  socklen_t len = 0;
  std::string shown = abstract ? "@" + target : target;
  if (abstract) {
#ifdef __linux__
    len = MakeAbstractAddr(target, &addr);
#else
    return ThrowErrno(env, EAFNOSUPPORT, "connect", shown);
#endif
  } else if (FitsSunPath(target)) {
    len = MakeAddr(target, &addr);
  } else {
    return ThrowErrno(env, ENAMETOOLONG, "connect", shown);
  }
  Fd sock(NewDatagramSocket());
  if (!sock) return ThrowErrno(env, errno, "socket");
  // A connected datagram socket: the destination's errors (ENOENT, ECONNREFUSED, EPROTOTYPE,
  // EACCES) come from connect, before anything is sent.
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return ThrowErrno(env, errno, "connect", shown);
  }
  iovec iov{const_cast<char*>(message.data()), message.size()};
  if (SendWithFds(sock.get(), &iov, 1, fds.data(), fds.size()) < 0) {
    return ThrowErrno(env, errno, "sendmsg", shown);
  }
  return env.Undefined();
}

}  // namespace

void InitSystemd(Napi::Env env, Napi::Object exports) {
  exports.Set("socketInspect", Napi::Function::New(env, SocketInspect, "socketInspect"));
  exports.Set("notifySend", Napi::Function::New(env, NotifySend, "notifySend"));
}

}  // namespace plugsock
