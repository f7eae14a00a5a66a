// The system calls of the claim protocol (src/claim/): how a listening socket gets its name.
//
// Invariant: everything here creates, chmods, chowns, links, renames and unlinks only objects
// this process created itself, reached through directory fds it holds, never by following a
// name that another user could change between two system calls. A swapped ancestor, or a
// symlink put where a name was, changes nothing: the calls land in the directory the fd names,
// and no call here follows a symlink in its last component.
//
// How a socket is made without a private directory (mkdir+rmdir alone cost twice a whole
// listen+close of plain net): it is bound under a fresh random name `.ps-<pid>-XXXXXX` in the
// directory, the kernel's socket table (sock_diag) says which file it is bound to, and that file
// is then opened O_PATH and compared, so mode, group and link(2) act on exactly our inode. Where
// sock_diag is missing, it is bound inside a private stage directory instead.
//
// Two name-based unlinkat() calls remain, each right after a (dev, ino) check through the
// directory fd: removing our temporary name, and removing the published name on release. If
// someone swaps another entry into that instant, they had write access to the directory and
// could have removed that entry themselves (a sticky directory forbids both), so the swap gains
// them nothing; the kernel never follows a symlink in unlinkat's last component.
//
// Linux only (it binds and probes through /proc/self/fd); elsewhere the TypeScript path
// protocol runs and refuses directories other users can rename entries in.
#ifdef __linux__
#include <dirent.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "modules.h"
#include "sockaddr.h"

namespace plugsock {
namespace {

// glibc >= 2.33 exports fstat/fstatat as symbols of their own, which the prebuilds must not
// need (they load on glibc 2.28); the system call is the same on x86-64 and aarch64.
int Fstatat(int dir, const char* name, struct stat* st, int flags) {
  return static_cast<int>(::syscall(SYS_newfstatat, dir, name, st, flags));
}
int Fstat(int fd, struct stat* st) { return Fstatat(fd, "", st, AT_EMPTY_PATH); }

constexpr int kFlagSweep = 1;   // first clear staging directories that crashed claims left
constexpr int kFlagNoLock = 2;  // the directory lock was contended for too long: go on without
constexpr int kFlagStage = 4;   // bind in a private stage even where sock_diag works (tests)
constexpr int kPublishAttempts = 16;  // bounded: a path flapping between others ends in 'racing'
constexpr int kSweepMax = 32;         // staging look-alikes examined per claim

struct Identity {
  dev_t dev = 0;
  ino_t ino = 0;
  bool Same(const struct stat& st) const { return st.st_dev == dev && st.st_ino == ino; }
};

// /proc/self/fd/<fd>[/name]: a short address that reaches exactly what the fd holds.
std::string ProcPath(int fd, const char* name = nullptr) {
  std::string p = "/proc/self/fd/" + std::to_string(fd);
  if (name != nullptr) p += std::string("/") + name;
  return p;
}

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

// A private directory `.ps-<pid>-XXXXXX` in the parent, and the fd that names it from now on.
struct Stage {
  Fd dir;
  std::string name;
  Identity id;
};

// Returns 0 or an errno. What it opens must be a directory of ours, empty and private: a name
// that someone else swapped between mkdirat and openat fails with EEXIST-like EAGAIN.
int MakeStage(int parent, Stage* stage) {
  const uid_t me = ::geteuid();
  for (int attempt = 0; attempt < 8; attempt++) {
    char suffix[7];
    RandomSuffix(suffix);
    std::string name = ".ps-" + std::to_string(::getpid()) + "-" + suffix;
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

// Removes `name` from `parent` if it is still the (empty) directory `id`.
bool RemoveDirIfSame(int parent, const std::string& name, const Identity& id) {
  struct stat st;
  if (Fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !id.Same(st)) return false;
  return ::unlinkat(parent, name.c_str(), AT_REMOVEDIR) == 0;
}

enum class Probe { kLive, kBusy, kDead, kDenied, kWrongType, kMissing, kNotSocket };

// What is at dir/name, probed through an O_PATH fd so the connect reaches exactly the inode
// that was examined. *st receives its lstat.
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
  switch (errno) {
    case ECONNREFUSED: return Probe::kDead;
    case EAGAIN: case EINPROGRESS: return Probe::kBusy;
    case EPROTOTYPE: return Probe::kWrongType;  // a live datagram or seqpacket socket
    case ENOENT: return Probe::kMissing;
    default:
      *err = errno;
      return Probe::kDenied;
  }
}

int RenameNoReplace(int from_dir, const char* from, int to_dir, const char* to) {
  return static_cast<int>(::syscall(SYS_renameat2, from_dir, from, to_dir, to, 1 /* RENAME_NOREPLACE */));
}

// Moves dir/name into `stage` as `grave` and deletes it there, if it is still the socket `id`.
// Anything else that was moved is put back (never replacing); if its name was taken meanwhile
// it stays in the stage and *kept is set. Returns true when removed.
bool BuryIfSame(int dir, const char* name, Stage* stage, const Identity& id, bool* kept) {
  *kept = false;
  if (::renameat(dir, name, stage->dir.get(), "dead") != 0) return false;  // errno says why
  struct stat st;
  if (Fstatat(stage->dir.get(), "dead", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) && id.Same(st)) {
    return ::unlinkat(stage->dir.get(), "dead", 0) == 0;
  }
  if (RenameNoReplace(stage->dir.get(), "dead", dir, name) != 0) *kept = true;
  return false;
}

// What claims that died half-way left: temporary socket names and stage directories. Only exact
// look-alikes of ours (name, owner; a dead socket, or a 0700 directory holding nothing but dead
// sockets named s/dead) whose creator is gone.
void SweepOne(int parent, const std::string& name, pid_t creator) {
  // A live creator's entry belongs to a claim in progress: never probe it.
  if (::kill(creator, 0) == 0 || errno != ESRCH) return;
  struct stat st;
  if (Fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_uid != ::geteuid()) return;
  if (S_ISSOCK(st.st_mode)) {
    // A temporary socket name (the creator died between bind and publish).
    int err;
    if (ProbeAt(parent, name.c_str(), &st, &err) != Probe::kDead) return;
    struct stat again;
    if (Fstatat(parent, name.c_str(), &again, AT_SYMLINK_NOFOLLOW) == 0 && again.st_dev == st.st_dev && again.st_ino == st.st_ino) {
      ::unlinkat(parent, name.c_str(), 0);
    }
    return;
  }
  Fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return;
  if (Fstat(dir.get(), &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & 07777) != 0700) return;
  std::vector<std::string> entries;
  {
    int list_fd = ::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (list_fd < 0) return;
    DIR* d = ::fdopendir(list_fd);
    if (d == nullptr) {
      ::close(list_fd);
      return;
    }
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      entries.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  for (const std::string& e : entries) {
    if (e != "s" && e != "dead") return;
    struct stat est;
    int err;
    if (ProbeAt(dir.get(), e.c_str(), &est, &err) != Probe::kDead) return;
  }
  for (const std::string& e : entries) ::unlinkat(dir.get(), e.c_str(), 0);
  RemoveDirIfSame(parent, name, {st.st_dev, st.st_ino});
}

// `.ps-<pid>-XXXXXX` -> pid, or -1.
pid_t StagePid(const char* name) {
  if (std::strncmp(name, ".ps-", 4) != 0) return -1;
  const char* p = name + 4;
  long pid = 0;
  const char* digits = p;
  while (*p >= '0' && *p <= '9' && p - digits < 10) pid = pid * 10 + (*p++ - '0');
  if (p == digits || *p != '-') return -1;
  p++;
  for (int i = 0; i < 6; i++, p++) {
    bool alnum = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
    if (!alnum) return -1;
  }
  return *p == '\0' && pid > 0 && pid <= INT_MAX ? static_cast<pid_t>(pid) : -1;
}

void Sweep(int parent) {
  std::vector<std::pair<std::string, pid_t>> found;
  int list_fd = ::openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) return;
  DIR* d = ::fdopendir(list_fd);
  if (d == nullptr) {
    ::close(list_fd);
    return;
  }
  const pid_t self = ::getpid();
  while (struct dirent* e = ::readdir(d)) {
    pid_t pid = StagePid(e->d_name);
    if (pid > 0 && pid != self) found.emplace_back(e->d_name, pid);
    if (found.size() >= kSweepMax) break;
  }
  ::closedir(d);
  for (const auto& f : found) SweepOne(parent, f.first, f.second);
}

bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= NAME_MAX && name.find('/') == std::string::npos &&
         name != "." && name != "..";
}

const char* KindOf(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISDIR(mode)) return "directory";
  if (S_ISLNK(mode)) return "symlink";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "device";
  return "other";
}

Napi::Object Status(Napi::Env env, const char* status) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", Napi::String::New(env, status));
  return o;
}

bool ArgIdentity(const Napi::CallbackInfo& info, size_t i, Identity* id) {
  bool lossless = true;
  if (info.Length() <= i + 1 || !info[i].IsBigInt() || !info[i + 1].IsBigInt()) {
    ThrowTypeError(info.Env(), "The \"dev\" and \"ino\" arguments must be bigints");
    return false;
  }
  id->dev = static_cast<dev_t>(info[i].As<Napi::BigInt>().Uint64Value(&lossless));
  id->ino = static_cast<ino_t>(info[i + 1].As<Napi::BigInt>().Uint64Value(&lossless));
  return true;
}

bool ArgName(const Napi::CallbackInfo& info, size_t i, std::string* name) {
  if (!ArgPath(info, i, "name", name)) return false;
  if (!ValidName(*name)) {
    ThrowTypeError(info.Env(), "The \"name\" argument must be one path component of at most 255 bytes");
    return false;
  }
  return true;
}

// The file `sock` is bound to, from the kernel's socket table: 0, or an errno (ENOENT when
// this kernel has no unix sock_diag). The table has the inode number's low 32 bits only.
int BoundFileOf(int sock, dev_t* dev, uint32_t* ino32) {
  struct stat st;
  if (Fstat(sock, &st) != 0) return errno;
  Fd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return errno;
  struct {
    nlmsghdr nlh;
    unix_diag_req req;
  } msg;
  std::memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.req.sdiag_family = AF_UNIX;
  msg.req.udiag_states = ~0U;
  msg.req.udiag_ino = static_cast<uint32_t>(st.st_ino);
  msg.req.udiag_show = UDIAG_SHOW_VFS;
  msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0U;  // INET_DIAG_NOCOOKIE: look up by inode
  if (::send(nl.get(), &msg, sizeof msg, 0) != static_cast<ssize_t>(sizeof msg)) return errno;
  alignas(nlmsghdr) char buf[512];
  ssize_t n = ::recv(nl.get(), buf, sizeof buf, 0);
  if (n < 0) return errno;
  auto* h = reinterpret_cast<nlmsghdr*>(buf);
  if (!NLMSG_OK(h, static_cast<size_t>(n))) return EPROTO;
  if (h->nlmsg_type == NLMSG_ERROR) {
    int err = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
    return err == 0 ? EPROTO : err;
  }
  if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return EPROTO;
  auto* m = reinterpret_cast<unix_diag_msg*>(NLMSG_DATA(h));
  int left = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
  for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    if (a->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(a) < sizeof(unix_diag_vfs)) continue;
    auto* vfs = reinterpret_cast<unix_diag_vfs*>(RTA_DATA(a));
    // The kernel's own dev_t encoding (major << 20 | minor), not stat()'s.
    *dev = makedev(vfs->udiag_vfs_dev >> 20, vfs->udiag_vfs_dev & 0xfffff);
    *ino32 = vfs->udiag_vfs_ino;
    return 0;
  }
  return ENOENT;
}

// A listening socket, bound somewhere in `parent` where only this claim will touch it, and the
// O_PATH fd of the file it is bound to. On failure: a status for JS, or an errno error.
struct Bound {
  Fd sock;
  Fd file;      // O_PATH of the socket file, checked to be ours
  std::string tmp;  // its temporary name in parent ("" when it lives in `stage`)
  Stage stage;      // only on the no-sock_diag route
};

// Removes the socket's temporary name (its published name is a second link by now).
void DropTemporaryName(int parent, Bound* b, const struct stat& ours) {
  if (!b->tmp.empty()) {
    struct stat st;
    if (Fstatat(parent, b->tmp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == ours.st_dev && st.st_ino == ours.st_ino) {
      ::unlinkat(parent, b->tmp.c_str(), 0);
    }
  }
  if (b->stage.dir) {
    ::unlinkat(b->stage.dir.get(), "s", 0);
    RemoveDirIfSame(parent, b->stage.name, b->stage.id);
  }
}

// Whether this kernel answers sock_diag for AF_UNIX: -1 not known yet, 1 yes, 0 no (then every
// claim binds in a private stage; the first one's temporary name stays until the sweep).
std::atomic<int> g_sock_diag{-1};

// A new stream socket with the mode bind() should give its file (minus the umask: never wider
// than asked, FACTS.md). With a group to give, the group bits wait until the file has it.
int NewModedSocket(int mode, bool hold_group, Bound* b, const char** syscall) {
  *syscall = "socket";
  b->sock.reset(NewStreamSocket());
  if (!b->sock) return errno;
  *syscall = "fchmod";
  if (::fchmod(b->sock.get(), static_cast<mode_t>(hold_group ? mode & 0700 : mode)) != 0) return errno;
  return 0;
}

// Binds under a fresh `.ps-<pid>-XXXXXX` in parent and listens; then asks the kernel which file
// that is and opens it. ENOSYS: no sock_diag here. EAGAIN: the name was swapped meanwhile.
int BindUnderTemporaryName(int parent, int backlog, Bound* b, const char** syscall) {
  sockaddr_un addr;
  for (int attempt = 0;; attempt++) {
    char suffix[7];
    RandomSuffix(suffix);
    b->tmp = ".ps-" + std::to_string(::getpid()) + "-" + suffix;
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
    return err == ENOENT || err == EINVAL || err == EPROTONOSUPPORT || err == EAFNOSUPPORT || err == EOPNOTSUPP ? ENOSYS : err;
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

// Binds and listens where only this claim touches the file, and opens the file O_PATH.
// Returns 0, or an errno with *syscall set; EAGAIN: raced, the caller reports it.
int BindPrivately(int parent, int mode, int backlog, bool hold_group, bool force_stage, Bound* b, const char** syscall) {
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

// claimUnix(dirFd, name, mode, backlog, gid, flags) -> { status, ... }
//   'ok' { fd, dev, ino }  the listening fd, bound privately, moded, chgrp-ed, then linked at
//                          dirFd/name; (dev, ino) identify the published file
//   'exists' { kind }      something that is not a socket is at the name (left alone)
//   'live' | 'busy' | 'wrongtype' | 'denied'   a socket that is (or may be) in use (left alone)
//   'insecure'             the directory is world-writable without the sticky bit
//   'contended'            another claim holds the directory's lock: retry, or pass kFlagNoLock
//   'racing'               names kept changing under the claim (kPublishAttempts rounds)
//   'displaced' { stage }  a socket moved aside in a three-way race was kept in `stage`
// Throws the errno error of any system call that failed otherwise.
Napi::Value ClaimUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int parent = -1, mode = 0, backlog = 0, gid = -1, flags = 0;
  std::string name;
  if (!ArgFd(info, "dirFd", &parent) || !ArgName(info, 1, &name) || !ArgInt(info, 2, "mode", 0, 0777, &mode) ||
      !ArgInt(info, 3, "backlog", 1, 2147483647.0, &backlog) || !ArgInt(info, 4, "gid", -1, 2147483647.0, &gid) ||
      !ArgInt(info, 5, "flags", 0, 7, &flags)) {
    return env.Undefined();
  }
  struct stat pst;
  if (Fstat(parent, &pst) != 0) return ThrowErrno(env, errno, "fstat");
  if (!S_ISDIR(pst.st_mode)) return ThrowErrno(env, ENOTDIR, "fstat");
  if ((pst.st_mode & S_IWOTH) != 0 && (pst.st_mode & S_ISVTX) == 0) return Status(env, "insecure");
  if (flags & kFlagSweep) Sweep(parent);

  Bound bound;
  struct stat ours;
  std::memset(&ours, 0, sizeof ours);
  bool keep_stage = false;  // a displaced socket is kept in the grave stage
  bool locked = false;
  Stage grave;  // made only to bury a dead socket
  struct Cleanup {
    int parent;
    Bound* bound;
    struct stat* ours;
    Stage* grave;
    bool* keep;
    bool* locked;
    ~Cleanup() {
      if (*locked) ::flock(parent, LOCK_UN);
      if (bound->file) DropTemporaryName(parent, bound, *ours);
      if (grave->dir && !*keep) RemoveDirIfSame(parent, grave->name, grave->id);
    }
  } cleanup{parent, &bound, &ours, &grave, &keep_stage, &locked};

  const char* syscall = "bind";
  if (int err = BindPrivately(parent, mode, backlog, gid >= 0, (flags & kFlagStage) != 0, &bound, &syscall)) {
    if (err == EAGAIN) return Status(env, "racing");
    return ThrowErrno(env, err, syscall, name);
  }
  if (Fstat(bound.file.get(), &ours) != 0) return ThrowErrno(env, errno, "fstat", name);
  // Group, then the exact mode (bind subtracted the umask), on exactly our file.
  std::string file = ProcPath(bound.file.get());
  if (gid >= 0 && ::fchownat(bound.file.get(), "", static_cast<uid_t>(-1), static_cast<gid_t>(gid), AT_EMPTY_PATH) != 0) {
    return ThrowErrno(env, errno, "fchownat", name);
  }
  if ((ours.st_mode & 07777) != static_cast<mode_t>(mode) && ::fchmodat(AT_FDCWD, file.c_str(), static_cast<mode_t>(mode), 0) != 0) {
    return ThrowErrno(env, errno, "fchmodat", name);
  }

  for (int attempt = 0; attempt < kPublishAttempts; attempt++) {
    // link(2) never replaces: the name is either ours now or someone else's, untouched.
    if (::linkat(AT_FDCWD, file.c_str(), parent, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      Napi::Object ok = Status(env, "ok");
      ok.Set("fd", Napi::Number::New(env, bound.sock.release()));
      ok.Set("dev", Napi::BigInt::New(env, static_cast<uint64_t>(ours.st_dev)));
      ok.Set("ino", Napi::BigInt::New(env, static_cast<uint64_t>(ours.st_ino)));
      return ok;
    }
    if (errno != EEXIST) return ThrowErrno(env, errno, "linkat", name);
    if (!locked && !(flags & kFlagNoLock)) {
      // Removing a dead socket is serialised between plugsock processes, so two of them never
      // move each other's fresh socket aside (a moment in which clients would see no file).
      if (::flock(parent, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return Status(env, "contended");
        return ThrowErrno(env, errno, "flock", name);
      }
      locked = true;
      continue;
    }
    struct stat est;
    int err = 0;
    switch (ProbeAt(parent, name.c_str(), &est, &err)) {
      case Probe::kMissing:
        continue;
      case Probe::kNotSocket: {
        Napi::Object o = Status(env, "exists");
        o.Set("kind", Napi::String::New(env, KindOf(est.st_mode)));
        return o;
      }
      case Probe::kLive: return Status(env, "live");
      case Probe::kBusy: return Status(env, "busy");
      case Probe::kWrongType: return Status(env, "wrongtype");
      case Probe::kDenied:
        if (err == EACCES || err == EPERM || err == 0) return Status(env, "denied");
        return ThrowErrno(env, err, "connect", name);
      case Probe::kDead: {
        // Moved into a private stage and deleted there only if it is still what was probed.
        if (!grave.dir) {
          if (int e = MakeStage(parent, &grave)) {
            if (e == EAGAIN) return Status(env, "racing");
            return ThrowErrno(env, e, "mkdirat", name);
          }
        }
        bool kept = false;
        errno = 0;
        if (!BuryIfSame(parent, name.c_str(), &grave, {est.st_dev, est.st_ino}, &kept) && (errno == EPERM || errno == EACCES)) {
          return Status(env, "denied");  // e.g. another user's dead socket in a sticky directory
        }
        if (kept) {
          keep_stage = true;
          Napi::Object o = Status(env, "displaced");
          o.Set("stage", Napi::String::New(env, grave.name));
          return o;
        }
        continue;
      }
    }
  }
  return Status(env, "racing");
}

// releaseClaim(dirFd, name, dev, ino) -> boolean: removes dirFd/name if it is still the socket
// (dev, ino); true when it did.
Napi::Value ReleaseClaim(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int parent = -1;
  std::string name;
  Identity id;
  if (!ArgFd(info, "dirFd", &parent) || !ArgName(info, 1, &name) || !ArgIdentity(info, 2, &id)) return env.Undefined();
  struct stat st;
  if (Fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK(st.st_mode) || !id.Same(st)) {
    return Napi::Boolean::New(env, false);
  }
  return Napi::Boolean::New(env, ::unlinkat(parent, name.c_str(), 0) == 0);
}

// dirOpen(path) -> fd: the directory a claim works in. Symlinks on the way are followed here,
// once (/var/run -> /run); everything after goes through the fd.
Napi::Value DirOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgPath(info, 0, "path", &path)) return env.Undefined();
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", path);
  return Napi::Number::New(env, fd);
}

// dirMake(path, mode) -> fd: a new directory of ours (EEXIST if the name is taken), with
// exactly `mode`, set through the fd.
Napi::Value DirMake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  int mode = 0;
  if (!ArgPath(info, 0, "path", &path) || !ArgInt(info, 1, "mode", 0, 0777, &mode)) return env.Undefined();
  if (::mkdir(path.c_str(), 0700) != 0) return ThrowErrno(env, errno, "mkdir", path);
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ThrowErrno(env, errno == ELOOP ? EEXIST : errno, "open", path);
  struct stat st;
  if (Fstat(fd.get(), &st) != 0) return ThrowErrno(env, errno, "fstat", path);
  if (st.st_uid != ::geteuid() || st.st_nlink != 2) return ThrowErrno(env, EEXIST, "mkdir", path);
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) return ThrowErrno(env, errno, "fchmod", path);
  return Napi::Number::New(env, fd.release());
}

// rmdirAt(parentFd, name, dirFd) -> boolean: removes parentFd/name if it is the directory that
// dirFd holds and it is empty.
Napi::Value RmdirAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int parent = -1, dir = -1;
  std::string name;
  if (!ArgFd(info, "parentFd", &parent) || !ArgName(info, 1, &name) || !ArgInt(info, 2, "dirFd", 0, 2147483647.0, &dir)) {
    return env.Undefined();
  }
  struct stat st;
  if (Fstat(dir, &st) != 0) return ThrowErrno(env, errno, "fstat");
  return Napi::Boolean::New(env, RemoveDirIfSame(parent, name, {st.st_dev, st.st_ino}));
}

// statAt(dirFd, name) -> { dev, ino, mode, uid, gid } | null: lstat relative to a directory fd.
Napi::Value StatAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dir = -1;
  std::string name;
  if (!ArgFd(info, "dirFd", &dir) || !ArgName(info, 1, &name)) return env.Undefined();
  struct stat st;
  if (Fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return env.Null();
    return ThrowErrno(env, errno, "fstatat", name);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("dev", Napi::BigInt::New(env, static_cast<uint64_t>(st.st_dev)));
  o.Set("ino", Napi::BigInt::New(env, static_cast<uint64_t>(st.st_ino)));
  o.Set("mode", Napi::Number::New(env, st.st_mode));
  o.Set("uid", Napi::Number::New(env, st.st_uid));
  o.Set("gid", Napi::Number::New(env, st.st_gid));
  return o;
}

}  // namespace

void InitClaim(Napi::Env env, Napi::Object exports) {
  exports.Set("claimUnix", Napi::Function::New(env, ClaimUnix, "claimUnix"));
  exports.Set("releaseClaim", Napi::Function::New(env, ReleaseClaim, "releaseClaim"));
  exports.Set("dirOpen", Napi::Function::New(env, DirOpen, "dirOpen"));
  exports.Set("dirMake", Napi::Function::New(env, DirMake, "dirMake"));
  exports.Set("rmdirAt", Napi::Function::New(env, RmdirAt, "rmdirAt"));
  exports.Set("statAt", Napi::Function::New(env, StatAt, "statAt"));
}

}  // namespace plugsock

#else  // !__linux__

#include "modules.h"
namespace plugsock {
void InitClaim(Napi::Env, Napi::Object) {}
}  // namespace plugsock

#endif
