// SCM_RIGHTS over a connected AF_UNIX stream socket: one sendmsg, one recvmsg, and the parsing
// of the control messages that came with it. Plain C++ without N-API, so the addon's channel
// (fd_channel.cc) and the fuzzer (fuzz/fdpass_recv_fuzz.cc) link the very same code.
#pragma once
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <vector>

#include "fd.h"

namespace plugsock {

constexpr int kMaxFds = 253;  // SCM_MAX_FD: the kernel refuses more per message

union ControlBuffer {
  // The union gives cmsghdr alignment, which CMSG_FIRSTHDR relies on.
  char buf[CMSG_SPACE(sizeof(int) * kMaxFds)];
  struct cmsghdr align;
};

// One sendmsg of `iov` (non-blocking, no SIGPIPE, EINTR retried), with `fds` (at most kMaxFds;
// none when nfds is 0) in one SCM_RIGHTS message. Returns the bytes sent, or -1 with errno set
// (EAGAIN: nothing was sent, fds included). After a partial send the fds have gone with the
// first byte.
ssize_t SendWithFds(int sock, const iovec* iov, size_t niov, const int* fds, size_t nfds);

// Takes ownership of every fd in msg's SCM_RIGHTS messages (other control messages are
// skipped), appending them to *fds, close-on-exec. Returns how many were appended.
size_t TakeFds(const msghdr& msg, std::vector<Fd>* fds);

struct Received {
  ssize_t bytes = 0;       // -1: recvmsg failed, errno set (EAGAIN when nothing is waiting)
  size_t fds = 0;          // fds appended to the caller's list
  bool truncated = false;  // MSG_CTRUNC: `dropped` fds came and were closed, none appended
  size_t dropped = 0;
};

// One non-blocking recvmsg into buf[0, len) (EINTR retried), with `control` (controllen bytes,
// cmsghdr-aligned) for the control messages. Every fd that arrived is owned before anything
// else can fail. When some did not fit (MSG_CTRUNC: fd limit, small control buffer), a partial
// set cannot be paired with its bytes reliably, so those that came are closed and counted.
Received ReceiveWithFds(int sock, char* buf, size_t len, void* control, size_t controllen,
                        std::vector<Fd>* fds);

}  // namespace plugsock
