// listenUnix / connectUnix / setSendBufferSize / lockDir / closeFd (docs/ADDON-CONTRACT.md).
// Node itself truncates long socket paths and sets modes after bind(); this file exists so
// that neither happens: paths of any length bind through a directory fd, and the mode is set
// on the socket before bind() creates the file.
#include <fcntl.h>
#include <sys/file.h>
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

namespace plugsock {
namespace {

// ---- sockets ----

// Returns -1 with errno set. macOS has no SOCK_NONBLOCK/SOCK_CLOEXEC: there a fork() in another
// thread between socket() and fcntl() can leak the fd into a child; nothing better exists.
int NewStreamSocket() {
#ifdef __APPLE__
  Fd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  if (!fd) return -1;
  int fl = ::fcntl(fd.get(), F_GETFL);
  if (::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0 || fl < 0 ||
      ::fcntl(fd.get(), F_SETFL, fl | O_NONBLOCK) != 0) {
    int err = errno;
    fd.reset();  // before restoring errno: close() may touch it
    errno = err;
    return -1;
  }
  return fd.release();
#else
  return ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#endif
}

bool FitsSunPath(const std::string& path) {
  return path.size() < sizeof(sockaddr_un{}.sun_path);  // the NUL must fit too
}

// Caller checked FitsSunPath.
socklen_t MakeAddr(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
#ifdef __APPLE__
  addr->sun_len = static_cast<unsigned char>(len);
#endif
  return len;
}

// The address actually handed to bind()/connect() for `dir`/`name`: the path itself when it
// fits sun_path, else (Linux) /proc/self/fd/<dirfd>/<name> with `dir` opened O_PATH into
// *dirfd. The magic link resolves to the directory itself, so the file lands at the full path.
struct Target {
  std::string full;    // what errors report
  std::string kernel;  // what the kernel sees
  std::string name;    // the last component, relative to dirfd
  Fd dirfd;            // valid only on the long-path route
};

// On failure returns false with *syscall/errno describing it.
bool ResolveTarget(const std::string& dir, const std::string& name, Target* t,
                   const char** syscall) {
  t->full = dir.back() == '/' ? dir + name : dir + "/" + name;
  t->name = name;
  if (FitsSunPath(t->full)) {
    t->kernel = t->full;
    return true;
  }
#ifdef __linux__  // no /proc/self/fd elsewhere (macOS: ENAMETOOLONG)
  t->dirfd.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!t->dirfd) {
    *syscall = "open";
    return false;
  }
  t->kernel = "/proc/self/fd/" + std::to_string(t->dirfd.get()) + "/" + name;
  if (FitsSunPath(t->kernel)) return true;
#endif
  *syscall = "bind";
  errno = ENAMETOOLONG;
  return false;
}

// The file must end up with exactly `mode`: bind() subtracted the umask.
int ChmodBound(const Target& t, mode_t mode) {
  if (t.dirfd) return ::fchmodat(t.dirfd.get(), t.name.c_str(), mode, 0);
  return ::fchmodat(AT_FDCWD, t.full.c_str(), mode, 0);
}

Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir, name;
  int mode = 0, backlog = 0;
  if (!ArgPath(info, 0, "dir", &dir) || !ArgPath(info, 1, "name", &name) ||
      !ArgInt(info, 2, "mode", 0, 07777, &mode) ||
      !ArgInt(info, 3, "backlog", -2147483648.0, 2147483647.0, &backlog)) {
    return env.Undefined();
  }

  Target target;
  const char* syscall = "bind";
  if (!ResolveTarget(dir, name, &target, &syscall)) {
    return ThrowErrno(env, errno, syscall, syscall[0] == 'o' ? dir : target.full);
  }

  Fd fd(NewStreamSocket());
  if (!fd) return ThrowErrno(env, errno, "socket");
#ifndef __APPLE__
  // bind() creates the file with the socket inode's mode minus the umask, so it is never wider
  // than `mode`, not even for a moment (FACTS.md). BSD sockets reject fchmod (EINVAL); on macOS
  // the private directory the caller binds in is what keeps the window closed.
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) return ThrowErrno(env, errno, "fchmod");
#endif

  sockaddr_un addr;
  socklen_t len = MakeAddr(target.kernel, &addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return ThrowErrno(env, errno, "bind", target.full);
  }
  // From here on a failure leaves the file behind on purpose: the caller owns the directory and
  // decides whether to unlink (it may not even be ours any more by then).
  if (ChmodBound(target, static_cast<mode_t>(mode)) != 0) {
    return ThrowErrno(env, errno, "fchmodat", target.full);
  }
  if (::listen(fd.get(), backlog) != 0) return ThrowErrno(env, errno, "listen", target.full);
  return Napi::Number::New(env, fd.release());
}

// Splits at the last '/' so a long path can go through its directory's fd.
bool SplitPath(const std::string& path, std::string* dir, std::string* base) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return false;
  *dir = slash == 0 ? "/" : path.substr(0, slash);
  *base = path.substr(slash + 1);
  return true;
}

Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgPath(info, 0, "path", &path)) return env.Undefined();

  Target target;
  if (FitsSunPath(path)) {
    target.full = target.kernel = path;
  } else {
    std::string dir, base;
    if (!SplitPath(path, &dir, &base)) return ThrowErrno(env, ENAMETOOLONG, "connect", path);
    const char* syscall = "connect";
    if (!ResolveTarget(dir, base, &target, &syscall)) {
      return ThrowErrno(env, errno, syscall, syscall[0] == 'o' ? dir : path);
    }
    target.full = path;  // errors name the path exactly as the caller gave it
  }

  Fd fd(NewStreamSocket());
  if (!fd) return ThrowErrno(env, errno, "socket");
  sockaddr_un addr;
  socklen_t len = MakeAddr(target.kernel, &addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    int err = errno;
    // AF_UNIX never completes a connect later; a pending one means "no room now" (full backlog).
    if (err == EINPROGRESS) err = EAGAIN;
    return ThrowErrno(env, err, "connect", target.full);
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

Napi::Value LockDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir;
  if (!ArgPath(info, 0, "dir", &dir)) return env.Undefined();
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ThrowErrno(env, errno, "open", dir);
  // flock, not fcntl locks: those belong to the process, so a second lockDir in the same
  // process (another worker, another server) would silently "succeed".
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return ThrowErrno(env, errno, "flock", dir);
  return Napi::Number::New(env, fd.release());
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
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix, "listenUnix"));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix, "connectUnix"));
  exports.Set("setSendBufferSize", Napi::Function::New(env, SetSendBufferSize, "setSendBufferSize"));
  exports.Set("lockDir", Napi::Function::New(env, LockDir, "lockDir"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
}

}  // namespace plugsock
