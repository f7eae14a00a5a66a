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
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "fd.h"

namespace plugsock {

class FdChannel;

// The channels of one environment (worker threads have their own) by id, so that write() finds
// its channel from a number: napi_unwrap (a private-symbol lookup) was a third of the cost of a
// one-fd write. An id is a slot and that slot's generation, so a stale id matches nothing.
// Counted references: the environment's (until its cleanup hook) and one per channel, so
// whichever goes last frees it (fd_channel_write.cc).
struct ChannelTable {
  struct Slot {
    FdChannel* channel = nullptr;
    uint32_t generation = 0;
  };
  std::vector<Slot> slots;
  std::vector<uint32_t> free_slots;
  int refs = 1;

  double Add(FdChannel* channel);
  void Remove(double id);
  FdChannel* Find(napi_env env, napi_value id) const;
  void Release() {
    if (--refs == 0) delete this;
  }
};

class FdChannel : public Napi::ObjectWrap<FdChannel> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit FdChannel(const Napi::CallbackInfo& info);
  ~FdChannel() override;

 private:
  struct PollHandle {
    uv_poll_t handle;
    FdChannel* owner = nullptr;  // nulled when the channel closes; the handle outlives it
  };

  // onEvent(type, ...): 0 data (bytes: Buffer, meta: Int32Array; fd_channel_read.cc), 1 end,
  // 2 error (err), 3 writable. Keep in step with FdChannelEvent in src/addon.ts.
  enum Event { kData = 0, kEnd = 1, kError = 2, kWritable = 3 };
  static constexpr int kStopAgain = -1;
  static constexpr int kStopEof = -2;

  // The JS methods (fd_channel.cc; write in fd_channel_write.cc, a plain function on the
  // prototype whose data is the ChannelTable: write(id, data, ...fds)).
  static Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value GetId(const Napi::CallbackInfo& info);
  Napi::Value SetWantWritable(const Napi::CallbackInfo& info);
  Napi::Value ReadStart(const Napi::CallbackInfo& info);
  Napi::Value ReadStop(const Napi::CallbackInfo& info);
  Napi::Value Shutdown(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value RefLoop(const Napi::CallbackInfo& info);
  Napi::Value UnrefLoop(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);

  // The poll and the channel's lifetime (fd_channel.cc).
  Napi::Value UpdatePoll(Napi::Env env, bool lazy = true);
  void SetStrong(bool strong);
  void CloseNow();
  static void OnPoll(uv_poll_t* handle, int status, int events);
  void HandlePoll(int status, int events);
  void Emit(Event event, std::initializer_list<napi_value> rest);
  void Finalize(Napi::Env) override { finalizing_ = true; }

  // The read path (fd_channel_read.cc).
  void ReadBatch(Napi::Env env);
  bool NewChunk(Napi::Env env);
  int32_t* MetaArray(Napi::Env env, napi_value* value);
  int FillBatch();
  void EmitBatch(Napi::Env env);
  bool EndBatch(Napi::Env env, int stop);

  Fd fd_;
  ChannelTable* table_ = nullptr;  // where this channel is registered (held: one reference)
  double id_ = -1;
  PollHandle* poll_ = nullptr;
  Napi::FunctionReference on_event_;
  Napi::AsyncContext async_;
  // The Buffer the next batch is read into, not yet seen by JS, and its memory.
  Napi::Reference<Napi::Value> chunk_;
  char* chunk_data_ = nullptr;
  Napi::Reference<Napi::Value> meta_;  // Int32Array: each batch's lengths and fds, for JS
  // Per-batch scratch, kept to avoid reallocating each time.
  size_t used_ = 0;              // bytes of chunk_ filled
  std::vector<int32_t> lens_;    // bytes of each message
  std::vector<int32_t> counts_;  // fds of each message, or -1 - received after MSG_CTRUNC
  std::vector<Fd> fds_;          // the batch's fds, owned here until JS gets them
  int armed_ = 0;                // the events the poll is started with (0: stopped)
  bool reading_ = false;
  bool want_writable_ = false;
  bool eof_ = false;
  bool strong_ = false;
  bool finalizing_ = false;
};

}  // namespace plugsock
