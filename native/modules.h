// Export names say object, then verb (socketConnect, fdClose, claimRelease; socketIsHungUp for a
// yes/no question, the bare property for a read: peerCred, sourceHash; FdChannel is the class).
// The export table: each concern registers its own exports, each from the C++ function of the
// same name in PascalCase (SocketConnect); addon.cc only calls these. docs/ADDON-CONTRACT.md
// lists them.
#pragma once
#include <napi.h>

namespace plugsock {
void InitSocket(Napi::Env env, Napi::Object exports);    // socket.cc
void InitPeercred(Napi::Env env, Napi::Object exports);  // peercred_linux.cc / peercred_darwin.cc
void InitConnectionSetUp(Napi::Env env, Napi::Object exports);  // connection_setup.cc (Linux)
void InitFdChannel(Napi::Env env, Napi::Object exports);        // fd_channel.cc
void InitFdUtils(Napi::Env env, Napi::Object exports);          // fd_utils.cc
void InitClaim(Napi::Env env, Napi::Object exports);            // claim.cc (Linux; elsewhere empty)
void InitDirFd(Napi::Env env, Napi::Object exports);     // dir_fd.cc (Linux; elsewhere empty)
void InitAbstract(Napi::Env env, Napi::Object exports);  // abstract.cc (Linux; elsewhere empty)
void InitSystemd(Napi::Env env, Napi::Object exports);   // systemd.cc
}  // namespace plugsock
