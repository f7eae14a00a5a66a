// The sweep (claimCreate flag 1): what claims that died half-way left in a directory, temporary
// socket names and stage directories. Only exact look-alikes of ours (name, owner; a dead
// socket, or a 0700 directory holding nothing but dead sockets named s/dead) whose creator is
// gone are removed; everything else is left alone.
#ifdef __linux__
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "claim.h"

namespace plugsock::claim {
namespace {

constexpr int kSweepMax = 32;  // staging look-alikes examined per claim

// The names in the directory `dir` holds, without . and .. (false if it cannot be listed).
bool ListDir(int dir, std::vector<std::string>* entries) {
  int list_fd = ::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) return false;
  DIR* d = ::fdopendir(list_fd);
  if (d == nullptr) {
    ::close(list_fd);
    return false;
  }
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    entries->emplace_back(e->d_name);
  }
  ::closedir(d);
  return true;
}

void SweepOne(int parent, const std::string& name, pid_t creator) {
  // A live creator's entry belongs to a claim in progress: never probe it.
  if (::kill(creator, 0) == 0 || errno != ESRCH) return;
  struct stat st;
  if (Fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || st.st_uid != ::geteuid()) {
    return;
  }
  if (S_ISSOCK(st.st_mode)) {
    // A temporary socket name (the creator died between bind and publish).
    int err;
    if (ProbeAt(parent, name.c_str(), &st, &err) != Probe::kDead) return;
    struct stat again;
    if (Fstatat(parent, name.c_str(), &again, AT_SYMLINK_NOFOLLOW) == 0 &&
        again.st_dev == st.st_dev && again.st_ino == st.st_ino) {
      ::unlinkat(parent, name.c_str(), 0);
    }
    return;
  }
  Fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return;
  if (Fstat(dir.get(), &st) != 0 || st.st_uid != ::geteuid() || (st.st_mode & 07777) != 0700) {
    return;
  }
  std::vector<std::string> entries;
  if (!ListDir(dir.get(), &entries)) return;
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

}  // namespace

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

}  // namespace plugsock::claim

#endif  // __linux__
