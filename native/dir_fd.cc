// The directory-fd exports the claim's TypeScript side works with (docs/ADDON-CONTRACT.md):
// dirOpen, dirMake, dirRemoveAt, dirStatAt, dirScan. Linux only, like the claim.
#ifdef __linux__
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
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

// dirScan(path, prefix, maxScanned) -> string[]: the names among the directory's first
// maxScanned entries that start with `prefix` and are directories, or of a type readdir does not
// know (d_type is not every filesystem's). The generated-path sweep reads a whole temp dir with
// it: in C a name costs a compare, where a Dirent per name made reading /tmp cost milliseconds
// of a plugin's start.
struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

Napi::Value DirScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, prefix;
  int max_scanned = 0;
  if (!ArgPath(info, 0, "path", &path) || !ArgName(info, 1, &prefix) ||
      !ArgInt(info, 2, "maxScanned", 0, 1 << 24, &max_scanned)) {
    return env.Undefined();
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ThrowErrno(env, errno, "open", path);
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd.get()));
  if (!dir) return ThrowErrno(env, errno, "fdopendir", path);
  fd.release();  // the DIR owns it now
  Napi::Array names = Napi::Array::New(env);
  uint32_t found = 0;
  for (int scanned = 0; scanned < max_scanned; scanned++) {
    errno = 0;
    const dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) return ThrowErrno(env, errno, "readdir", path);
      break;
    }
    if (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN) continue;
    if (std::strncmp(entry->d_name, prefix.c_str(), prefix.size()) != 0) continue;
    names.Set(found++, Napi::String::New(env, entry->d_name));
  }
  return names;
}

}  // namespace
}  // namespace plugsock::claim

namespace plugsock {

void InitDirFd(Napi::Env env, Napi::Object exports) {
  exports.Set("dirOpen", Napi::Function::New(env, claim::DirOpen, "dirOpen"));
  exports.Set("dirMake", Napi::Function::New(env, claim::DirMake, "dirMake"));
  exports.Set("dirRemoveAt", Napi::Function::New(env, claim::DirRemoveAt, "dirRemoveAt"));
  exports.Set("dirStatAt", Napi::Function::New(env, claim::DirStatAt, "dirStatAt"));
  exports.Set("dirScan", Napi::Function::New(env, claim::DirScan, "dirScan"));
}

}  // namespace plugsock

#else  // !__linux__

#include "modules.h"
namespace plugsock {
void InitDirFd(Napi::Env, Napi::Object) {}
}  // namespace plugsock

#endif
