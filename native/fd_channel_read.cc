// FdChannel's read path (fd_channel.h): reads until EAGAIN, in batches. Each batch packs up to
// kMessagesPerBatch messages (or about 64 KiB) into one Buffer and one JS call. Passing fds makes
// every message its own recvmsg (the kernel ends a read after a message that carried fds), and a
// JS call plus a Buffer per message was most of the receiver's cost.
#include <sys/types.h>

#include <cerrno>

#include "errors.h"
#include "fd_channel.h"
#include "scm_rights.h"

namespace plugsock {
namespace {

constexpr size_t kReadSize = 64 * 1024;   // same chunk size libuv uses for net.Socket
constexpr size_t kMessagesPerBatch = 64;  // messages per JS call
constexpr size_t kMinRead = 16 * 1024;    // a batch ends when less than this is left of 64 KiB
constexpr int kBatchesPerPoll = 16;       // bounded so one busy peer cannot starve the loop

}  // namespace

void FdChannel::ReadBatch(Napi::Env env) {
  if (!read_buf_) read_buf_.reset(new char[kReadSize]);
  for (int batch = 0; batch < kBatchesPerPoll && reading_ && fd_; batch++) {
    Napi::HandleScope inner(env);
    int stop = FillBatch();
    if (!lens_.empty()) EmitBatch(env);
    if (EndBatch(env, stop)) return;
  }
}

// Reads messages into read_buf_ and the per-batch scratch. Returns 0 (batch full), kStopAgain
// (EAGAIN), kStopEof, or an errno.
int FdChannel::FillBatch() {
  used_ = 0;
  lens_.clear();
  fd_counts_.clear();
  dropped_.clear();
  fds_.clear();
  any_fds_ = false;
  any_dropped_ = false;
  // A batch stays within 64 KiB: a bigger Buffer::Copy is a fresh mmap (glibc's threshold)
  // with its page faults, which tripled the reader's system time at full throughput.
  while (lens_.size() < kMessagesPerBatch && kReadSize - used_ >= kMinRead) {
    ControlBuffer control;
    Received r = ReceiveWithFds(fd_.get(), read_buf_.get() + used_, kReadSize - used_, control.buf,
                                sizeof(control.buf), &fds_);
    if (r.bytes < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? kStopAgain : errno;
    if (r.bytes == 0 && r.fds == 0 && !r.truncated) return kStopEof;
    if (r.truncated) {
      // JS reports the loss; the bytes are still delivered.
      dropped_.push_back(static_cast<int>(r.dropped));
      fd_counts_.push_back(0);
      any_dropped_ = true;
    } else {
      dropped_.push_back(-1);
      fd_counts_.push_back(static_cast<int>(r.fds));
      any_fds_ = any_fds_ || r.fds > 0;
    }
    lens_.push_back(static_cast<size_t>(r.bytes));
    used_ += static_cast<size_t>(r.bytes);
  }
  return 0;
}

// One 'data' event for the batch: (bytes, lengths[], fdLists[]|null, droppedCounts[]|null).
void FdChannel::EmitBatch(Napi::Env env) {
  Napi::Array lens = Napi::Array::New(env, lens_.size());
  Napi::Value fd_lists = env.Null();
  Napi::Value dropped = env.Null();
  if (any_fds_) {
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
  if (any_dropped_) {
    Napi::Array arr = Napi::Array::New(env, lens_.size());
    for (size_t i = 0; i < lens_.size(); i++) {
      if (dropped_[i] >= 0) {
        arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, dropped_[i]));
      }
    }
    dropped = arr;
  }
  for (size_t i = 0; i < lens_.size(); i++) {
    lens.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(lens_[i])));
  }
  for (Fd& f : fds_) f.release();  // JS owns them from here
  fds_.clear();
  Emit(kData, {Napi::Buffer<char>::Copy(env, read_buf_.get(), used_), lens, fd_lists, dropped});
}

// After a batch: true when this poll's reading is over (EAGAIN, EOF or an error).
bool FdChannel::EndBatch(Napi::Env env, int stop) {
  if (stop == kStopAgain) return true;
  if (stop == kStopEof) {
    eof_ = true;
    reading_ = false;
    UpdatePoll(env);
    Emit(kEnd, {});
    return true;
  }
  if (stop != 0) {
    reading_ = false;
    UpdatePoll(env);
    Emit(kError, {ErrnoError(env, stop, "recvmsg").Value()});
    return true;
  }
  return false;
}

}  // namespace plugsock
