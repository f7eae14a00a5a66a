// Argument checks shared by the bindings. Exceptions are off: false means a TypeError is
// pending and the binding should return at once.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstddef>
#include <string>

#include "errors.h"

namespace plugsock {

inline bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name, double min,
                   double max, int* out) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be a number");
    return false;
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || std::trunc(v) != v || v < min || v > max) {
    ThrowTypeError(info.Env(), std::string("The \"") + name +
                                   "\" argument must be an integer in [" +
                                   std::to_string(static_cast<long long>(min)) + ", " +
                                   std::to_string(static_cast<long long>(max)) + "]");
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

// A NUL inside a JS string would silently shorten the path the kernel sees.
inline bool ArgPath(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out) {
  if (info.Length() <= i || !info[i].IsString()) {
    ThrowTypeError(info.Env(), std::string("The \"") + name + "\" argument must be a string");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  // An empty dir would turn "dir/name" into "/name"; an empty path means an abstract address.
  if (out->empty() || out->find('\0') != std::string::npos) {
    ThrowTypeError(info.Env(), std::string("The \"") + name +
                                   "\" argument must be a non-empty string without null bytes");
    return false;
  }
  return true;
}

// A socket address: a path (ArgPath's rules), or, when the string starts with a NUL, an abstract
// name (Linux): the bytes after that NUL, 1 to 107 of them (sun_path less the NUL), none of them
// NUL. *abstract says which; *out is the path, or the name without its NUL.
inline bool ArgAddress(const Napi::CallbackInfo& info, size_t i, const char* name, std::string* out,
                       bool* abstract) {
  *abstract = false;
  if (info.Length() <= i || !info[i].IsString()) return ArgPath(info, i, name, out);
  *out = info[i].As<Napi::String>().Utf8Value();
  if (out->empty() || (*out)[0] != '\0') return ArgPath(info, i, name, out);
  *abstract = true;
  out->erase(0, 1);
  if (out->empty() || out->size() > 107 || out->find('\0') != std::string::npos) {
    ThrowTypeError(info.Env(), std::string("The \"") + name +
                                   "\" argument, an abstract address, must be a null byte and "
                                   "then 1 to 107 bytes without null bytes");
    return false;
  }
  return true;
}

// A file descriptor in the first argument.
inline bool ArgFd(const Napi::CallbackInfo& info, const char* name, int* out) {
  double v =
      info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!std::isfinite(v) || std::trunc(v) != v || v < 0 || v > 2147483647.0) {
    ThrowTypeError(info.Env(), std::string("The \"") + name +
                                   "\" argument must be a non-negative integer file descriptor");
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

}  // namespace plugsock
