// How the claim makes its listening socket where only it touches the file: bound under a fresh
// temporary name in the directory and identified through sock_diag, or, where sock_diag is
// missing, bound inside a private stage directory.
#ifdef __linux__
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>

#include "claim.h"
#include "sockaddr.h"

namespace plugsock::claim {
namespace {

// Whether this kernel answers sock_diag for AF_UNIX: -1 not known yet, 1 yes, 0 no (then every
// claim binds in a private stage; the first one's temporary name stays until the sweep).
std::atomic<int> g_sock_diag{-1};

// A new stream socket with the mode bind() should give its file: fchmod() on a socket before
// bind() sets the mode of the file bind() creates, minus the umask, so it is never wider than
// asked (docs/ADDON-CONTRACT.md, claimCreate "Steps"). With a group to give, the group bits wait
// until the file has it.
int NewModedSocket(int mode, bool hold_group, Bound* b, const char** syscall) {
  *syscall = "socket";
  b->sock.reset(NewStreamSocket());
  if (!b->sock) return errno;
  *syscall = "fchmod";
  if (::fchmod(b->sock.get(), static_cast<mode_t>(hold_group ? mode & 0700 : mode)) != 0) {
    return errno;
  }
  return 0;
}

// Binds under a fresh `.ps-<pid>-XXXXXX` in parent and listens; then asks the kernel which file
// that is and opens it. ENOSYS: no sock_diag here. EAGAIN: the name was swapped meanwhile.
int BindUnderTemporaryName(int parent, int backlog, Bound* b, const char** syscall) {
  sockaddr_un addr;
  for (int attempt = 0;; attempt++) {
    b->tmp = TemporaryName();
    socklen_t len = MakeAddr(ProcPath(parent, b->tmp.c_str()), &addr);
    if (::bind(b->sock.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) break;
    *syscall = "bind";
    if (errno != EADDRINUSE || attempt == 7) return errno;
  }
  *syscall = "listen";
  if (::listen(b->sock.get(), backlog) != 0) return errno;
  dev_t dev = 0;
  uint32_t ino32 = 0;
  if (int err = BoundFileOf(b->sock.get(), &dev, &ino32)) {
    // The file cannot be identified, so its name stays (a dead .ps-<pid>- socket, which the
    // sweep removes once this process is gone).
    b->tmp.clear();
    *syscall = "sock_diag";
    bool missing = err == ENOENT || err == EINVAL || err == EPROTONOSUPPORT ||
                   err == EAFNOSUPPORT || err == EOPNOTSUPP;
    return missing ? ENOSYS : err;
  }
  b->file.reset(::openat(parent, b->tmp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!b->file || Fstat(b->file.get(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_dev != dev ||
      static_cast<uint32_t>(st.st_ino) != ino32) {
    return EAGAIN;  // not the file we bound: leave it alone
  }
  return 0;
}

// Binds as `s` inside a private stage directory, where nobody else can swap names, and listens.
int BindInStage(int parent, int backlog, Bound* b, const char** syscall) {
  *syscall = "mkdirat";
  if (int e = MakeStage(parent, &b->stage)) return e;
  sockaddr_un addr;
  socklen_t len = MakeAddr(ProcPath(b->stage.dir.get(), "s"), &addr);
  *syscall = "bind";
  if (::bind(b->sock.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) return errno;
  *syscall = "listen";
  if (::listen(b->sock.get(), backlog) != 0) return errno;
  *syscall = "openat";
  b->file.reset(::openat(b->stage.dir.get(), "s", O_PATH | O_NOFOLLOW | O_CLOEXEC));
  return b->file ? 0 : errno;
}

}  // namespace

int BindPrivately(int parent, int mode, int backlog, bool hold_group, bool force_stage, Bound* b,
                  const char** syscall) {
  if (int err = NewModedSocket(mode, hold_group, b, syscall)) return err;
  if (!force_stage && g_sock_diag.load() != 0) {
    int err = BindUnderTemporaryName(parent, backlog, b, syscall);
    if (err != ENOSYS) {
      if (err == 0) g_sock_diag.store(1);
      return err;
    }
    g_sock_diag.store(0);
    if (int e = NewModedSocket(mode, hold_group, b, syscall)) return e;
  }
  return BindInStage(parent, backlog, b, syscall);
}

void DropTemporaryName(int parent, Bound* b, const struct stat& ours) {
  if (!b->tmp.empty()) {
    struct stat st;
    if (Fstatat(parent, b->tmp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == ours.st_dev && st.st_ino == ours.st_ino) {
      ::unlinkat(parent, b->tmp.c_str(), 0);
    }
  }
  if (b->stage.dir) {
    ::unlinkat(b->stage.dir.get(), "s", 0);
    RemoveDirIfSame(parent, b->stage.name, b->stage.id);
  }
}

}  // namespace plugsock::claim

#endif  // __linux__
