// FdChannel (fd_channel.h): construction, the JS methods other than write, the poll and the
// channel's lifetime.
//
// Exports: FdChannel (class).
#include "fd_channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "errors.h"
#include "modules.h"

namespace plugsock {
namespace {

// Checks a socket for FdChannel and makes it non-blocking. Returns 0 or an errno, with *syscall.
int PrepareSocket(int fd, const char** syscall) {
  int type = 0;
  socklen_t len = sizeof(type);
  *syscall = "getsockopt";
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return errno;
  *syscall = "FdChannel";
  if (type != SOCK_STREAM) return EPROTOTYPE;
  // The poll and every syscall here must never block the loop, whoever created the fd.
  *syscall = "fcntl";
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)) return errno;
#ifdef SO_NOSIGPIPE
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  return 0;
}

}  // namespace

Napi::Function FdChannel::Define(Napi::Env env) {
  auto* table = new ChannelTable();
  napi_add_env_cleanup_hook(
      env, [](void* arg) { static_cast<ChannelTable*>(arg)->Release(); }, table);
  Napi::Function ctor =
      DefineClass(env, "FdChannel",
                  {
                      InstanceMethod<&FdChannel::SetWantWritable>("setWantWritable"),
                      InstanceMethod<&FdChannel::ReadStart>("readStart"),
                      InstanceMethod<&FdChannel::ReadStop>("readStop"),
                      InstanceMethod<&FdChannel::Shutdown>("shutdown"),
                      InstanceMethod<&FdChannel::Close>("close"),
                      InstanceMethod<&FdChannel::RefLoop>("ref"),
                      InstanceMethod<&FdChannel::UnrefLoop>("unref"),
                      InstanceAccessor<&FdChannel::GetFd>("fd"),
                      InstanceAccessor<&FdChannel::GetId>("id"),
                  },
                  table);
  // Not an InstanceMethod: those napi_unwrap `this` first, which is what the id spares.
  ctor.Get("prototype")
      .As<Napi::Object>()
      .Set("write", Napi::Function::New<FdChannel::Write>(env, "write", table));
  return ctor;
}

FdChannel::FdChannel(const Napi::CallbackInfo& info)
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
  const char* syscall = nullptr;
  if (int err = PrepareSocket(fd, &syscall)) {
    ThrowErrno(env, err, syscall);
    return;
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "FdChannel: no event loop").ThrowAsJavaScriptException();
    return;
  }
  auto* table = static_cast<ChannelTable*>(info.Data());
  double id = table->Add(this);
  if (id < 0) {
    ThrowErrno(env, ENFILE, "FdChannel");
    return;
  }
  auto poll = std::make_unique<PollHandle>();
  int rc = uv_poll_init(loop, &poll->handle, fd);
  if (rc != 0) {
    table->Remove(id);
    ThrowErrno(env, -rc, "uv_poll_init");
    return;
  }
  table_ = table;
  id_ = id;
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

FdChannel::~FdChannel() {
  CloseNow();
  if (table_ != nullptr) table_->Remove(id_);
}

// One-shot: reports 'writable' once, then disarms, so a full socket never spins the loop.
Napi::Value FdChannel::SetWantWritable(const Napi::CallbackInfo& info) {
  want_writable_ = info[0].ToBoolean().Value();
  return UpdatePoll(info.Env());
}

Napi::Value FdChannel::ReadStart(const Napi::CallbackInfo& info) {
  reading_ = !eof_;
  return UpdatePoll(info.Env());
}

Napi::Value FdChannel::ReadStop(const Napi::CallbackInfo& info) {
  reading_ = false;
  return UpdatePoll(info.Env());
}

Napi::Value FdChannel::Shutdown(const Napi::CallbackInfo& info) {
  if (!fd_) return ThrowErrno(info.Env(), EBADF, "shutdown");
  if (::shutdown(fd_.get(), SHUT_WR) != 0) return ThrowErrno(info.Env(), errno, "shutdown");
  return info.Env().Undefined();
}

Napi::Value FdChannel::Close(const Napi::CallbackInfo& info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value FdChannel::RefLoop(const Napi::CallbackInfo& info) {
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
  return info.Env().Undefined();
}

Napi::Value FdChannel::UnrefLoop(const Napi::CallbackInfo& info) {
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
  return info.Env().Undefined();
}

Napi::Value FdChannel::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fd_.get());
}

Napi::Value FdChannel::GetId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), id_);
}

// While the poll is armed the JS object must stay alive (like a net.Socket with an active
// handle): its callback is what the poll reports to.
//
// uv_poll_start costs two epoll_ctl calls whatever changed (libuv removes the fd, then adds it
// back), so the poll is restarted only when the events it needs change. UV_WRITABLE, once
// armed, stays armed while the channel reads anyway (`lazy`): a writer that meets a full socket
// again and again (streaming) then arms it once, and when it is no longer wanted the next
// writable report drops it (HandlePoll), one wake-up instead of two restarts per full socket.
Napi::Value FdChannel::UpdatePoll(Napi::Env env, bool lazy) {
  int events = (reading_ ? UV_READABLE | UV_DISCONNECT : 0) | (want_writable_ ? UV_WRITABLE : 0);
  if (!poll_) {
    armed_ = 0;
    if (events != 0) return ThrowErrno(env, EBADF, "uv_poll_start");
    return env.Undefined();
  }
  if (lazy && events != 0 && (armed_ | UV_WRITABLE) == (events | UV_WRITABLE)) events |= armed_;
  if (events == armed_) return env.Undefined();
  int rc = events ? uv_poll_start(&poll_->handle, events, OnPoll) : uv_poll_stop(&poll_->handle);
  if (rc != 0) {
    reading_ = want_writable_ = false;
    armed_ = 0;
    uv_poll_stop(&poll_->handle);
    SetStrong(false);
    return ThrowErrno(env, -rc, "uv_poll_start");
  }
  armed_ = events;
  SetStrong(events != 0);
  return env.Undefined();
}

void FdChannel::SetStrong(bool strong) {
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
void FdChannel::CloseNow() {
  reading_ = want_writable_ = false;
  armed_ = 0;
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

void FdChannel::OnPoll(uv_poll_t* handle, int status, int events) {
  FdChannel* self = reinterpret_cast<PollHandle*>(handle)->owner;
  if (self != nullptr) self->HandlePoll(status, events);
}

void FdChannel::HandlePoll(int status, int events) {
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
      want_writable_ = false;  // one-shot; UV_WRITABLE stays armed until a report nobody wants
      UpdatePoll(env, true);
      Emit(kWritable, {});
    } else if (events & UV_WRITABLE) {
      UpdatePoll(env, false);  // armed lazily and no longer wanted: drop it now
    }
    if ((events & (UV_READABLE | UV_DISCONNECT)) && reading_) ReadBatch(env);
  }
  Unref();
}

void FdChannel::Emit(Event event, std::initializer_list<napi_value> rest) {
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

void InitFdChannel(Napi::Env env, Napi::Object exports) {
  exports.Set("FdChannel", FdChannel::Define(env));
}

}  // namespace plugsock
