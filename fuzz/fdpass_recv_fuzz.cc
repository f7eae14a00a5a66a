// libFuzzer harness for the fd-passing receive path of native/fdpass.cc.
//
// The control-message parsing of FdChannel::ReadBatch is not a separate function, so
// fuzz/extract-recv-loop.py copies that loop verbatim into recv_loop.inc and this file runs it
// on messages that a real sender put through a real AF_UNIX socketpair: random byte counts,
// random numbers of fds (0..253, and beyond to provoke EINVAL), random receive sizes (messages
// split and coalesced), SO_PASSCRED on the receiver (an SCM_CREDENTIALS cmsg beside
// SCM_RIGHTS), small control buffers and a lowered RLIMIT_NOFILE (MSG_CTRUNC, truncated fds).
//
// Oracles, beyond ASan/UBSan: every fd the loop takes is open, CLOEXEC and distinct; an
// untruncated message yields exactly the fds sent with it; every byte sent is received; when
// the loop's owners (std::vector<Fd>) are cleared, the process has exactly the fds it had
// before (no leak, no double close).
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#include <dirent.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "fd.h"

namespace {

constexpr int kMaxFds = 253;
union ControlBuffer {
  char buf[CMSG_SPACE(sizeof(int) * kMaxFds) + CMSG_SPACE(64)];
  struct cmsghdr align;
};

struct Reader {
  const uint8_t* p;
  size_t n;
  uint32_t take(uint32_t bound) {  // uniform-ish in [0, bound)
    if (bound == 0) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 2 && n > 0; i++, p++, n--) v = (v << 8) | *p;
    return v % bound;
  }
  bool empty() const { return n == 0; }
};

int CountFds() {
  int count = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) abort();
  while (readdir(d)) count++;
  closedir(d);
  return count;
}

[[noreturn]] void Fail(const char* what) {
  fprintf(stderr, "fdpass_recv_fuzz: invariant broken: %s\n", what);
  abort();
}

// Receives one recvmsg worth through the extracted loop. Returns bytes read (0 at EAGAIN).
ssize_t ReceiveOnce(int fd, char* buf, size_t want, size_t controllen, std::vector<plugsock::Fd>& fds_,
                    size_t* got_fds, bool* truncated) {
  ControlBuffer control;
  std::memset(&control, 0xA5, sizeof(control));  // garbage where the kernel writes nothing
  iovec iov{buf, want};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = controllen;
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    Fail("recvmsg failed");
  }
  size_t first = fds_.size();
#include "recv_loop.inc"
  *got_fds = fds_.size() - first;
  *truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  if (*truncated) fds_.resize(first);  // what ReadBatch does: close what came
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int baseline = CountFds();  // per input: libFuzzer itself may hold files open between inputs
  static char payload[8192];
  static char rbuf[8192];
  Reader in{data, size};

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) Fail("socketpair");
  fcntl(sv[0], F_SETFL, O_NONBLOCK);
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  if (in.take(4) == 0) {
    int one = 1;
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
  }
  int pipefd[2];
  if (pipe(pipefd) != 0) Fail("pipe");

  std::vector<plugsock::Fd> fds_;
  size_t sent_bytes = 0, recv_bytes = 0;
  std::vector<size_t> fds_per_message;  // fd counts of messages that went out, in order
  size_t messages = 1 + in.take(8);
  for (size_t m = 0; m < messages && !in.empty(); m++) {
    // --- send one message
    size_t nbytes = 1 + in.take(4096);
    int choice = in.take(16);
    int nfds = choice < 6 ? 0 : choice < 12 ? static_cast<int>(in.take(8)) : choice < 15 ? static_cast<int>(in.take(kMaxFds + 1)) : kMaxFds + 1 + static_cast<int>(in.take(4));
    std::vector<int> out;
    for (int k = 0; k < nfds; k++) out.push_back((k & 1) ? pipefd[0] : pipefd[1]);
    for (size_t k = 0; k < nbytes; k++) payload[k] = static_cast<char>(m + k);
    std::vector<char> cbuf(CMSG_SPACE(sizeof(int) * (nfds > 0 ? nfds : 1)));
    iovec iov{payload, nbytes};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
      msg.msg_control = cbuf.data();
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
      std::memcpy(CMSG_DATA(c), out.data(), sizeof(int) * nfds);
    }
    ssize_t s = sendmsg(sv[0], &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (s < 0) {
      if (nfds > kMaxFds && errno == EINVAL) continue;  // the kernel refuses > SCM_MAX_FD
      if (errno == EAGAIN || errno == ETOOMANYREFS) continue;
      Fail("sendmsg");
    }
    if (nfds > kMaxFds) Fail("kernel accepted more than SCM_MAX_FD fds");
    sent_bytes += static_cast<size_t>(s);
    fds_per_message.push_back(nfds);

    // --- receive some (sizes from the input), sometimes under a lowered fd limit
    int reads = static_cast<int>(in.take(4));
    for (int r = 0; r < reads; r++) {
      size_t want = 1 + in.take(sizeof(rbuf));
      int cchoice = in.take(8);
      size_t controllen = cchoice < 5 ? CMSG_SPACE(sizeof(int) * kMaxFds) : cchoice == 5 ? in.take(sizeof(ControlBuffer)) : CMSG_SPACE(sizeof(int) * in.take(kMaxFds));
      bool limit = in.take(8) == 0;
      rlimit old{};
      if (limit) {
        getrlimit(RLIMIT_NOFILE, &old);
        rlimit lowered = old;
        lowered.rlim_cur = static_cast<rlim_t>(CountFds() + in.take(6));
        setrlimit(RLIMIT_NOFILE, &lowered);
      }
      size_t got = 0;
      bool truncated = false;
      ssize_t n = ReceiveOnce(sv[1], rbuf, want, controllen, fds_, &got, &truncated);
      if (limit) setrlimit(RLIMIT_NOFILE, &old);
      recv_bytes += static_cast<size_t>(n);
      if (!truncated && got > 0) {
        // Untruncated: exactly the count of some message sent (fds end a read at their message).
        bool match = false;
        for (size_t c : fds_per_message) match = match || c == got;
        if (!match) Fail("received an fd count that no message carried");
      }
    }
  }
  // --- drain everything with full control buffers
  for (;;) {
    size_t got = 0;
    bool truncated = false;
    ssize_t n = ReceiveOnce(sv[1], rbuf, sizeof(rbuf), CMSG_SPACE(sizeof(int) * kMaxFds) + CMSG_SPACE(64), fds_, &got, &truncated);
    if (n == 0) break;
    recv_bytes += static_cast<size_t>(n);
  }
  if (recv_bytes != sent_bytes) Fail("bytes lost or invented");
  std::set<int> seen;
  for (auto& f : fds_) {
    int flags = fcntl(f.get(), F_GETFD);
    if (flags < 0) Fail("an fd the loop took is not open");
    if (!(flags & FD_CLOEXEC)) Fail("a received fd lacks FD_CLOEXEC");
    if (!seen.insert(f.get()).second) Fail("the same fd was taken twice");
  }
  fds_.clear();  // the owners close every received fd
  close(sv[0]);
  close(sv[1]);
  close(pipefd[0]);
  close(pipefd[1]);
  if (CountFds() != baseline) Fail("fd count changed across one input (leak or double close)");
  return 0;
}
