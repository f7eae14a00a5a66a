// The claim's helpers (claim.h): temporary names, private stage directories, probing what is at
// a name through an O_PATH fd, and burying a dead socket only if it is still the one probed.
#ifdef __linux__
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "claim.h"
#include "sockaddr.h"

namespace plugsock::claim {
namespace {

// Six characters of [A-Za-z0-9]: uniqueness, not secrecy (MakeStage checks what it opened).
void RandomSuffix(char out[7]) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[6];
  // The raw syscall: glibc's getrandom() wrapper is newer than the prebuild's glibc floor.
  if (::syscall(SYS_getrandom, bytes, sizeof bytes, 0) != static_cast<long>(sizeof bytes)) {
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long x = static_cast<unsigned long long>(ts.tv_nsec) * 6364136223846793005ULL +
                           static_cast<unsigned long long>(::getpid());
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(x >>= 7);
  }
  for (int i = 0; i < 6; i++) out[i] = kAlphabet[bytes[i] % 62];
  out[6] = '\0';
}

int RenameNoReplace(int from_dir, const char* from, int to_dir, const char* to) {
  return static_cast<int>(
      ::syscall(SYS_renameat2, from_dir, from, to_dir, to, 1 /* RENAME_NOREPLACE */));
}

}  // namespace

std::string ProcPath(int fd, const char* name) {
  std::string p = "/proc/self/fd/" + std::to_string(fd);
  if (name != nullptr) p += std::string("/") + name;
  return p;
}

std::string TemporaryName() {
  char suffix[7];
  RandomSuffix(suffix);
  return ".ps-" + std::to_string(::getpid()) + "-" + suffix;
}

// What it opens must be a directory of ours, empty and private: a name that someone else
// swapped between mkdirat and openat fails with EAGAIN.
int MakeStage(int parent, Stage* stage) {
  const uid_t me = ::geteuid();
  for (int attempt = 0; attempt < 8; attempt++) {
    std::string name = TemporaryName();
    if (::mkdirat(parent, name.c_str(), 0700) != 0) {
      if (errno == EEXIST) continue;
      return errno;
    }
    Fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return errno == ELOOP || errno == ENOTDIR ? EAGAIN : errno;
    struct stat st;
    if (Fstat(dir.get(), &st) != 0) return errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != me || st.st_nlink != 2 || (st.st_mode & 077) != 0) {
      return EAGAIN;  // not the directory we made: leave it, it is not ours
    }
    stage->dir = std::move(dir);
    stage->name = std::move(name);
    stage->id = {st.st_dev, st.st_ino};
    return 0;
  }
  return EEXIST;
}

bool RemoveDirIfSame(int parent, const std::string& name, const Identity& id) {
  struct stat st;
  if (Fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !id.Same(st)) return false;
  return ::unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0;
}

Probe ProbeAt(int dir, const char* name, struct stat* st, int* err) {
  *err = 0;
  Fd file(::openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!file) {
    if (errno == ENOENT) return Probe::kMissing;
    *err = errno;
    return Probe::kDenied;
  }
  if (Fstat(file.get(), st) != 0) {
    *err = errno;
    return Probe::kDenied;
  }
  if (!S_ISSOCK(st->st_mode)) return Probe::kNotSocket;
  Fd sock(NewStreamSocket());
  if (!sock) {
    *err = errno;
    return Probe::kDenied;
  }
  sockaddr_un addr;
  socklen_t len = MakeAddr(ProcPath(file.get()), &addr);
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) return Probe::kLive;
  int e = errno;
  switch (e) {
    case ECONNREFUSED: return Probe::kDead;
    case EAGAIN:
    case EINPROGRESS: return Probe::kBusy;
    case EPROTOTYPE: return Probe::kWrongType;  // a live datagram or seqpacket socket
    case ENOENT: return Probe::kMissing;
  }
  *err = e;
  return Probe::kDenied;
}

bool BuryIfSame(int dir, const char* name, Stage* stage, const Identity& id, bool* kept) {
  *kept = false;
  if (::renameat(dir, name, stage->dir.get(), "dead") != 0) return false;  // errno says why
  struct stat st;
  if (Fstatat(stage->dir.get(), "dead", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
      id.Same(st)) {
    return ::unlinkat(stage->dir.get(), "dead", 0) == 0;
  }
  if (RenameNoReplace(stage->dir.get(), "dead", dir, name) != 0) *kept = true;
  return false;
}

}  // namespace plugsock::claim

#endif  // __linux__
