// libFuzzer harness for the fd-passing receive path: native/scm_rights.cc, the very code the
// addon's FdChannel links (scripts/fuzz.sh compiles it into this harness).
//
// ReceiveWithFds (recvmsg, then TakeFds: the control-message parsing, and the MSG_CTRUNC rule)
// runs on messages that a real sender put through a real AF_UNIX socketpair: random byte
// counts, random numbers of fds (0..253 sent with the addon's SendWithFds, and beyond to provoke
// EINVAL), random receive sizes (messages split and coalesced), SO_PASSCRED on the receiver (an
// SCM_CREDENTIALS cmsg beside SCM_RIGHTS), small control buffers and a lowered RLIMIT_NOFILE
// (MSG_CTRUNC, truncated fds).
//
// Oracles, beyond ASan/UBSan: every fd taken is open, CLOEXEC and distinct; an untruncated
// message yields exactly the fds sent with it; every byte sent is received; when the owners
// (std::vector<Fd>) are cleared, the process has exactly the fds it had before (no leak, no
// double close).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "fd.h"
#include "scm_rights.h"

namespace {

using plugsock::kMaxFds;
// Room for SCM_CREDENTIALS beside a full SCM_RIGHTS (the addon's ControlBuffer has none).
union BigControlBuffer {
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

// One recvmsg through the addon's ReceiveWithFds. Returns bytes read (0 at EAGAIN).
ssize_t ReceiveOnce(int fd, char* buf, size_t want, size_t controllen,
                    std::vector<plugsock::Fd>* fds, size_t* got_fds, bool* truncated) {
  BigControlBuffer control;
  std::memset(&control, 0xA5, sizeof(control));  // garbage where the kernel writes nothing
  size_t before = fds->size();
  plugsock::Received r = plugsock::ReceiveWithFds(fd, buf, want, control.buf, controllen, fds);
  if (r.bytes < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    Fail("recvmsg failed");
  }
  if (fds->size() != before + r.fds) Fail("ReceiveWithFds miscounted the fds it appended");
  if (r.truncated && r.fds != 0) Fail("a truncated message kept fds");
  *got_fds = r.truncated ? r.dropped : r.fds;
  *truncated = r.truncated;
  return r.bytes;
}

// Sends one message as the addon does (SendWithFds) while it can carry the fds; more than
// SCM_MAX_FD goes through a hand-built control message so the kernel's EINVAL is exercised.
ssize_t SendOnce(int fd, char* payload, size_t nbytes, const std::vector<int>& out) {
  iovec iov{payload, nbytes};
  if (out.size() <= static_cast<size_t>(kMaxFds)) {
    return plugsock::SendWithFds(fd, &iov, 1, out.data(), out.size());
  }
  std::vector<char> cbuf(CMSG_SPACE(sizeof(int) * out.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf.data();
  msg.msg_controllen = cbuf.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * out.size());
  std::memcpy(CMSG_DATA(c), out.data(), sizeof(int) * out.size());
  return sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

char payload[8192];
char rbuf[8192];

// One input's socketpair, and what went through it.
struct Session {
  int sv[2];
  int pipefd[2];
  std::vector<plugsock::Fd> taken;  // every fd received, owned
  size_t sent_bytes = 0;
  size_t recv_bytes = 0;
  std::vector<size_t> fds_per_message;  // fd counts of messages that went out, in order
};

// Sends message m (byte count and fd count from the input). False when the kernel refused it
// (nothing went).
bool SendMessage(Reader& in, size_t m, Session* s) {
  size_t nbytes = 1 + in.take(4096);
  int choice = in.take(16);
  int nfds = choice < 6    ? 0
             : choice < 12 ? static_cast<int>(in.take(8))
             : choice < 15 ? static_cast<int>(in.take(kMaxFds + 1))
                           : kMaxFds + 1 + static_cast<int>(in.take(4));
  std::vector<int> out;
  for (int k = 0; k < nfds; k++) out.push_back((k & 1) ? s->pipefd[0] : s->pipefd[1]);
  for (size_t k = 0; k < nbytes; k++) payload[k] = static_cast<char>(m + k);
  ssize_t sent = SendOnce(s->sv[0], payload, nbytes, out);
  if (sent < 0) {
    if (nfds > kMaxFds && errno == EINVAL) return false;  // the kernel refuses > SCM_MAX_FD
    if (errno == EAGAIN || errno == ETOOMANYREFS) return false;
    Fail("sendmsg");
  }
  if (nfds > kMaxFds) Fail("kernel accepted more than SCM_MAX_FD fds");
  s->sent_bytes += static_cast<size_t>(sent);
  s->fds_per_message.push_back(nfds);
  return true;
}

// Receives some (sizes and control buffer sizes from the input), sometimes under a lowered fd
// limit.
void ReceiveSome(Reader& in, Session* s) {
  int reads = static_cast<int>(in.take(4));
  for (int r = 0; r < reads; r++) {
    size_t want = 1 + in.take(sizeof(rbuf));
    int cchoice = in.take(8);
    size_t controllen = cchoice < 5    ? CMSG_SPACE(sizeof(int) * kMaxFds)
                        : cchoice == 5 ? in.take(sizeof(BigControlBuffer))
                                       : CMSG_SPACE(sizeof(int) * in.take(kMaxFds));
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
    ssize_t n = ReceiveOnce(s->sv[1], rbuf, want, controllen, &s->taken, &got, &truncated);
    if (limit) setrlimit(RLIMIT_NOFILE, &old);
    s->recv_bytes += static_cast<size_t>(n);
    if (!truncated && got > 0) {
      // Untruncated: exactly the count of some message sent (fds end a read at their message).
      bool match = false;
      for (size_t c : s->fds_per_message) match = match || c == got;
      if (!match) Fail("received an fd count that no message carried");
    }
  }
}

// Drains everything with full control buffers, then checks the bytes and the fds taken.
void DrainAndCheck(Session* s) {
  for (;;) {
    size_t got = 0;
    bool truncated = false;
    ssize_t n = ReceiveOnce(s->sv[1], rbuf, sizeof(rbuf), sizeof(BigControlBuffer), &s->taken, &got,
                            &truncated);
    if (n == 0) break;
    s->recv_bytes += static_cast<size_t>(n);
  }
  if (s->recv_bytes != s->sent_bytes) Fail("bytes lost or invented");
  std::set<int> seen;
  for (auto& f : s->taken) {
    int flags = fcntl(f.get(), F_GETFD);
    if (flags < 0) Fail("an fd ReceiveWithFds took is not open");
    if (!(flags & FD_CLOEXEC)) Fail("a received fd lacks FD_CLOEXEC");
    if (!seen.insert(f.get()).second) Fail("the same fd was taken twice");
  }
  s->taken.clear();  // the owners close every received fd
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Per input: libFuzzer itself may hold files open between inputs.
  const int baseline = CountFds();
  Reader in{data, size};
  Session s;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, s.sv) != 0) Fail("socketpair");
  fcntl(s.sv[0], F_SETFL, O_NONBLOCK);
  fcntl(s.sv[1], F_SETFL, O_NONBLOCK);
  if (in.take(4) == 0) {
    int one = 1;
    setsockopt(s.sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
  }
  if (pipe(s.pipefd) != 0) Fail("pipe");
  size_t messages = 1 + in.take(8);
  for (size_t m = 0; m < messages && !in.empty(); m++) {
    if (SendMessage(in, m, &s)) ReceiveSome(in, &s);
  }
  DrainAndCheck(&s);
  close(s.sv[0]);
  close(s.sv[1]);
  close(s.pipefd[0]);
  close(s.pipefd[1]);
  if (CountFds() != baseline) Fail("fd count changed across one input (leak or double close)");
  return 0;
}
