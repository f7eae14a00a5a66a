// errno -> JavaScript Error shaped like Node's own system errors
// (code "ENOENT", errno -2, syscall "bind", path when one was involved).
#pragma once
#include <napi.h>

#include <string>

namespace plugsock {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& path = "");

// Throws the error as a pending JS exception (exceptions are disabled in C++) and returns
// undefined, so a binding can `return ThrowErrno(...)`.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path = "");

// For argument errors (wrong type, out of range): a TypeError with code ERR_INVALID_ARG_TYPE.
Napi::Value ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace plugsock
