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
//
// Files: claim.cc (claimCreate, claimRelease), claim_bind.cc (the private bind), sock_diag.cc
// (which file a socket is bound to), claim_stage.cc (names, stages, probes), claim_sweep.cc
// (leftovers of dead claims), dir_fd.cc (the directory-fd exports); claim.h joins them.
#ifdef __linux__
#include "claim.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "modules.h"

namespace plugsock::claim {
namespace {

constexpr int kFlagSweep = 1;   // first clear staging directories that crashed claims left
constexpr int kFlagNoLock = 2;  // the directory lock was contended for too long: go on without
constexpr int kFlagStage = 4;   // bind in a private stage even where sock_diag works (tests)
constexpr int kPublishAttempts = 16;  // bounded: a path flapping between others ends in 'racing'

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

struct Request {
  int parent = -1;
  std::string name;
  int mode = 0;
  int backlog = 0;
  int gid = -1;
  int flags = 0;
};

bool ArgRequest(const Napi::CallbackInfo& info, Request* r) {
  return ArgFd(info, "dirFd", &r->parent) && ArgName(info, 1, &r->name) &&
         ArgInt(info, 2, "mode", 0, 0777, &r->mode) &&
         ArgInt(info, 3, "backlog", 1, 2147483647.0, &r->backlog) &&
         ArgInt(info, 4, "gid", -1, 2147483647.0, &r->gid) &&
         ArgInt(info, 5, "flags", 0, 7, &r->flags);
}

// One claim in progress. Whatever the outcome, the destructor lets go of the directory lock,
// removes the socket's temporary name (or stage) and the grave stage unless a displaced socket
// is kept in it.
struct Claim {
  explicit Claim(const Request& request) : r(request) { std::memset(&ours, 0, sizeof ours); }
  ~Claim() {
    if (locked) ::flock(r.parent, LOCK_UN);
    if (bound.file) DropTemporaryName(r.parent, &bound, ours);
    if (grave.dir && !keep_grave) RemoveDirIfSame(r.parent, grave.name, grave.id);
  }
  const Request& r;
  Bound bound;
  struct stat ours;  // the bound file
  Stage grave;       // made only to bury a dead socket
  bool keep_grave = false;
  bool locked = false;
};

// The name is taken by a dead socket: moved into a private stage and deleted there only if it is
// still what was probed. An empty value: try the link again.
Napi::Value BuryDead(Napi::Env env, Claim* c, const struct stat& est) {
  if (!c->grave.dir) {
    if (int e = MakeStage(c->r.parent, &c->grave)) {
      if (e == EAGAIN) return Status(env, "racing");
      return ThrowErrno(env, e, "mkdirat", c->r.name);
    }
  }
  bool kept = false;
  errno = 0;
  if (!BuryIfSame(c->r.parent, c->r.name.c_str(), &c->grave, {est.st_dev, est.st_ino}, &kept) &&
      (errno == EPERM || errno == EACCES)) {
    return Status(env, "denied");  // e.g. another user's dead socket in a sticky directory
  }
  if (kept) {
    c->keep_grave = true;
    Napi::Object o = Status(env, "displaced");
    o.Set("stage", Napi::String::New(env, c->grave.name));
    return o;
  }
  return Napi::Value();
}

// The name is taken: probes what is there. An empty value: try the link again.
Napi::Value Taken(Napi::Env env, Claim* c) {
  struct stat est;
  int err = 0;
  switch (ProbeAt(c->r.parent, c->r.name.c_str(), &est, &err)) {
    case Probe::kMissing: return Napi::Value();
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
      return ThrowErrno(env, err, "connect", c->r.name);
    case Probe::kDead: return BuryDead(env, c, est);
  }
  return Napi::Value();
}

// Links the bound file (`file`, its /proc path) at the name, clearing a dead socket from it.
Napi::Value Publish(Napi::Env env, Claim* c, const std::string& file) {
  const Request& r = c->r;
  for (int attempt = 0; attempt < kPublishAttempts; attempt++) {
    // link(2) never replaces: the name is either ours now or someone else's, untouched.
    if (::linkat(AT_FDCWD, file.c_str(), r.parent, r.name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      Napi::Object ok = Status(env, "ok");
      ok.Set("fd", Napi::Number::New(env, c->bound.sock.release()));
      ok.Set("dev", Napi::BigInt::New(env, static_cast<uint64_t>(c->ours.st_dev)));
      ok.Set("ino", Napi::BigInt::New(env, static_cast<uint64_t>(c->ours.st_ino)));
      return ok;
    }
    if (errno != EEXIST) return ThrowErrno(env, errno, "linkat", r.name);
    if (!c->locked && !(r.flags & kFlagNoLock)) {
      // Removing a dead socket is serialised between plugsock processes, so two of them never
      // move each other's fresh socket aside (a moment in which clients would see no file).
      if (::flock(r.parent, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return Status(env, "contended");
        return ThrowErrno(env, errno, "flock", r.name);
      }
      c->locked = true;
      continue;
    }
    Napi::Value verdict = Taken(env, c);
    if (!verdict.IsEmpty()) return verdict;
  }
  return Status(env, "racing");
}

// claimCreate(dirFd, name, mode, backlog, gid, flags) -> { status, ... }
//   'ok' { fd, dev, ino }  the listening fd, bound privately, moded, chgrp-ed, then linked at
//                          dirFd/name; (dev, ino) identify the published file
//   'exists' { kind }      something that is not a socket is at the name (left alone)
//   'live' | 'busy' | 'wrongtype' | 'denied'   a socket that is (or may be) in use (left alone)
//   'insecure'             the directory is world-writable without the sticky bit
//   'contended'            another claim holds the directory's lock: retry, or pass kFlagNoLock
//   'racing'               names kept changing under the claim (kPublishAttempts rounds)
//   'displaced' { stage }  a socket moved aside in a three-way race was kept in `stage`
// Throws the errno error of any system call that failed otherwise.
Napi::Value ClaimCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Request r;
  if (!ArgRequest(info, &r)) return env.Undefined();
  struct stat pst;
  if (Fstat(r.parent, &pst) != 0) return ThrowErrno(env, errno, "fstat");
  if (!S_ISDIR(pst.st_mode)) return ThrowErrno(env, ENOTDIR, "fstat");
  if ((pst.st_mode & S_IWOTH) != 0 && (pst.st_mode & S_ISVTX) == 0) return Status(env, "insecure");
  if (r.flags & kFlagSweep) Sweep(r.parent);

  Claim c(r);
  const char* syscall = "bind";
  if (int err = BindPrivately(r.parent, r.mode, r.backlog, r.gid >= 0, (r.flags & kFlagStage) != 0,
                              &c.bound, &syscall)) {
    if (err == EAGAIN) return Status(env, "racing");
    return ThrowErrno(env, err, syscall, r.name);
  }
  if (Fstat(c.bound.file.get(), &c.ours) != 0) return ThrowErrno(env, errno, "fstat", r.name);
  // Group, then the exact mode (bind subtracted the umask), on exactly our file.
  std::string file = ProcPath(c.bound.file.get());
  if (r.gid >= 0 && ::fchownat(c.bound.file.get(), "", static_cast<uid_t>(-1),
                               static_cast<gid_t>(r.gid), AT_EMPTY_PATH) != 0) {
    return ThrowErrno(env, errno, "fchownat", r.name);
  }
  if ((c.ours.st_mode & 07777) != static_cast<mode_t>(r.mode) &&
      ::fchmodat(AT_FDCWD, file.c_str(), static_cast<mode_t>(r.mode), 0) != 0) {
    return ThrowErrno(env, errno, "fchmodat", r.name);
  }
  return Publish(env, &c, file);
}

// claimRelease(dirFd, name, dev, ino) -> boolean: removes dirFd/name if it is still the socket
// (dev, ino); true when it did.
Napi::Value ClaimRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int parent = -1;
  std::string name;
  Identity id;
  if (!ArgFd(info, "dirFd", &parent) || !ArgName(info, 1, &name) || !ArgIdentity(info, 2, &id)) {
    return env.Undefined();
  }
  struct stat st;
  if (Fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISSOCK(st.st_mode) ||
      !id.Same(st)) {
    return Napi::Boolean::New(env, false);
  }
  return Napi::Boolean::New(env, ::unlinkat(parent, name.c_str(), 0) == 0);
}

}  // namespace
}  // namespace plugsock::claim

namespace plugsock {

void InitClaim(Napi::Env env, Napi::Object exports) {
  exports.Set("claimCreate", Napi::Function::New(env, claim::ClaimCreate, "claimCreate"));
  exports.Set("claimRelease", Napi::Function::New(env, claim::ClaimRelease, "claimRelease"));
}

}  // namespace plugsock

#else  // !__linux__

#include "modules.h"
namespace plugsock {
void InitClaim(Napi::Env, Napi::Object) {}
}  // namespace plugsock

#endif
