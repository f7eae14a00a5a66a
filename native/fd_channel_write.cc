// FdChannel's write (fd_channel.h): the JS arguments become one sendmsg (scm_rights.cc).
#include <sys/types.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>

#include "errors.h"
#include "fd_channel.h"
#include "scm_rights.h"

namespace plugsock {
namespace {

constexpr size_t kMaxIov = 1024;  // IOV_MAX on Linux and macOS

// write()'s data: a Uint8Array or an array of them, as iovecs (empty ones skipped). Returns
// false with a TypeError pending.
bool ArgBuffers(Napi::Env env, Napi::Value data, iovec* iov, size_t* niov, size_t* total) {
  auto add = [&](const Napi::Value& v) -> bool {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      return false;
    }
    auto arr = v.As<Napi::Uint8Array>();
    if (arr.ByteLength() == 0) return true;
    iov[*niov].iov_base = arr.Data();
    iov[*niov].iov_len = arr.ByteLength();
    *total += arr.ByteLength();
    (*niov)++;
    return true;
  };
  const char* error = nullptr;
  if (data.IsArray()) {
    Napi::Array list = data.As<Napi::Array>();
    if (list.Length() > kMaxIov) {
      error = "write: at most 1024 buffers";
    } else {
      for (uint32_t i = 0; i < list.Length() && error == nullptr; i++) {
        if (!add(list.Get(i))) error = "write: buffers must be Uint8Arrays";
      }
    }
  } else if (!add(data)) {
    error = "write: data must be a Uint8Array or an array of them";
  }
  if (error != nullptr) ThrowTypeError(env, error);
  return error == nullptr;
}

// write()'s fds: absent, or an array of at most kMaxFds integer fds, which need data to travel
// with. Returns false with an error pending.
bool ArgFds(const Napi::CallbackInfo& info, size_t total, int* fds, size_t* nfds) {
  Napi::Env env = info.Env();
  *nfds = 0;
  if (info.Length() <= 1 || info[1].IsUndefined() || info[1].IsNull()) return true;
  if (!info[1].IsArray()) {
    ThrowTypeError(env, "write: fds must be an array");
    return false;
  }
  Napi::Array list = info[1].As<Napi::Array>();
  uint32_t n = list.Length();
  if (n > static_cast<uint32_t>(kMaxFds)) {
    ThrowErrno(env, EINVAL, "sendmsg");
    return false;
  }
  if (n == 0) return true;
  // Zero bytes on a stream socket carry no fds: the kernel would drop them silently.
  if (total == 0) {
    ThrowTypeError(env, "write: fds need at least one byte of data");
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsNumber()) {
      ThrowTypeError(env, "write: fds must be integers");
      return false;
    }
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 2147483647.0) || d != static_cast<int>(d)) {
      ThrowErrno(env, EBADF, "sendmsg");
      return false;
    }
    fds[i] = static_cast<int>(d);
  }
  *nfds = n;
  return true;
}

}  // namespace

// write(data: Uint8Array | Uint8Array[], fds?: number[]): number
// One sendmsg. Returns bytes sent, or -1 when the socket is full (EAGAIN: nothing was sent,
// fds included). After a partial send the fds have gone with the first byte.
Napi::Value FdChannel::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!fd_) return ThrowErrno(env, EBADF, "sendmsg");
  iovec iov[kMaxIov];
  size_t niov = 0;
  size_t total = 0;
  int fds[kMaxFds];
  size_t nfds = 0;
  if (!ArgBuffers(env, info[0], iov, &niov, &total) || !ArgFds(info, total, fds, &nfds)) {
    return env.Undefined();
  }
  ssize_t n = SendWithFds(fd_.get(), iov, niov, fds, nfds);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    return ThrowErrno(env, errno, "sendmsg");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

}  // namespace plugsock
