#include "scm_rights.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include <cerrno>
#include <cstring>

namespace plugsock {
namespace {

#ifdef MSG_CMSG_CLOEXEC
constexpr int kRecvFlags = MSG_DONTWAIT | MSG_CMSG_CLOEXEC;
#else
// macOS: no atomic CLOEXEC on receipt; set it right after (no exec can run in between on this
// thread, and fork+exec from other threads is the caller's race to avoid).
constexpr int kRecvFlags = MSG_DONTWAIT;
#endif
#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_DONTWAIT | MSG_NOSIGNAL;
#else
constexpr int kSendFlags = MSG_DONTWAIT;  // SO_NOSIGPIPE is set on the socket instead
#endif

// sendmsg and recvmsg without glibc's cancellation-point wrappers, which in a multi-threaded
// process (Node always is) bracket every call with two atomic updates of the thread's
// cancellation state: ~3% of a receiver's time at one fd per message. Nothing here is ever
// cancelled; libuv calls close() this way for the same reason.
#ifdef __linux__
ssize_t SendMsg(int sock, const msghdr* msg, int flags) {
  return syscall(SYS_sendmsg, sock, msg, flags);
}
ssize_t RecvMsg(int sock, msghdr* msg, int flags) { return syscall(SYS_recvmsg, sock, msg, flags); }
#else
ssize_t SendMsg(int sock, const msghdr* msg, int flags) { return sendmsg(sock, msg, flags); }
ssize_t RecvMsg(int sock, msghdr* msg, int flags) { return recvmsg(sock, msg, flags); }
#endif

}  // namespace

ssize_t SendWithFds(int sock, const iovec* iov, size_t niov, const int* fds, size_t nfds) {
  ControlBuffer control;
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = niov;
  if (nfds > 0) {
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    std::memset(control.buf, 0, msg.msg_controllen);  // only what is sent: 1 KiB is wasted work
    msg.msg_control = control.buf;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do {
    n = SendMsg(sock, &msg, kSendFlags);
  } while (n < 0 && errno == EINTR);
  return n;
}

size_t TakeFds(const msghdr& msg, std::vector<Fd>* fds) {
  size_t first = fds->size();
  // CMSG_FIRSTHDR/CMSG_NXTHDR take a non-const msghdr on some libcs; they only read it.
  msghdr* m = const_cast<msghdr*>(&msg);
  for (cmsghdr* c = CMSG_FIRSTHDR(m); c != nullptr; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (size_t k = 0; k < count; k++) {
      int fd;
      std::memcpy(&fd, data + k * sizeof(int), sizeof(int));
      fds->emplace_back(fd);
#ifndef MSG_CMSG_CLOEXEC
      fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
    }
  }
  return fds->size() - first;
}

Received ReceiveWithFds(int sock, char* buf, size_t len, void* control, size_t controllen,
                        std::vector<Fd>* fds) {
  Received r;
  iovec iov{buf, len};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = controllen;
  do {
    r.bytes = RecvMsg(sock, &msg, kRecvFlags);
  } while (r.bytes < 0 && errno == EINTR);
  if (r.bytes < 0) return r;
  size_t first = fds->size();
  size_t got = TakeFds(msg, fds);
  r.truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  if (r.truncated) {
    fds->resize(first);
    r.dropped = got;
  } else {
    r.fds = got;
  }
  return r;
}

}  // namespace plugsock
