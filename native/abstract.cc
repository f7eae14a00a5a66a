// socketListenAbstract (docs/ADDON-CONTRACT.md): a listener on an abstract address (Linux). It
// has no file, so none of the claim's steps (mode, group, link, sweep) apply: socket, bind,
// listen. socketConnect (socket.cc) connects to the same addresses.
#ifdef __linux__
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <string>

#include "args.h"
#include "errors.h"
#include "fd.h"
#include "modules.h"
#include "sockaddr.h"
#else
#include "modules.h"
#endif

namespace plugsock {
#ifdef __linux__
namespace {

// socketListenAbstract(address, backlog) -> fd: `address` is a NUL and the name (ArgAddress);
// the fd is CLOEXEC, non-blocking and the caller's. EADDRINUSE when the name is bound already
// (by anyone in this network namespace).
Napi::Value SocketListenAbstract(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  bool abstract = false;
  int backlog = 0;
  if (!ArgAddress(info, 0, "address", &name, &abstract) ||
      !ArgInt(info, 1, "backlog", 1, 2147483647.0, &backlog)) {
    return env.Undefined();
  }
  if (!abstract) {
    return ThrowTypeError(env,
                          "The \"address\" argument must be an abstract address (a null "
                          "byte, then the name); paths are claimed with claimCreate");
  }
  Fd fd(NewStreamSocket());
  if (!fd) return ThrowErrno(env, errno, "socket");
  sockaddr_un addr;
  socklen_t len = MakeAbstractAddr(name, &addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return ThrowErrno(env, errno, "bind", "@" + name);
  }
  if (::listen(fd.get(), backlog) != 0) return ThrowErrno(env, errno, "listen", "@" + name);
  return Napi::Number::New(env, fd.release());
}

}  // namespace

void InitAbstract(Napi::Env env, Napi::Object exports) {
  exports.Set("socketListenAbstract",
              Napi::Function::New(env, SocketListenAbstract, "socketListenAbstract"));
}
#else
// The abstract namespace is Linux's own: elsewhere the export does not exist.
void InitAbstract(Napi::Env, Napi::Object) {}
#endif

}  // namespace plugsock
