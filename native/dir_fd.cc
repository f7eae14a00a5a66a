// The directory-fd exports the claim's TypeScript side works with (docs/ADDON-CONTRACT.md):
// dirOpen, dirMake, dirRemoveAt, dirStatAt. Linux only, like the claim.
#ifdef __linux__
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "claim.h"
#include "modules.h"

namespace plugsock::claim {
namespace {

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
  if (!ArgPath(info, 0, "path", &path) || !ArgInt(info, 1, "mode", 0, 0777, &mode)) {
    return env.Undefined();
  }
  if (::mkdir(path.c_str(), 0700) != 0) return ThrowErrno(env, errno, "mkdir", path);
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ThrowErrno(env, errno == ELOOP ? EEXIST : errno, "open", path);
  struct stat st;
  if (Fstat(fd.get(), &st) != 0) return ThrowErrno(env, errno, "fstat", path);
  if (st.st_uid != ::geteuid() || st.st_nlink != 2) return ThrowErrno(env, EEXIST, "mkdir", path);
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
    return ThrowErrno(env, errno, "fchmod", path);
  }
  return Napi::Number::New(env, fd.release());
}

// dirRemoveAt(parentFd, name, dirFd) -> boolean: removes parentFd/name if it is the directory
// that dirFd holds and it is empty.
Napi::Value DirRemoveAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int parent = -1, dir = -1;
  std::string name;
  if (!ArgFd(info, "parentFd", &parent) || !ArgName(info, 1, &name) ||
      !ArgInt(info, 2, "dirFd", 0, 2147483647.0, &dir)) {
    return env.Undefined();
  }
  struct stat st;
  if (Fstat(dir, &st) != 0) return ThrowErrno(env, errno, "fstat");
  return Napi::Boolean::New(env, RemoveDirIfSame(parent, name, {st.st_dev, st.st_ino}));
}

// dirStatAt(dirFd, name) -> { dev, ino, mode, uid, gid } | null: lstat relative to a directory
// fd.
Napi::Value DirStatAt(const Napi::CallbackInfo& info) {
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
}  // namespace plugsock::claim

namespace plugsock {

void InitDirFd(Napi::Env env, Napi::Object exports) {
  exports.Set("dirOpen", Napi::Function::New(env, claim::DirOpen, "dirOpen"));
  exports.Set("dirMake", Napi::Function::New(env, claim::DirMake, "dirMake"));
  exports.Set("dirRemoveAt", Napi::Function::New(env, claim::DirRemoveAt, "dirRemoveAt"));
  exports.Set("dirStatAt", Napi::Function::New(env, claim::DirStatAt, "dirStatAt"));
}

}  // namespace plugsock

#else  // !__linux__

#include "modules.h"
namespace plugsock {
void InitDirFd(Napi::Env, Napi::Object) {}
}  // namespace plugsock

#endif
