// FdChannel's write (fd_channel.h): the JS arguments become one sendmsg (scm_rights.cc); the
// channel is found by id in the environment's ChannelTable (fd_channel.h), kept here.
#include <sys/types.h>
#include <sys/uio.h>

#include <cerrno>
#include <cmath>
#include <cstdint>

#include "errors.h"
#include "fd_channel.h"
#include "scm_rights.h"

namespace plugsock {
namespace {

constexpr size_t kMaxIov = 1024;  // IOV_MAX on Linux and macOS
constexpr int kSlotBits = 22;     // an id is generation << kSlotBits | slot, below 2^52
constexpr uint64_t kSlots = uint64_t{1} << kSlotBits;

// One Uint8Array as an iovec (an empty one is skipped). False when `v` is not a Uint8Array.
bool AddBuffer(napi_env env, napi_value v, iovec* iov, size_t* niov, size_t* total) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  // One call answers both "is it a Uint8Array" and where its bytes are (byte offset applied).
  if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    return false;
  }
  if (length == 0) return true;
  iov[*niov].iov_base = data;
  iov[*niov].iov_len = length;
  *total += length;
  (*niov)++;
  return true;
}

// write()'s data: a Uint8Array or an array of them, as iovecs (empty ones skipped). Returns
// false with a TypeError pending.
bool ArgBuffers(Napi::Env env, napi_value data, iovec* iov, size_t* niov, size_t* total) {
  if (AddBuffer(env, data, iov, niov, total)) return true;
  bool is_array = false;
  uint32_t n = 0;
  const char* error = "write: data must be a Uint8Array or an array of them";
  if (napi_is_array(env, data, &is_array) == napi_ok && is_array &&
      napi_get_array_length(env, data, &n) == napi_ok) {
    error = n > kMaxIov ? "write: at most 1024 buffers" : nullptr;
    for (uint32_t i = 0; i < n && error == nullptr; i++) {
      napi_value v;
      if (napi_get_element(env, data, i, &v) != napi_ok || !AddBuffer(env, v, iov, niov, total)) {
        error = "write: buffers must be Uint8Arrays";
      }
    }
  }
  if (error != nullptr && !env.IsExceptionPending()) ThrowTypeError(env, error);
  return error == nullptr;
}

// write()'s fds: the arguments from `first` on, at most kMaxFds integer fds, which need data to
// travel with. Separate arguments rather than an array: reading an array's elements through
// N-API cost more than the sendmsg. Returns false with an error pending.
bool ArgFds(const Napi::CallbackInfo& info, size_t first, size_t total, int* fds, size_t* nfds) {
  Napi::Env env = info.Env();
  *nfds = 0;
  size_t n = info.Length() > first ? info.Length() - first : 0;
  if (n > static_cast<size_t>(kMaxFds)) {
    ThrowErrno(env, EINVAL, "sendmsg");
    return false;
  }
  if (n == 0) return true;
  // Zero bytes on a stream socket carry no fds: the kernel would drop them silently.
  if (total == 0) {
    ThrowTypeError(env, "write: fds need at least one byte of data");
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    double d;
    if (napi_get_value_double(env, info[first + i], &d) != napi_ok) {
      ThrowTypeError(env, "write: fds must be integers");
      return false;
    }
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

double ChannelTable::Add(FdChannel* channel) {
  uint32_t slot;
  if (!free_slots.empty()) {
    slot = free_slots.back();
    free_slots.pop_back();
  } else if (slots.size() < kSlots) {
    slot = static_cast<uint32_t>(slots.size());
    slots.emplace_back();
  } else {
    return -1;  // 4 million channels at once
  }
  Slot& s = slots[slot];
  s.channel = channel;
  s.generation = (s.generation + 1) & 0x3fffffff;
  refs++;
  return static_cast<double>((uint64_t{s.generation} << kSlotBits) | slot);
}

void ChannelTable::Remove(double id) {
  auto slot = static_cast<uint32_t>(static_cast<uint64_t>(id) & (kSlots - 1));
  slots[slot].channel = nullptr;
  free_slots.push_back(slot);
  Release();
}

FdChannel* ChannelTable::Find(napi_env env, napi_value id) const {
  double d = -1;
  if (napi_get_value_double(env, id, &d) != napi_ok || !(d >= 0 && d < 0x1p52) ||
      d != std::trunc(d)) {
    return nullptr;
  }
  auto v = static_cast<uint64_t>(d);
  uint64_t slot = v & (kSlots - 1);
  if (slot >= slots.size()) return nullptr;
  const Slot& s = slots[slot];
  return s.generation == (v >> kSlotBits) ? s.channel : nullptr;
}

// write(id: number, data: Uint8Array | Uint8Array[], ...fds: number[]): number, on the
// prototype; `id` is the channel's own (`this` is not looked at: see ChannelTable).
// One sendmsg. Returns bytes sent, or -1 when the socket is full (EAGAIN: nothing was sent,
// fds included). After a partial send the fds have gone with the first byte.
Napi::Value FdChannel::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FdChannel* self = static_cast<ChannelTable*>(info.Data())->Find(env, info[0]);
  if (self == nullptr || !self->fd_) return ThrowErrno(env, EBADF, "sendmsg");
  iovec iov[kMaxIov];
  size_t niov = 0;
  size_t total = 0;
  int fds[kMaxFds];
  size_t nfds = 0;
  if (!ArgBuffers(env, info[1], iov, &niov, &total) || !ArgFds(info, 2, total, fds, &nfds)) {
    return env.Undefined();
  }
  ssize_t n = SendWithFds(self->fd_.get(), iov, niov, fds, nfds);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
    return ThrowErrno(env, errno, "sendmsg");
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

}  // namespace plugsock
