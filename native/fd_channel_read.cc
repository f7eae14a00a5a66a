// FdChannel's read path (fd_channel.h): reads until EAGAIN, in batches of up to
// kMessagesPerBatch messages (or about 64 KiB), one JS call per batch. Passing fds makes every
// message its own recvmsg (the kernel ends a read after a message that carried fds), so what a
// message costs beyond its recvmsg is what this file keeps small:
// - the bytes are read straight into a 64 KiB Buffer that JS has not seen yet (chunk_). A batch
//   of at least kHandOverMin bytes hands that Buffer itself to JS (no copy; the next batch gets
//   a fresh one); a smaller batch is copied out into a Buffer of its own, and chunk_ is read into
//   again. Either way, no memory JS can see is ever written to again.
// - the lengths and fds of the batch's messages travel in one Int32Array made once per channel
//   (meta_), which JS reads before the call returns: no JS array per message, nor per batch.
#include <sys/types.h>

#include <cerrno>
#include <cstdint>

#include "errors.h"
#include "fd_channel.h"
#include "scm_rights.h"

namespace plugsock {
namespace {

constexpr size_t kReadSize = 64 * 1024;  // same chunk size libuv uses for net.Socket
// A batch of at least this many bytes hands chunk_ over rather than copying: at most half of
// the Buffer JS gets is unused, and a copy of 32 KiB or more costs more than a fresh Buffer.
constexpr size_t kHandOverMin = kReadSize / 2;
constexpr size_t kMinRead = 16 * 1024;    // a batch ends when less than this is left of 64 KiB
constexpr size_t kMessagesPerBatch = 64;  // messages per JS call
// fds per batch: another recvmsg is made only while its control buffer's worth still fits.
constexpr size_t kBatchFds = 2 * kMaxFds + 6;
// meta_: [n, (length, fds) x n, fds...]; "fds" of message i is its fd count, or -1 - received
// when MSG_CTRUNC hit it (those it received were closed). Keep in step with src/fd-stream.ts.
constexpr size_t kMetaLength = 1 + 2 * kMessagesPerBatch + kBatchFds;
constexpr int kBatchesPerPoll = 16;  // bounded so one busy peer cannot starve the loop

// What one recvmsg can bring at most: the fds that fit its control buffer (the kernel sends at
// most kMaxFds per message; alignment leaves room for one more).
constexpr size_t kFdsPerRead = (sizeof(ControlBuffer) - CMSG_LEN(0)) / sizeof(int);
static_assert(kFdsPerRead >= kMaxFds && 2 * kFdsPerRead <= kBatchFds, "fd room of a batch");

}  // namespace

void FdChannel::ReadBatch(Napi::Env env) {
  for (int batch = 0; batch < kBatchesPerPoll && reading_ && fd_; batch++) {
    Napi::HandleScope inner(env);
    if (chunk_data_ == nullptr && !NewChunk(env)) return;
    int stop = FillBatch();
    if (!lens_.empty()) EmitBatch(env);
    if (EndBatch(env, stop)) return;
  }
}

// A fresh 64 KiB Buffer to read into (uninitialised, V8's memory). On failure (out of memory)
// reading stops with an error event.
bool FdChannel::NewChunk(Napi::Env env) {
  napi_value buf;
  void* data = nullptr;
  if (napi_create_buffer(env, kReadSize, &data, &buf) != napi_ok || data == nullptr) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    EndBatch(env, ENOMEM);
    return false;
  }
  chunk_ = Napi::Reference<Napi::Value>::New(Napi::Value(env, buf), 1);
  chunk_data_ = static_cast<char*>(data);
  return true;
}

// The Int32Array the batches' lengths and fds travel in, made on first use; nullptr (and
// *value unset) when it cannot be made. Looked up every batch, not cached as a pointer, so that
// even a detached ArrayBuffer could only cost a new array.
int32_t* FdChannel::MetaArray(Napi::Env env, napi_value* value) {
  if (!meta_.IsEmpty()) {
    napi_value v = meta_.Value();
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) == napi_ok &&
        type == napi_int32_array && length == kMetaLength && data != nullptr) {
      *value = v;
      return static_cast<int32_t*>(data);
    }
  }
  napi_value ab, ta;
  void* data = nullptr;
  if (napi_create_arraybuffer(env, kMetaLength * sizeof(int32_t), &data, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_int32_array, kMetaLength, ab, 0, &ta) != napi_ok) {
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    return nullptr;
  }
  meta_ = Napi::Reference<Napi::Value>::New(Napi::Value(env, ta), 1);
  *value = ta;
  return static_cast<int32_t*>(data);
}

// Reads messages into chunk_ and the per-batch scratch. Returns 0 (batch full), kStopAgain
// (EAGAIN), kStopEof, or an errno.
int FdChannel::FillBatch() {
  used_ = 0;
  lens_.clear();
  counts_.clear();
  fds_.clear();
  while (lens_.size() < kMessagesPerBatch && kReadSize - used_ >= kMinRead &&
         fds_.size() + kFdsPerRead <= kBatchFds) {
    ControlBuffer control;
    Received r = ReceiveWithFds(fd_.get(), chunk_data_ + used_, kReadSize - used_, control.buf,
                                sizeof(control.buf), &fds_);
    if (r.bytes < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? kStopAgain : errno;
    if (r.bytes == 0 && r.fds == 0 && !r.truncated) return kStopEof;
    // MSG_CTRUNC: JS reports the loss; the bytes are still delivered.
    counts_.push_back(r.truncated ? -1 - static_cast<int32_t>(r.dropped)
                                  : static_cast<int32_t>(r.fds));
    lens_.push_back(static_cast<int32_t>(r.bytes));
    used_ += static_cast<size_t>(r.bytes);
  }
  return 0;
}

// One 'data' event for the batch: (bytes, meta). bytes holds the messages back to back from
// offset 0 (it may be longer than their sum: chunk_ handed over whole).
void FdChannel::EmitBatch(Napi::Env env) {
  napi_value meta_value;
  int32_t* meta = MetaArray(env, &meta_value);
  napi_value bytes = nullptr;
  if (meta != nullptr && used_ >= kHandOverMin) {
    bytes = chunk_.Value();
    chunk_.Reset();
    chunk_data_ = nullptr;  // JS owns it now: never read into again
  } else if (meta != nullptr) {
    void* ignored;
    if (napi_create_buffer_copy(env, used_, chunk_data_, &ignored, &bytes) != napi_ok) {
      if (env.IsExceptionPending()) env.GetAndClearPendingException();
      bytes = nullptr;
    }
  }
  if (bytes == nullptr || on_event_.Value().IsEmpty()) {
    // Out of memory, or nobody is left to tell: the fds close here (fds_ owns them), and
    // reading stops, as a stream with a hole in it must.
    fds_.clear();
    reading_ = false;
    UpdatePoll(env);
    if (bytes == nullptr) Emit(kError, {ErrnoError(env, ENOMEM, "recvmsg").Value()});
    return;
  }
  const size_t n = lens_.size();
  meta[0] = static_cast<int32_t>(n);
  for (size_t i = 0; i < n; i++) {
    meta[1 + 2 * i] = lens_[i];
    meta[2 + 2 * i] = counts_[i];
  }
  int32_t* fds = meta + 1 + 2 * n;
  for (size_t k = 0; k < fds_.size(); k++) fds[k] = fds_[k].release();  // JS owns them now
  fds_.clear();
  Emit(kData, {bytes, meta_value});
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
