// FdChannel: a connected AF_UNIX stream socket whose every read and write the addon does, so fds
// passed with SCM_RIGHTS survive. libuv reads an ordinary socket with read(), and read() discards
// the fds that arrive with SCM_RIGHTS (README.md, "Platform facts this library is built on"), so
// a connection that passes fds must have every read done here with recvmsg(). The channel owns
// the socket and polls it on the Node loop; JS (src/fd-stream.ts) owns buffering and ordering.
//
// fd_channel.cc: construction, the JS methods, the poll and the channel's lifetime.
// fd_channel_write.cc: write() (one sendmsg).
// fd_channel_read.cc: the read path (batches of messages, one JS call each).
// scm_rights.cc: the sendmsg/recvmsg calls themselves.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <vector>

#include "fd.h"

namespace plugsock {

class FdChannel : public Napi::ObjectWrap<FdChannel> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit FdChannel(const Napi::CallbackInfo& info);
  ~FdChannel() override { CloseNow(); }

 private:
  struct PollHandle {
    uv_poll_t handle;
    FdChannel* owner = nullptr;  // nulled when the channel closes; the handle outlives it
  };

  // onEvent(type, ...): 0 data (buffer, lengths[], fdLists[]|null, droppedCounts[]|null),
  // 1 end, 2 error (err), 3 writable. Keep in step with FdChannelEvent in src/addon.ts.
  enum Event { kData = 0, kEnd = 1, kError = 2, kWritable = 3 };
  static constexpr int kStopAgain = -1;
  static constexpr int kStopEof = -2;

  // The JS methods (fd_channel.cc; write in fd_channel_write.cc).
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value SetWantWritable(const Napi::CallbackInfo& info);
  Napi::Value ReadStart(const Napi::CallbackInfo& info);
  Napi::Value ReadStop(const Napi::CallbackInfo& info);
  Napi::Value Shutdown(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value RefLoop(const Napi::CallbackInfo& info);
  Napi::Value UnrefLoop(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);

  // The poll and the channel's lifetime (fd_channel.cc).
  Napi::Value UpdatePoll(Napi::Env env);
  void SetStrong(bool strong);
  void CloseNow();
  static void OnPoll(uv_poll_t* handle, int status, int events);
  void HandlePoll(int status, int events);
  void Emit(Event event, std::initializer_list<napi_value> rest);
  void Finalize(Napi::Env) override { finalizing_ = true; }

  // The read path (fd_channel_read.cc).
  void ReadBatch(Napi::Env env);
  int FillBatch();
  void EmitBatch(Napi::Env env);
  bool EndBatch(Napi::Env env, int stop);

  Fd fd_;
  PollHandle* poll_ = nullptr;
  Napi::FunctionReference on_event_;
  Napi::AsyncContext async_;
  std::unique_ptr<char[]> read_buf_;
  // Per-batch scratch, kept to avoid reallocating each time.
  size_t used_ = 0;  // bytes of read_buf_ filled
  std::vector<size_t> lens_;
  std::vector<int> fd_counts_;
  std::vector<int> dropped_;
  std::vector<Fd> fds_;
  bool any_fds_ = false;
  bool any_dropped_ = false;
  bool reading_ = false;
  bool want_writable_ = false;
  bool eof_ = false;
  bool strong_ = false;
  bool finalizing_ = false;
};

}  // namespace plugsock
