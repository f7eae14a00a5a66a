// Making AF_UNIX stream sockets and their addresses; shared by socket.cc, claim.cc, abstract.cc
// and systemd.cc.
#pragma once
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "fd.h"

namespace plugsock {

// Returns -1 with errno set. macOS has no SOCK_NONBLOCK/SOCK_CLOEXEC: there a fork() in another
// thread between socket() and fcntl() can leak the fd into a child; nothing better exists.
inline int NewStreamSocket() {
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

inline bool FitsSunPath(const std::string& path) {
  return path.size() < sizeof(sockaddr_un{}.sun_path);  // the NUL must fit too
}

// Caller checked FitsSunPath.
inline socklen_t MakeAddr(const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
#ifdef __APPLE__
  addr->sun_len = static_cast<unsigned char>(len);
#endif
  return len;
}

// The longest abstract name: sun_path less its leading NUL.
constexpr size_t kAbstractNameMax = sizeof(sockaddr_un{}.sun_path) - 1;

// An abstract address (Linux): a NUL in sun_path[0], then the `name.size()` bytes of the name and
// nothing after them. The kernel counts every byte up to the address length as part of the name,
// so the length is exact: no terminating NUL (Node's net binds the whole sun_path, padded with
// NULs, which is another name). Caller checked 1 <= name.size() <= kAbstractNameMax.
inline socklen_t MakeAbstractAddr(const std::string& name, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path + 1, name.data(), name.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
}

}  // namespace plugsock
