// Internal to the claim (Linux only): what claim.cc, claim_bind.cc, claim_stage.cc,
// claim_sweep.cc, sock_diag.cc and dir_fd.cc share. The protocol and its invariant are described
// at the top of claim.cc and in docs/ADDON-CONTRACT.md ("The claim").
#pragma once
#ifdef __linux__
#include <fcntl.h>
#include <limits.h>
#include <napi.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "args.h"
#include "errors.h"
#include "fd.h"

namespace plugsock::claim {

// glibc >= 2.33 exports fstat/fstatat as symbols of their own, which the prebuilds must not
// need (they load on glibc 2.28); the system call is the same on x86-64 and aarch64.
inline int Fstatat(int dir, const char* name, struct stat* st, int flags) {
  return static_cast<int>(::syscall(SYS_newfstatat, dir, name, st, flags));
}
inline int Fstat(int fd, struct stat* st) { return Fstatat(fd, "", st, AT_EMPTY_PATH); }

struct Identity {
  dev_t dev = 0;
  ino_t ino = 0;
  bool Same(const struct stat& st) const { return st.st_dev == dev && st.st_ino == ino; }
};

// --- claim_stage.cc: names, private stage directories, probing and burying what is at a name.

// /proc/self/fd/<fd>[/name]: a short address that reaches exactly what the fd holds.
std::string ProcPath(int fd, const char* name = nullptr);

// `.ps-<pid>-XXXXXX`, six fresh characters of [A-Za-z0-9] (uniqueness, not secrecy).
std::string TemporaryName();

// A private directory `.ps-<pid>-XXXXXX` in the parent, and the fd that names it from now on.
struct Stage {
  Fd dir;
  std::string name;
  Identity id;
};

// Returns 0 or an errno (EAGAIN: what was opened is not the directory just made).
int MakeStage(int parent, Stage* stage);

// Removes `name` from `parent` if it is still the (empty) directory `id`.
bool RemoveDirIfSame(int parent, const std::string& name, const Identity& id);

enum class Probe { kLive, kBusy, kDead, kDenied, kWrongType, kMissing, kNotSocket };

// What is at dir/name, probed through an O_PATH fd so the connect reaches exactly the inode
// that was examined. *st receives its lstat; *err the errno behind kDenied (or 0).
Probe ProbeAt(int dir, const char* name, struct stat* st, int* err);

// Moves dir/name into `stage` and deletes it there, if it is still the socket `id`. Anything
// else that was moved is put back (never replacing); if its name was taken meanwhile it stays
// in the stage and *kept is set. Returns true when removed; false with errno otherwise.
bool BuryIfSame(int dir, const char* name, Stage* stage, const Identity& id, bool* kept);

// --- claim_sweep.cc

// Removes what claims that died half-way left in `parent` (see claim_sweep.cc).
void Sweep(int parent);

// --- sock_diag.cc

// The file `sock` is bound to, from the kernel's socket table: 0, or an errno (ENOENT when
// this kernel has no unix sock_diag). The table has the inode number's low 32 bits only.
int BoundFileOf(int sock, dev_t* dev, uint32_t* ino32);

// --- claim_bind.cc

// A listening socket, bound somewhere in `parent` where only this claim will touch it, and the
// O_PATH fd of the file it is bound to.
struct Bound {
  Fd sock;
  Fd file;          // O_PATH of the socket file, checked to be ours
  std::string tmp;  // its temporary name in parent ("" when it lives in `stage`)
  Stage stage;      // only on the no-sock_diag route
};

// Binds and listens where only this claim touches the file, and opens the file O_PATH.
// Returns 0, or an errno with *syscall set; EAGAIN: raced, the caller reports it.
int BindPrivately(int parent, int mode, int backlog, bool hold_group, bool force_stage, Bound* b,
                  const char** syscall);

// Removes the socket's temporary name (its published name is a second link by now).
void DropTemporaryName(int parent, Bound* b, const struct stat& ours);

// --- Arguments shared by the claim's exports (claim.cc, dir_fd.cc).

inline bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= NAME_MAX && name.find('/') == std::string::npos &&
         name != "." && name != "..";
}

inline bool ArgName(const Napi::CallbackInfo& info, size_t i, std::string* name) {
  if (!ArgPath(info, i, "name", name)) return false;
  if (!ValidName(*name)) {
    ThrowTypeError(info.Env(),
                   "The \"name\" argument must be one path component of at most 255 bytes");
    return false;
  }
  return true;
}

inline bool ArgIdentity(const Napi::CallbackInfo& info, size_t i, Identity* id) {
  bool lossless = true;
  if (info.Length() <= i + 1 || !info[i].IsBigInt() || !info[i + 1].IsBigInt()) {
    ThrowTypeError(info.Env(), "The \"dev\" and \"ino\" arguments must be bigints");
    return false;
  }
  id->dev = static_cast<dev_t>(info[i].As<Napi::BigInt>().Uint64Value(&lossless));
  id->ino = static_cast<ino_t>(info[i + 1].As<Napi::BigInt>().Uint64Value(&lossless));
  return true;
}

}  // namespace plugsock::claim

#endif  // __linux__
