// Each concern registers its own exports; addon.cc only calls these.
#pragma once
#include <napi.h>

namespace plugsock {
void InitSocket(Napi::Env env, Napi::Object exports);    // socket.cc
void InitPeercred(Napi::Env env, Napi::Object exports);  // peercred_linux.cc / peercred_darwin.cc
void InitFdpass(Napi::Env env, Napi::Object exports);    // fdpass.cc
void InitClaim(Napi::Env env, Napi::Object exports);     // claim.cc
}  // namespace plugsock
