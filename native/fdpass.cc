// fd passing (SCM_RIGHTS) over a connected AF_UNIX stream socket.
//
// libuv reads ordinary sockets with read(), which silently discards passed fds (FACTS.md), so a
// connection that passes fds must have every read done here with recvmsg(). FdChannel owns the
// socket and polls it on the Node loop; JS (src/fd-stream.ts) owns buffering and ordering.
//
// Exports: FdChannel (class), dupFd(fd), memfdCreate(name).
#include <fcntl.h>
#include <napi.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "errors.h"
#include "fd.h"
#include "modules.h"

namespace plugsock {
namespace {

constexpr int kMaxFds = 253;                // SCM_MAX_FD: the kernel refuses more per message
constexpr size_t kReadSize = 64 * 1024;     // same chunk size libuv uses for net.Socket
constexpr size_t kMessagesPerBatch = 64;    // messages per JS call
constexpr size_t kMinRead = 16 * 1024;      // a batch ends when less than this is left of 64 KiB
constexpr int kBatchesPerPoll = 16;         // bounded so one busy peer cannot starve the loop
constexpr size_t kMaxIov = 1024;            // IOV_MAX on Linux and macOS

#ifdef MSG_CMSG_CLOEXEC
constexpr int kRecvFlags = MSG_DONTWAIT | MSG_CMSG_CLOEXEC;
#else
// macOS: no atomic CLOEXEC on receipt; set it right after (no exec can run in between on this
// thread, and fork+exec from other threads is the caller's race to avoid).
constexpr int kRecvFlags = MSG_DONTWAIT;
#endif
#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_DONTWAIT | MSG_NOSIGNAL;
#else
constexpr int kSendFlags = MSG_DONTWAIT;  // SO_NOSIGPIPE is set on the socket instead
#endif

union ControlBuffer {
  // The union gives cmsghdr alignment, which CMSG_FIRSTHDR relies on.
  char buf[CMSG_SPACE(sizeof(int) * kMaxFds)];
  struct cmsghdr align;
};

class FdChannel : public Napi::ObjectWrap<FdChannel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdChannel",
                       {
                           InstanceMethod<&FdChannel::Write>("write"),
                           InstanceMethod<&FdChannel::SetWantWritable>("setWantWritable"),
                           InstanceMethod<&FdChannel::ReadStart>("readStart"),
                           InstanceMethod<&FdChannel::ReadStop>("readStop"),
                           InstanceMethod<&FdChannel::Shutdown>("shutdown"),
                           InstanceMethod<&FdChannel::Close>("close"),
                           InstanceMethod<&FdChannel::RefLoop>("ref"),
                           InstanceMethod<&FdChannel::UnrefLoop>("unref"),
                           InstanceAccessor<&FdChannel::GetFd>("fd"),
                       });
  }

  explicit FdChannel(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<FdChannel>(info),
        // A fresh resource object: napi_async_init may hold its resource strongly, and holding
        // `this` would keep the channel from ever being collected.
        async_(info.Env(), "plugsock:FdChannel", Napi::Object::New(info.Env())) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsFunction()) {
      ThrowTypeError(env, "FdChannel(fd: number, onEvent: Function)");
      return;
    }
    int fd = info[0].As<Napi::Number>().Int32Value();
    if (fd < 0) {
      ThrowTypeError(env, "fd must be a non-negative integer");
      return;
    }
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
      ThrowErrno(env, errno, "getsockopt");
      return;
    }
    if (type != SOCK_STREAM) {
      ThrowErrno(env, EPROTOTYPE, "FdChannel");
      return;
    }
    // The poll and every syscall here must never block the loop, whoever created the fd.
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)) {
      ThrowErrno(env, errno, "fcntl");
      return;
    }
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "FdChannel: no event loop").ThrowAsJavaScriptException();
      return;
    }
    auto poll = std::make_unique<PollHandle>();
    int rc = uv_poll_init(loop, &poll->handle, fd);
    if (rc != 0) {
      ThrowErrno(env, -rc, "uv_poll_init");
      return;
    }
    poll->owner = this;
    poll_ = poll.release();
    // Ownership is taken only once nothing can fail, so a failed constructor leaves the
    // caller's fd alone.
    fd_.reset(fd);
    // Weak while idle: the callback closes over the JS stream that holds this channel, and a
    // strong reference from here would make that cycle uncollectable. SetStrong() pins both
    // while the poll is armed.
    on_event_ = Napi::Weak(info[1].As<Napi::Function>());
  }

  ~FdChannel() override { CloseNow(); }

 private:
  struct PollHandle {
    uv_poll_t handle;
    FdChannel* owner = nullptr;  // nulled when the channel closes; the handle outlives it
  };

  // onEvent(type, ...): 0 data (buffer, lengths[], fdLists[]|null, droppedCounts[]|null),
  // 1 end, 2 error (err), 3 writable. Keep in step with FdChannelEvent in src/fd-stream.ts.
  enum Event { kData = 0, kEnd = 1, kError = 2, kWritable = 3 };
  static constexpr int kStopAgain = -1;
  static constexpr int kStopEof = -2;

  // write(data: Uint8Array | Uint8Array[], fds?: number[]): number
  // One sendmsg. Returns bytes sent, or -1 when the socket is full (EAGAIN: nothing was sent,
  // fds included). After a partial send the fds have gone with the first byte.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!fd_) return ThrowErrno(env, EBADF, "sendmsg");

    iovec iov[kMaxIov];
    size_t niov = 0;
    size_t total = 0;
    auto add = [&](const Napi::Value& v) -> bool {
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        return false;
      }
      auto arr = v.As<Napi::Uint8Array>();
      if (arr.ByteLength() == 0) return true;
      iov[niov].iov_base = arr.Data();
      iov[niov].iov_len = arr.ByteLength();
      total += arr.ByteLength();
      niov++;
      return true;
    };
    if (info[0].IsArray()) {
      Napi::Array list = info[0].As<Napi::Array>();
      if (list.Length() > kMaxIov) return ThrowTypeError(env, "write: at most 1024 buffers");
      for (uint32_t i = 0; i < list.Length(); i++) {
        if (!add(list.Get(i))) return ThrowTypeError(env, "write: buffers must be Uint8Arrays");
      }
    } else if (!add(info[0])) {
      return ThrowTypeError(env, "write: data must be a Uint8Array or an array of them");
    }

    ControlBuffer control;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = niov;
    if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
      if (!info[1].IsArray()) return ThrowTypeError(env, "write: fds must be an array");
      Napi::Array list = info[1].As<Napi::Array>();
      uint32_t nfds = list.Length();
      if (nfds > static_cast<uint32_t>(kMaxFds)) return ThrowErrno(env, EINVAL, "sendmsg");
      if (nfds > 0) {
        // Zero bytes on a stream socket carry no fds: the kernel would drop them silently.
        if (total == 0) return ThrowTypeError(env, "write: fds need at least one byte of data");
        std::memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        int* out = reinterpret_cast<int*>(CMSG_DATA(cmsg));
        for (uint32_t i = 0; i < nfds; i++) {
          Napi::Value v = list.Get(i);
          if (!v.IsNumber()) return ThrowTypeError(env, "write: fds must be integers");
          double d = v.As<Napi::Number>().DoubleValue();
          if (!(d >= 0 && d <= 2147483647.0) || d != static_cast<int>(d)) {
            return ThrowErrno(env, EBADF, "sendmsg");
          }
          out[i] = static_cast<int>(d);
        }
      }
    }

    ssize_t n;
    do {
      n = sendmsg(fd_.get(), &msg, kSendFlags);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
      return ThrowErrno(env, errno, "sendmsg");
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  // One-shot: reports 'writable' once, then disarms, so a full socket never spins the loop.
  Napi::Value SetWantWritable(const Napi::CallbackInfo& info) {
    want_writable_ = info[0].ToBoolean().Value();
    return UpdatePoll(info.Env());
  }

  Napi::Value ReadStart(const Napi::CallbackInfo& info) {
    reading_ = !eof_;
    return UpdatePoll(info.Env());
  }

  Napi::Value ReadStop(const Napi::CallbackInfo& info) {
    reading_ = false;
    return UpdatePoll(info.Env());
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    if (!fd_) return ThrowErrno(info.Env(), EBADF, "shutdown");
    if (::shutdown(fd_.get(), SHUT_WR) != 0) return ThrowErrno(info.Env(), errno, "shutdown");
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    CloseNow();
    return info.Env().Undefined();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
    return info.Env().Undefined();
  }

  Napi::Value GetFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), fd_.get());
  }

  // While the poll is armed the JS object must stay alive (like a net.Socket with an active
  // handle): its callback is what the poll reports to.
  Napi::Value UpdatePoll(Napi::Env env) {
    if (!poll_) {
      if (want_writable_ || reading_) return ThrowErrno(env, EBADF, "uv_poll_start");
      return env.Undefined();
    }
    int events = (reading_ ? UV_READABLE | UV_DISCONNECT : 0) | (want_writable_ ? UV_WRITABLE : 0);
    int rc = events ? uv_poll_start(&poll_->handle, events, OnPoll) : uv_poll_stop(&poll_->handle);
    if (rc != 0) {
      reading_ = want_writable_ = false;
      SetStrong(false);
      return ThrowErrno(env, -rc, "uv_poll_start");
    }
    SetStrong(events != 0);
    return env.Undefined();
  }

  void SetStrong(bool strong) {
    if (strong == strong_) return;
    strong_ = strong;
    if (strong) {
      Ref();
      on_event_.Ref();
    } else {
      Unref();
      on_event_.Unref();
    }
  }

  // Idempotent; also the GC path. The fd is closed at once (uv_close has already removed it
  // from epoll), so the peer sees EOF now; the handle memory goes when libuv is done with it.
  void CloseNow() {
    reading_ = want_writable_ = false;
    if (poll_) {
      poll_->owner = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(&poll_->handle), [](uv_handle_t* h) {
        delete reinterpret_cast<PollHandle*>(h);  // handle is the first member
      });
      poll_ = nullptr;
    }
    fd_.reset();
    // Never Unref from the finalizer: the reference is being torn down already.
    if (strong_ && !finalizing_) SetStrong(false);
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    FdChannel* self = reinterpret_cast<PollHandle*>(handle)->owner;
    if (self != nullptr) self->HandlePoll(status, events);
  }

  void HandlePoll(int status, int events) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    // One callback scope for the whole batch: microtasks (promise reactions of JS handlers)
    // run when it closes, as after any libuv callback in Node.
    Napi::CallbackScope callback_scope(env, async_);
    // A handler may close the stream and drop the last reference to it; keep this object
    // alive until the batch is done.
    Ref();
    if (status < 0) {
      Emit(kError, {ErrnoError(env, -status, "uv_poll").Value()});
    } else {
      if ((events & UV_WRITABLE) && want_writable_) {
        want_writable_ = false;
        UpdatePoll(env);
        Emit(kWritable, {});
      }
      if ((events & (UV_READABLE | UV_DISCONNECT)) && reading_) ReadBatch(env);
    }
    Unref();
  }

  // Reads until EAGAIN, in batches: each batch packs up to kMessagesPerBatch messages (or about
  // 64 KiB) into one Buffer and one JS call. Passing fds makes every message its own recvmsg
  // (the kernel ends a read after a message that carried fds), and a JS call plus a Buffer per
  // message was most of the receiver's cost.
  void ReadBatch(Napi::Env env) {
    if (!read_buf_) read_buf_.reset(new char[kReadSize]);
    for (int batch = 0; batch < kBatchesPerPoll && reading_ && fd_; batch++) {
      Napi::HandleScope inner(env);
      size_t used = 0;
      lens_.clear();
      fd_counts_.clear();
      dropped_.clear();
      fds_.clear();
      bool any_fds = false;
      bool any_dropped = false;
      int stop = 0;  // 0: batch full, EAGAIN, EOF or an errno
      // A batch stays within 64 KiB: a bigger Buffer::Copy is a fresh mmap (glibc's threshold)
      // with its page faults, which tripled the reader's system time at full throughput.
      while (lens_.size() < kMessagesPerBatch && kReadSize - used >= kMinRead) {
        ControlBuffer control;
        iovec iov{read_buf_.get() + used, kReadSize - used};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof(control.buf);
        ssize_t n;
        do {
          n = recvmsg(fd_.get(), &msg, kRecvFlags);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
          stop = (errno == EAGAIN || errno == EWOULDBLOCK) ? kStopAgain : errno;
          break;
        }
        // Own every fd that arrived before anything else can fail.
        size_t first = fds_.size();
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
          size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          const unsigned char* data = CMSG_DATA(c);
          for (size_t k = 0; k < count; k++) {
            int fd;
            std::memcpy(&fd, data + k * sizeof(int), sizeof(int));
            fds_.emplace_back(fd);
#ifndef MSG_CMSG_CLOEXEC
            fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
          }
        }
        size_t got = fds_.size() - first;
        bool truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
        if (n == 0 && got == 0 && !truncated) {
          stop = kStopEof;
          break;
        }
        if (truncated) {
          // Some fds did not fit (fd limit, say): a partial set cannot be paired with its
          // bytes reliably, so close what came and let JS report the loss.
          fds_.resize(first);
          dropped_.push_back(static_cast<int>(got));
          fd_counts_.push_back(0);
          any_dropped = true;
        } else {
          dropped_.push_back(-1);
          fd_counts_.push_back(static_cast<int>(got));
          any_fds = any_fds || got > 0;
        }
        lens_.push_back(static_cast<size_t>(n));
        used += static_cast<size_t>(n);
      }

      if (!lens_.empty()) {
        Napi::Array lens = Napi::Array::New(env, lens_.size());
        Napi::Value fd_lists = env.Null();
        Napi::Value dropped = env.Null();
        if (any_fds) {
          Napi::Array lists = Napi::Array::New(env, lens_.size());
          size_t next = 0;
          for (size_t i = 0; i < lens_.size(); i++) {
            if (fd_counts_[i] == 0) continue;
            Napi::Array arr = Napi::Array::New(env, fd_counts_[i]);
            for (int k = 0; k < fd_counts_[i]; k++) {
              arr.Set(static_cast<uint32_t>(k), Napi::Number::New(env, fds_[next++].get()));
            }
            lists.Set(static_cast<uint32_t>(i), arr);
          }
          fd_lists = lists;
        }
        if (any_dropped) {
          Napi::Array arr = Napi::Array::New(env, lens_.size());
          for (size_t i = 0; i < lens_.size(); i++) {
            if (dropped_[i] >= 0) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, dropped_[i]));
          }
          dropped = arr;
        }
        for (size_t i = 0; i < lens_.size(); i++) {
          lens.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(lens_[i])));
        }
        for (Fd& f : fds_) f.release();  // JS owns them from here
        fds_.clear();
        Emit(kData, {Napi::Buffer<char>::Copy(env, read_buf_.get(), used), lens, fd_lists, dropped});
      }

      if (stop == kStopAgain) return;
      if (stop == kStopEof) {
        eof_ = true;
        reading_ = false;
        UpdatePoll(env);
        Emit(kEnd, {});
        return;
      }
      if (stop != 0) {
        reading_ = false;
        UpdatePoll(env);
        Emit(kError, {ErrnoError(env, stop, "recvmsg").Value()});
        return;
      }
    }
  }

  void Emit(Event event, std::initializer_list<napi_value> rest) {
    Napi::Env env = Env();
    Napi::Function fn = on_event_.Value();
    if (fn.IsEmpty()) return;  // collected: nobody is left to tell
    napi_value args[5];
    size_t argc = 0;
    // A number, not a name: N-API 8 cannot cache a string, and a fresh one per event costs.
    args[argc++] = Napi::Number::New(env, event);
    for (napi_value v : rest) args[argc++] = v;
    napi_value ignored;
    napi_call_function(env, env.Undefined(), fn, argc, args, &ignored);
    if (env.IsExceptionPending()) {
      // Like an exception thrown from a net.Socket 'data' handler: uncaughtException.
      Napi::Error err = env.GetAndClearPendingException();
      napi_fatal_exception(env, err.Value());
    }
  }

  void Finalize(Napi::Env) override { finalizing_ = true; }

  Fd fd_;
  PollHandle* poll_ = nullptr;
  Napi::FunctionReference on_event_;
  Napi::AsyncContext async_;
  std::unique_ptr<char[]> read_buf_;
  // Per-batch scratch, kept to avoid reallocating each time.
  std::vector<size_t> lens_;
  std::vector<int> fd_counts_;
  std::vector<int> dropped_;
  std::vector<Fd> fds_;
  bool reading_ = false;
  bool want_writable_ = false;
  bool eof_ = false;
  bool strong_ = false;
  bool finalizing_ = false;
};

// dupFd(fd): a CLOEXEC duplicate the caller owns, e.g. to take over a socket libuv accepted
// before destroying the net.Socket that wraps the original.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowTypeError(env, "dupFd(fd: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return ThrowErrno(env, errno, "fcntl");
  return Napi::Number::New(env, copy);
}

// memfdCreate(name): an anonymous in-memory file (Linux), CLOEXEC, owned by the caller.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowTypeError(env, "memfdCreate(name: string)");
#ifdef __linux__
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Fd fd(static_cast<int>(memfd_create(name.c_str(), MFD_CLOEXEC)));
  if (!fd) return ThrowErrno(env, errno, "memfd_create");
  return Napi::Number::New(env, fd.release());
#else
  return ThrowErrno(env, ENOSYS, "memfd_create");
#endif
}

}  // namespace

void InitFdpass(Napi::Env env, Napi::Object exports) {
  exports.Set("FdChannel", FdChannel::Define(env));
  exports.Set("dupFd", Napi::Function::New<DupFd>(env, "dupFd"));
  exports.Set("memfdCreate", Napi::Function::New<MemfdCreate>(env, "memfdCreate"));
}

}  // namespace plugsock
