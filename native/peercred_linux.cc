// peerCred / peerPidfd / pidfdIsAlive on Linux (docs/ADDON-CONTRACT.md).
// Node has no API for any of these; the pid alone is racy (reuse), hence the pidfd pair.
#ifdef __linux__

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "modules.h"

// Older libc headers lack these; the numbers are kernel ABI and never change.
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace plugsock {
namespace {

// Supplementary groups as of connect()/listen(); nullptr-equivalent (false, errno ENOPROTOOPT)
// on kernels before 4.13.
constexpr size_t kMaxPeerGroups = 65536;

bool ReadPeerGroups(int fd, std::vector<gid_t>* groups) {
  groups->resize(16);
  for (;;) {
    socklen_t len = static_cast<socklen_t>(groups->size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups->data(), &len) == 0) {
      groups->resize(len / sizeof(gid_t));
      return true;
    }
    // ERANGE reports the size needed in len; the peer's groups cannot change (they are a
    // snapshot), so one retry normally suffices, but loop rather than trust that.
    if (errno != ERANGE) return false;
    // Bounded: a process has at most NGROUPS_MAX (65536) supplementary groups. A kernel (or an
    // emulator: qemu-user answered ERANGE forever) that asks for more gets ERANGE back, and the
    // caller refuses the connection rather than growing the buffer without end.
    size_t need = len / sizeof(gid_t);
    size_t next = need > groups->size() ? need : groups->size() * 2;
    if (next > kMaxPeerGroups) {
      errno = ERANGE;
      return false;
    }
    groups->resize(next);
  }
}

Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();

  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ThrowErrno(env, errno, "getsockopt");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));

  std::vector<gid_t> groups;
  if (ReadPeerGroups(fd, &groups)) {
    Napi::Array arr = Napi::Array::New(env, groups.size());
    for (size_t i = 0; i < groups.size(); i++) {
      arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, groups[i]));
    }
    out.Set("groups", arr);
  } else if (errno == ENOPROTOOPT) {
    out.Set("groups", env.Null());
  } else {
    return ThrowErrno(env, errno, "getsockopt");
  }
  return out;
}

// The per-connection fast path: pid, uid, gid written into a caller-owned Int32Array(3), so
// accepting a connection allocates nothing here. Groups are fetched separately, on demand.
Napi::Value PeerCredInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[1].As<Napi::Int32Array>().ElementLength() < 3) {
    return ThrowTypeError(env, "The \"out\" argument must be an Int32Array of length 3");
  }
  struct ucred cred {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return ThrowErrno(env, errno, "getsockopt");
  }
  Napi::Int32Array out = info[1].As<Napi::Int32Array>();
  out[0] = cred.pid;
  out[1] = static_cast<int32_t>(cred.uid);
  out[2] = static_cast<int32_t>(cred.gid);
  return env.Undefined();
}

Napi::Value PeerGroups(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  std::vector<gid_t> groups;
  if (!ReadPeerGroups(fd, &groups)) {
    if (errno == ENOPROTOOPT) return env.Null();
    return ThrowErrno(env, errno, "getsockopt");
  }
  Napi::Array arr = Napi::Array::New(env, groups.size());
  for (size_t i = 0; i < groups.size(); i++) {
    arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, groups[i]));
  }
  return arr;
}

Napi::Value PeerPidfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, "fd", &fd)) return env.Undefined();
  int raw = -1;
  socklen_t len = sizeof(raw);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &raw, &len) != 0) {
    if (errno == ENOPROTOOPT) return Napi::Number::New(env, -1);  // kernel before 6.5
    return ThrowErrno(env, errno, "getsockopt");
  }
  Fd pidfd(raw);  // the kernel makes it O_CLOEXEC; the caller owns it from here
  return Napi::Number::New(env, pidfd.release());
}

Napi::Value PidfdIsAlive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd;
  if (!ArgFd(info, "pidfd", &pidfd)) return env.Undefined();
  // A pidfd turns readable when its process exits, before it is reaped: a zombie (which
  // pidfd_send_signal(0) still reaches) has exited and is not alive.
  struct pollfd p = {pidfd, POLLIN, 0};
  int ready = ::poll(&p, 1, 0);
  if (ready < 0) return ThrowErrno(env, errno, "poll");
  if (ready > 0 && (p.revents & POLLIN)) return Napi::Boolean::New(env, false);
  if (::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0) {
    return Napi::Boolean::New(env, true);
  }
  // ESRCH: exited and reaped. EPERM is checked only after the task was found, so the process
  // exists (a peer running as another user) — that is "alive", not an error.
  if (errno == ESRCH) return Napi::Boolean::New(env, false);
  if (errno == EPERM) return Napi::Boolean::New(env, true);
  return ThrowErrno(env, errno, "pidfd_send_signal");
}

}  // namespace

void InitPeercred(Napi::Env env, Napi::Object exports) {
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
  exports.Set("peerCredInto", Napi::Function::New(env, PeerCredInto, "peerCredInto"));
  exports.Set("peerGroups", Napi::Function::New(env, PeerGroups, "peerGroups"));
  exports.Set("peerPidfd", Napi::Function::New(env, PeerPidfd, "peerPidfd"));
  exports.Set("pidfdIsAlive", Napi::Function::New(env, PidfdIsAlive, "pidfdIsAlive"));
}

}  // namespace plugsock

#endif  // __linux__
