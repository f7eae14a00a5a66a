// RAII owner of a file descriptor: every fd the addon opens lives in one of these until it is
// either closed or handed to JavaScript with release().
#pragma once
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include <utility>

namespace plugsock {

// close(2) without glibc's cancellation-point wrapper, which brackets the call with two atomic
// updates of the thread's cancellation state (~5% of the user time of a receiver that closes
// one fd per message). Nothing here is ever cancelled; libuv closes fds this way too.
inline int CloseFd(int fd) {
#ifdef __linux__
  return static_cast<int>(::syscall(SYS_close, fd));
#else
  return ::close(fd);
#endif
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership, e.g. when the fd becomes a net.Server/net.Socket in JS.
  int release() { return std::exchange(fd_, -1); }

  void reset(int fd = -1) {
    if (fd_ >= 0) {
      // close() may fail with EINTR; on Linux the fd is released regardless, so never retry.
      CloseFd(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace plugsock
